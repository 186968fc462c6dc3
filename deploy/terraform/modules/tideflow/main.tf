# Installs the Tideflow chart into an existing cluster. Connection strings go into a
# Kubernetes Secret that the chart references (existingSecret), so they never appear in the
# Helm release's stored values.

locals {
  chart_path = coalesce(var.chart_path, "${path.module}/../../../helm/tideflow")
  namespace  = var.create_namespace ? kubernetes_namespace_v1.this[0].metadata[0].name : var.namespace
  secret     = "${var.release_name}-connections"
  # The chart's object name prefix (its "tideflow.fullname").
  fullname = strcontains(var.release_name, "tideflow") ? var.release_name : "${var.release_name}-tideflow"

  connection_data = merge(
    {
      "database-url"  = var.database_url
      "redis-url"     = var.redis_url
      "migration-url" = coalesce(var.migration_database_url, var.database_url)
    },
    var.admin_token == "" ? {} : { "admin-token" = var.admin_token },
  )

  # Values of deploy/helm/tideflow; tests/deploy/test_terraform.py checks every key against
  # the chart's values.schema.json.
  chart_values = {
    image = {
      registry = var.image_registry
      tag      = var.image_tag
    }
    kafka = {
      bootstrap         = var.kafka_bootstrap
      partitions        = var.kafka_partitions
      replicationFactor = var.kafka_replication_factor
    }
    database = {
      existingSecret    = local.secret
      existingSecretKey = "database-url"
    }
    redis = {
      existingSecret    = local.secret
      existingSecretKey = "redis-url"
    }
    migrations = {
      existingSecret    = local.secret
      existingSecretKey = "migration-url"
    }
    keys = {
      kmsKeyId  = var.kms_key_id == null ? "" : var.kms_key_id
      kmsRegion = var.kms_region
    }
    serviceAccount = {
      annotations = var.service_account_annotations
    }
    metrics = {
      serviceMonitor = { enabled = var.service_monitor }
      prometheusRule = { enabled = var.service_monitor }
    }
  }

  # The admin token only when there is one (the chart would otherwise reference a missing key).
  auth_values = {
    for key, value in {
      auth = { existingSecret = local.secret, existingSecretKey = "admin-token" }
    } : key => value if var.admin_token != ""
  }
}

resource "kubernetes_namespace_v1" "this" {
  count = var.create_namespace ? 1 : 0

  metadata {
    name = var.namespace
    labels = {
      "app.kubernetes.io/part-of" = "tideflow"
    }
  }
}

resource "kubernetes_secret_v1" "connections" {
  metadata {
    name      = local.secret
    namespace = local.namespace
    labels = {
      "app.kubernetes.io/part-of"    = "tideflow"
      "app.kubernetes.io/managed-by" = "terraform"
    }
  }

  data = local.connection_data
}

resource "helm_release" "tideflow" {
  name      = var.release_name
  namespace = local.namespace
  chart     = local.chart_path

  # The migration Job is a pre-install/pre-upgrade hook; wait for it and for the rollout,
  # and roll back a failed upgrade.
  wait            = true
  atomic          = true
  timeout         = var.timeout
  cleanup_on_fail = true

  values = [
    yamlencode(local.chart_values),
    yamlencode(local.auth_values),
    yamlencode(var.values),
  ]

  depends_on = [kubernetes_secret_v1.connections]
}

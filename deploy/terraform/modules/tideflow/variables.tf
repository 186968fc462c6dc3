variable "release_name" {
  description = "Helm release name; object names start with it."
  type        = string
  default     = "tideflow"
}

variable "namespace" {
  description = "Namespace to install into."
  type        = string
  default     = "tideflow"
}

variable "create_namespace" {
  description = "Create the namespace (false: it exists already)."
  type        = bool
  default     = true
}

variable "chart_path" {
  description = "The chart to install; default: deploy/helm/tideflow of this repository."
  type        = string
  default     = null
}

variable "image_registry" {
  description = "Registry of the Tideflow images (empty: Docker Hub names tideflow/<service>)."
  type        = string
  default     = ""
}

variable "image_tag" {
  description = "Tag of the Tideflow images (empty: the chart's appVersion)."
  type        = string
  default     = ""
}

variable "kafka_bootstrap" {
  description = "Kafka brokers, comma-separated host:port."
  type        = string

  validation {
    condition     = can(regex("^[^,\\s]+:[0-9]+(,[^,\\s]+:[0-9]+)*$", var.kafka_bootstrap))
    error_message = "kafka_bootstrap must be a comma-separated host:port list."
  }
}

variable "kafka_replication_factor" {
  description = "Replicas of each topic Tideflow creates (at most the number of brokers)."
  type        = number
  default     = 3
}

variable "kafka_partitions" {
  description = "Partitions of each topic Tideflow creates."
  type        = number
  default     = 8
}

variable "database_url" {
  description = "libpq URL of the Tideflow database (stored in a Kubernetes Secret, never in Helm values)."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^postgres(ql)?://", var.database_url))
    error_message = "database_url must be a postgresql:// URL."
  }
}

variable "migration_database_url" {
  description = "URL of a role that may change the schema, for the migration hook; null: database_url."
  type        = string
  default     = null
  sensitive   = true
}

variable "redis_url" {
  description = "Redis URL (redis:// or rediss://)."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^rediss?://", var.redis_url))
    error_message = "redis_url must be a redis:// or rediss:// URL."
  }
}

variable "admin_token" {
  description = "Bearer token with the admin role in the default tenant; empty: none."
  type        = string
  default     = ""
  sensitive   = true
}

variable "kms_key_id" {
  description = "AWS KMS key (id, ARN or alias) that seals secrets; null: a key file the chart generates."
  type        = string
  default     = null
}

variable "kms_region" {
  description = "AWS region of the KMS key."
  type        = string
  default     = "us-east-1"
}

variable "service_account_annotations" {
  description = "Annotations of the services' ServiceAccount, e.g. eks.amazonaws.com/role-arn for IRSA."
  type        = map(string)
  default     = {}
}

variable "service_monitor" {
  description = "Render a ServiceMonitor and the PrometheusRule (needs the Prometheus Operator CRDs)."
  type        = bool
  default     = false
}

variable "values" {
  description = "More chart values (deploy/helm/tideflow/values.yaml), merged over what this module sets."
  type        = any
  default     = {}
}

variable "timeout" {
  description = "Seconds Helm waits for the migration hook and the rollout."
  type        = number
  default     = 900
}

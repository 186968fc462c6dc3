# Amazon MSK for Tideflow's topics (tideflow.runs, tideflow.tasks.<queue>, tideflow.events).
# Tideflow's Kafka client connects without TLS or SASL today (TIDEFLOW_KAFKA_* has no
# security settings), so clients use the plaintext listener inside the VPC, limited to the
# client security groups; traffic between brokers is encrypted.

# Its security group: only the client security groups may connect, on port 9092.
module "clients" {
  source = "../aws-client-access"

  network     = var.network
  service     = "msk"
  description = "Tideflow MSK brokers"
  port        = 9092
  protocol    = "Kafka plaintext"
}

# The group and its rules were this module's own resources before; keep them in place.
moved {
  from = aws_security_group.this
  to   = module.clients.aws_security_group.this
}

moved {
  from = aws_vpc_security_group_ingress_rule.clients
  to   = module.clients.aws_vpc_security_group_ingress_rule.clients
}

resource "aws_msk_configuration" "this" {
  name           = "${var.network.name}-tideflow"
  kafka_versions = [var.kafka_version]
  # Tideflow creates its topics itself (TIDEFLOW_KAFKA_PARTITIONS, _REPLICATION_FACTOR).
  server_properties = <<-EOT
    auto.create.topics.enable=false
    default.replication.factor=${min(3, var.broker_count)}
    min.insync.replicas=${min(2, var.broker_count)}
    num.partitions=${var.partitions}
    unclean.leader.election.enable=false
  EOT
}

resource "aws_msk_cluster" "this" {
  cluster_name           = "${var.network.name}-tideflow"
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.broker_count
  tags                   = var.network.tags

  broker_node_group_info {
    instance_type   = var.instance_type
    client_subnets  = var.network.subnet_ids
    security_groups = [module.clients.security_group_id]
    storage_info {
      ebs_storage_info {
        volume_size = var.volume_size
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  client_authentication {
    unauthenticated = true
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = var.network.kms_key_arn
    encryption_in_transit {
      client_broker = "TLS_PLAINTEXT"
      in_cluster    = true
    }
  }
}

# Amazon MSK for Tideflow's topics (tideflow.runs, tideflow.tasks.<queue>, tideflow.events).
# Tideflow's Kafka client connects without TLS or SASL today (TIDEFLOW_KAFKA_* has no
# security settings), so clients use the plaintext listener inside the VPC, limited to the
# client security groups; traffic between brokers is encrypted.

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-msk-"
  description = "Tideflow MSK brokers"
  vpc_id      = var.vpc_id
  tags        = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each                     = toset(var.client_security_group_ids)
  security_group_id            = aws_security_group.this.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 9092
  to_port                      = 9092
  description                  = "Kafka plaintext from Tideflow"
}

resource "aws_msk_configuration" "this" {
  name           = "${var.name}-tideflow"
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
  cluster_name           = "${var.name}-tideflow"
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.broker_count
  tags                   = var.tags

  broker_node_group_info {
    instance_type   = var.instance_type
    client_subnets  = var.subnet_ids
    security_groups = [aws_security_group.this.id]
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
    encryption_at_rest_kms_key_arn = var.kms_key_arn
    encryption_in_transit {
      client_broker = "TLS_PLAINTEXT"
      in_cluster    = true
    }
  }
}

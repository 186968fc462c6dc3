# ElastiCache (Redis OSS) for the gateway's shared rate limits: one shard, a replica with
# automatic failover, TLS and an auth token. Redis is never Tideflow's source of truth.

resource "random_password" "auth" {
  length  = 48
  special = false # part of a URL
}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-redis-"
  description = "Tideflow Redis"
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
  from_port                    = 6379
  to_port                      = 6379
  description                  = "Redis from Tideflow"
}

resource "aws_elasticache_subnet_group" "this" {
  name       = "${var.name}-tideflow"
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id       = "${var.name}-tideflow"
  description                = "Tideflow ${var.name}: rate limits"
  engine                     = "redis"
  engine_version             = var.engine_version
  node_type                  = var.node_type
  num_cache_clusters         = 1 + var.replicas
  automatic_failover_enabled = var.replicas > 0
  multi_az_enabled           = var.replicas > 0
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [aws_security_group.this.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  auth_token                 = random_password.auth.result
  apply_immediately          = false
  tags                       = var.tags
}

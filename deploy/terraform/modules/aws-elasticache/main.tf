# ElastiCache (Redis OSS) for the gateway's shared rate limits: one shard, a replica with
# automatic failover, TLS and an auth token. Redis is never Tideflow's source of truth.

resource "random_password" "auth" {
  length  = 48
  special = false # part of a URL
}

# Its security group: only the client security groups may connect, on port 6379.
module "clients" {
  source = "../aws-client-access"

  network     = var.network
  service     = "redis"
  description = "Tideflow Redis"
  port        = 6379
  protocol    = "Redis"
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

resource "aws_elasticache_subnet_group" "this" {
  name       = "${var.network.name}-tideflow"
  subnet_ids = var.network.subnet_ids
  tags       = var.network.tags
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id       = "${var.network.name}-tideflow"
  description                = "Tideflow ${var.network.name}: rate limits"
  engine                     = "redis"
  engine_version             = var.engine_version
  node_type                  = var.node_type
  num_cache_clusters         = 1 + var.replicas
  automatic_failover_enabled = var.replicas > 0
  multi_az_enabled           = var.replicas > 0
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [module.clients.security_group_id]
  at_rest_encryption_enabled = true
  kms_key_id                 = var.network.kms_key_arn
  transit_encryption_enabled = true
  auth_token                 = random_password.auth.result
  apply_immediately          = false
  tags                       = var.network.tags
}

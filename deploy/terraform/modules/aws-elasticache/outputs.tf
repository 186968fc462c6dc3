output "redis_url" {
  description = "rediss:// URL with the auth token; what Tideflow's redis.url takes."
  value       = "rediss://:${random_password.auth.result}@${aws_elasticache_replication_group.this.primary_endpoint_address}:6379/0"
  sensitive   = true
}

output "security_group_id" {
  description = "Security group of the cache."
  value       = module.clients.security_group_id
}

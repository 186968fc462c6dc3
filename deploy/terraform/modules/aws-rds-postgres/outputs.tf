output "database_url" {
  description = "libpq URL of the database, TLS required; what Tideflow's database.url takes."
  value       = "postgresql://${aws_db_instance.this.username}:${urlencode(random_password.master.result)}@${aws_db_instance.this.address}:${aws_db_instance.this.port}/${aws_db_instance.this.db_name}?sslmode=require"
  sensitive   = true
}

output "address" {
  description = "Host name of the server."
  value       = aws_db_instance.this.address
}

output "security_group_id" {
  description = "Security group of the server."
  value       = module.clients.security_group_id
}

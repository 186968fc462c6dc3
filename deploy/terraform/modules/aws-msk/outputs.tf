output "bootstrap_brokers" {
  description = "Plaintext bootstrap brokers, what Tideflow's kafka.bootstrap takes."
  value       = aws_msk_cluster.this.bootstrap_brokers
}

output "broker_count" {
  description = "Number of brokers (the upper bound of the topics' replication factor)."
  value       = var.broker_count
}

output "security_group_id" {
  description = "Security group of the brokers."
  value       = module.clients.security_group_id
}

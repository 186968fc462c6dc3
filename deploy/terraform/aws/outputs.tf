output "namespace" {
  description = "Namespace Tideflow runs in."
  value       = module.tideflow.namespace
}

output "gateway_service" {
  description = "In-cluster address of the gateway (API and web UI)."
  value       = module.tideflow.gateway_service
}

output "kafka_bootstrap" {
  description = "Kafka brokers Tideflow uses."
  value       = local.kafka
}

output "documents_bucket" {
  description = "The documents bucket (null when not created)."
  value       = var.create_s3 ? module.documents[0].bucket : null
}

output "kms_key_id" {
  description = "The KMS key that seals secrets (null when not created)."
  value       = var.create_kms ? module.kms[0].key_id : null
}

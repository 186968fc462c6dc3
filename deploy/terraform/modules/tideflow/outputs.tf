output "namespace" {
  description = "Namespace Tideflow runs in."
  value       = local.namespace
}

output "release_name" {
  description = "Name of the Helm release."
  value       = helm_release.tideflow.name
}

output "gateway_service" {
  description = "In-cluster address of the gateway (API and web UI)."
  value       = "http://${local.fullname}-gateway.${local.namespace}.svc"
}

output "connections_secret" {
  description = "The Secret holding the database URL, Redis URL and admin token."
  value       = kubernetes_secret_v1.connections.metadata[0].name
}

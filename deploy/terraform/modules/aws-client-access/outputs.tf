output "security_group_id" {
  description = "The service's security group (attach it to the service)."
  value       = aws_security_group.this.id
}

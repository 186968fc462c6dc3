output "key_arn" {
  description = "ARN of the key (for encryption at rest of the other modules)."
  value       = aws_kms_key.this.arn
}

output "key_id" {
  description = "What Tideflow's keys.kmsKeyId takes: the alias."
  value       = aws_kms_alias.this.name
}

output "use_policy_json" {
  description = "IAM policy that lets the Tideflow pods wrap and unwrap data keys."
  value       = data.aws_iam_policy_document.use.json
}

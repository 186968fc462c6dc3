output "bucket" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "use_policy_json" {
  description = "IAM policy that lets the Tideflow pods read and write documents."
  value       = data.aws_iam_policy_document.use.json
}

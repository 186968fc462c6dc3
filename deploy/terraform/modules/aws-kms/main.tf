# The key-encryption key of Tideflow's envelope encryption: integration secrets and JWT
# signing keys are sealed with AES-256-GCM data keys that this KMS key wraps
# (TIDEFLOW_SECURITY_KMS_KEY_ID). Also encrypts the MSK, RDS, ElastiCache and S3 data at rest.

resource "aws_kms_key" "this" {
  description             = "Tideflow ${var.name}: wraps data keys of sealed secrets"
  deletion_window_in_days = var.deletion_window_in_days
  enable_key_rotation     = true
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

# What the Tideflow pods may do with the key (attach to their IRSA role).
data "aws_iam_policy_document" "use" {
  statement {
    sid       = "TideflowEnvelopeEncryption"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.this.arn]
  }
}

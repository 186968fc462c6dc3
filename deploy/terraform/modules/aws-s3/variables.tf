variable "bucket_name" {
  description = "Name of the documents bucket (globally unique)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the objects; null: S3-managed keys."
  type        = string
  default     = null
}

variable "expire_after_days" {
  description = "Delete objects this many days after upload; 0: keep them."
  type        = number
  default     = 0
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}

variable "name" {
  description = "Name of the deployment; prefixes every resource."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (one per availability zone) to place it in."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect (the EKS nodes or pods)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the data at rest; null: the AWS-managed key."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}

variable "engine_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "DB instance class."
  type        = string
  default     = "db.m7g.large"
}

variable "allocated_storage" {
  description = "Storage, GiB (grows automatically up to max_allocated_storage)."
  type        = number
  default     = 100
}

variable "max_allocated_storage" {
  description = "Upper bound of storage autoscaling, GiB."
  type        = number
  default     = 1000
}

variable "multi_az" {
  description = "A standby in another availability zone."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery)."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Refuse to delete the database."
  type        = bool
  default     = true
}

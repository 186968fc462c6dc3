variable "network" {
  description = "Where it runs and who may connect: the deployment name (prefixes every resource), the VPC, private subnets (one per availability zone), the client security groups (the EKS nodes or pods), the KMS key for data at rest (null: the AWS-managed key) and tags."
  type = object({
    name                      = string
    vpc_id                    = string
    subnet_ids                = list(string)
    client_security_group_ids = list(string)
    kms_key_arn               = optional(string)
    tags                      = optional(map(string), {})
  })
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

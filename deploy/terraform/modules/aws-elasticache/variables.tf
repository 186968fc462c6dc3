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
  description = "Redis OSS version."
  type        = string
  default     = "7.1"
}

variable "node_type" {
  description = "Cache node type."
  type        = string
  default     = "cache.m7g.large"
}

variable "replicas" {
  description = "Read replicas beside the primary (automatic failover needs at least 1)."
  type        = number
  default     = 1
}

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

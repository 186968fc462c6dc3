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

variable "service" {
  description = "Short name of the service (msk, postgres, redis), in the group's name."
  type        = string
}

variable "description" {
  description = "Description of the security group."
  type        = string
}

variable "port" {
  description = "The one TCP port clients connect to."
  type        = number
}

variable "protocol" {
  description = "What is spoken on the port, for the rule's description (Kafka plaintext, Postgres, Redis)."
  type        = string
}

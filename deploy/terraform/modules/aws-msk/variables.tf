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

variable "kafka_version" {
  description = "Apache Kafka version of the cluster."
  type        = string
  default     = "3.8.x"
}

variable "broker_count" {
  description = "Brokers (a multiple of the number of subnets)."
  type        = number
  default     = 3
}

variable "instance_type" {
  description = "Broker instance type."
  type        = string
  default     = "kafka.m7g.large"
}

variable "volume_size" {
  description = "EBS storage per broker, GiB."
  type        = number
  default     = 100
}

variable "partitions" {
  description = "Default partitions of topics created without a count."
  type        = number
  default     = 8
}

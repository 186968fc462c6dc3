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

variable "region" {
  description = "AWS region of the cluster."
  type        = string
}

variable "cluster_name" {
  description = "The existing EKS cluster to install Tideflow into."
  type        = string
}

variable "name" {
  description = "Name of this deployment; prefixes the AWS resources."
  type        = string
  default     = "tideflow"
}

variable "subnet_ids" {
  description = "Private subnets for MSK, RDS and ElastiCache; null: the cluster's subnets."
  type        = list(string)
  default     = null
}

variable "client_security_group_ids" {
  description = "Security groups that may reach Kafka, Postgres, Redis; null: the cluster security group."
  type        = list(string)
  default     = null
}

variable "create_kms" {
  description = "Create a KMS key for envelope encryption and encryption at rest."
  type        = bool
  default     = true
}

variable "create_msk" {
  description = "Create an MSK cluster (false: give kafka_bootstrap)."
  type        = bool
  default     = true
}

variable "create_rds" {
  description = "Create an RDS PostgreSQL instance (false: give database_url)."
  type        = bool
  default     = true
}

variable "create_elasticache" {
  description = "Create an ElastiCache Redis group (false: give redis_url)."
  type        = bool
  default     = true
}

variable "create_s3" {
  description = "Create a documents bucket."
  type        = bool
  default     = true
}

variable "allow_textract" {
  description = "Let the services' IAM role call Textract (the ocr node)."
  type        = bool
  default     = true
}

variable "documents_bucket_name" {
  description = "Name of the documents bucket; null: <name>-documents-<account id>."
  type        = string
  default     = null
}

variable "kafka_bootstrap" {
  description = "Existing Kafka brokers, used when create_msk is false."
  type        = string
  default     = ""
}

variable "kafka_replication_factor" {
  description = "Replicas of the topics Tideflow creates when create_msk is false (with MSK: min(3, brokers))."
  type        = number
  default     = 3
}

variable "database_url" {
  description = "Existing Postgres URL, used when create_rds is false."
  type        = string
  default     = ""
  sensitive   = true
}

variable "redis_url" {
  description = "Existing Redis URL, used when create_elasticache is false."
  type        = string
  default     = ""
  sensitive   = true
}

variable "admin_token" {
  description = "Bearer token with the admin role; empty: none."
  type        = string
  default     = ""
  sensitive   = true
}

variable "namespace" {
  description = "Namespace to install Tideflow into."
  type        = string
  default     = "tideflow"
}

variable "image_registry" {
  description = "Registry of the Tideflow images (e.g. an ECR registry)."
  type        = string
  default     = ""
}

variable "image_tag" {
  description = "Tag of the Tideflow images; empty: the chart's appVersion."
  type        = string
  default     = ""
}

variable "chart_values" {
  description = "More values of the chart, merged over what this configuration sets."
  type        = any
  default     = {}
}

variable "tags" {
  description = "Tags of every AWS resource."
  type        = map(string)
  default     = {}
}

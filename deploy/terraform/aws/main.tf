# Tideflow on an existing EKS cluster, with the AWS services it needs created next to it
# (each optional: turn one off and pass the address of an existing one instead). The
# outputs of each module become values of the chart: MSK brokers -> kafka.bootstrap,
# RDS -> database URL, ElastiCache -> redis URL, KMS -> keys.kmsKeyId, and an IRSA role
# with the KMS and S3 permissions -> the services' ServiceAccount.

data "aws_caller_identity" "current" {}

locals {
  subnet_ids    = var.subnet_ids != null ? var.subnet_ids : tolist(data.aws_eks_cluster.this.vpc_config[0].subnet_ids)
  client_sg_ids = var.client_security_group_ids != null ? var.client_security_group_ids : [data.aws_eks_cluster.this.vpc_config[0].cluster_security_group_id]
  vpc_id        = data.aws_eks_cluster.this.vpc_config[0].vpc_id
  oidc_issuer   = trimprefix(data.aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://")
  bucket_name   = coalesce(var.documents_bucket_name, "${var.name}-documents-${data.aws_caller_identity.current.account_id}")
  kms_key_arn   = var.create_kms ? module.kms[0].key_arn : null
  kafka         = var.create_msk ? module.msk[0].bootstrap_brokers : var.kafka_bootstrap
  replication   = var.create_msk ? min(3, module.msk[0].broker_count) : var.kafka_replication_factor
  database_url  = var.create_rds ? module.postgres[0].database_url : var.database_url
  redis_url     = var.create_elasticache ? module.redis[0].redis_url : var.redis_url
  iam_policies = concat(
    var.create_kms ? [module.kms[0].use_policy_json] : [],
    var.create_s3 ? [module.documents[0].use_policy_json] : [],
    var.allow_textract ? [data.aws_iam_policy_document.textract.json] : [],
  )
  # Where MSK, RDS and ElastiCache run and who may reach them: the same for each, passed
  # whole (their three calls cannot be one for_each: a module's source must be a literal).
  network = {
    name                      = var.name
    vpc_id                    = local.vpc_id
    subnet_ids                = local.subnet_ids
    client_security_group_ids = local.client_sg_ids
    kms_key_arn               = local.kms_key_arn
    tags                      = var.tags
  }
  release_name   = "tideflow"
  serviceaccount = local.release_name # the chart's fullname for release "tideflow"
}

module "kms" {
  source = "../modules/aws-kms"
  count  = var.create_kms ? 1 : 0

  name = var.name
  tags = var.tags
}

module "msk" {
  source  = "../modules/aws-msk"
  count   = var.create_msk ? 1 : 0
  network = local.network
}

module "postgres" {
  source  = "../modules/aws-rds-postgres"
  count   = var.create_rds ? 1 : 0
  network = local.network
}

module "redis" {
  source  = "../modules/aws-elasticache"
  count   = var.create_elasticache ? 1 : 0
  network = local.network
}

module "documents" {
  source = "../modules/aws-s3"
  count  = var.create_s3 ? 1 : 0

  bucket_name = local.bucket_name
  kms_key_arn = local.kms_key_arn
  tags        = var.tags
}

# The `ocr` node calls Textract from the executor (sync for images and pages, async jobs
# for multi-page PDFs in S3); Textract has no resource-level permissions.
data "aws_iam_policy_document" "textract" {
  statement {
    sid = "TideflowOcr"
    actions = [
      "textract:DetectDocumentText",
      "textract:AnalyzeDocument",
      "textract:StartDocumentTextDetection",
      "textract:GetDocumentTextDetection",
      "textract:StartDocumentAnalysis",
      "textract:GetDocumentAnalysis",
    ]
    resources = ["*"]
  }
}

# IRSA: the services' ServiceAccount assumes this role (KMS for sealed secrets, S3 for
# documents, Textract for the ocr node).
data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:oidc-provider/${local.oidc_issuer}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${local.serviceaccount}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "tideflow" {
  count              = length(local.iam_policies) > 0 ? 1 : 0
  name_prefix        = "${var.name}-tideflow-"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "tideflow" {
  count       = length(local.iam_policies)
  name_prefix = "tideflow-"
  role        = aws_iam_role.tideflow[0].id
  policy      = local.iam_policies[count.index]
}

module "tideflow" {
  source = "../modules/tideflow"

  release_name             = local.release_name
  namespace                = var.namespace
  image_registry           = var.image_registry
  image_tag                = var.image_tag
  kafka_bootstrap          = local.kafka
  kafka_replication_factor = local.replication
  database_url             = local.database_url
  redis_url                = local.redis_url
  admin_token              = var.admin_token
  kms_key_id               = var.create_kms ? module.kms[0].key_id : null
  kms_region               = var.region
  service_account_annotations = length(local.iam_policies) > 0 ? {
    "eks.amazonaws.com/role-arn" = aws_iam_role.tideflow[0].arn
  } : {}
  values = var.chart_values

  depends_on = [aws_iam_role_policy.tideflow]
}

# RDS PostgreSQL for Tideflow's event log and projections. `tide db migrate` (the chart's
# hook) creates the schema and the application role; this creates the server, the
# database and its owner.

resource "random_password" "master" {
  length  = 40
  special = false # part of a URL
}

# Its security group: only the client security groups may connect, on port 5432.
module "clients" {
  source = "../aws-client-access"

  network     = var.network
  service     = "postgres"
  description = "Tideflow Postgres"
  port        = 5432
  protocol    = "Postgres"
}

# The group and its rules were this module's own resources before; keep them in place.
moved {
  from = aws_security_group.this
  to   = module.clients.aws_security_group.this
}

moved {
  from = aws_vpc_security_group_ingress_rule.clients
  to   = module.clients.aws_vpc_security_group_ingress_rule.clients
}

resource "aws_db_subnet_group" "this" {
  name_prefix = "${var.network.name}-tideflow-"
  subnet_ids  = var.network.subnet_ids
  tags        = var.network.tags
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.network.name}-tideflow-"
  family      = "postgres${var.engine_version}"
  tags        = var.network.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "this" {
  identifier_prefix            = "${var.network.name}-tideflow-"
  engine                       = "postgres"
  engine_version               = var.engine_version
  instance_class               = var.instance_class
  allocated_storage            = var.allocated_storage
  max_allocated_storage        = var.max_allocated_storage
  storage_type                 = "gp3"
  storage_encrypted            = true
  kms_key_id                   = var.network.kms_key_arn
  db_name                      = "tideflow"
  username                     = "tideflow"
  password                     = random_password.master.result
  port                         = 5432
  multi_az                     = var.multi_az
  db_subnet_group_name         = aws_db_subnet_group.this.name
  parameter_group_name         = aws_db_parameter_group.this.name
  vpc_security_group_ids       = [module.clients.security_group_id]
  publicly_accessible          = false
  backup_retention_period      = var.backup_retention_days
  deletion_protection          = var.deletion_protection
  skip_final_snapshot          = false
  final_snapshot_identifier    = "${var.network.name}-tideflow-final"
  performance_insights_enabled = true
  auto_minor_version_upgrade   = true
  apply_immediately            = false
  tags                         = var.network.tags
}

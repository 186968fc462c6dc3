# RDS PostgreSQL for Tideflow's event log and projections. `tide db migrate` (the chart's
# hook) creates the schema and the application role; this creates the server, the
# database and its owner.

resource "random_password" "master" {
  length  = 40
  special = false # part of a URL
}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-postgres-"
  description = "Tideflow Postgres"
  vpc_id      = var.vpc_id
  tags        = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each                     = toset(var.client_security_group_ids)
  security_group_id            = aws_security_group.this.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  description                  = "Postgres from Tideflow"
}

resource "aws_db_subnet_group" "this" {
  name_prefix = "${var.name}-tideflow-"
  subnet_ids  = var.subnet_ids
  tags        = var.tags
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-tideflow-"
  family      = "postgres${var.engine_version}"
  tags        = var.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "this" {
  identifier_prefix            = "${var.name}-tideflow-"
  engine                       = "postgres"
  engine_version               = var.engine_version
  instance_class               = var.instance_class
  allocated_storage            = var.allocated_storage
  max_allocated_storage        = var.max_allocated_storage
  storage_type                 = "gp3"
  storage_encrypted            = true
  kms_key_id                   = var.kms_key_arn
  db_name                      = "tideflow"
  username                     = "tideflow"
  password                     = random_password.master.result
  port                         = 5432
  multi_az                     = var.multi_az
  db_subnet_group_name         = aws_db_subnet_group.this.name
  parameter_group_name         = aws_db_parameter_group.this.name
  vpc_security_group_ids       = [aws_security_group.this.id]
  publicly_accessible          = false
  backup_retention_period      = var.backup_retention_days
  deletion_protection          = var.deletion_protection
  skip_final_snapshot          = false
  final_snapshot_identifier    = "${var.name}-tideflow-final"
  performance_insights_enabled = true
  auto_minor_version_upgrade   = true
  apply_immediately            = false
  tags                         = var.tags
}

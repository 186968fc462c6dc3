# The security group of one data service (MSK, RDS, ElastiCache) and its ingress rules:
# only the client security groups (the EKS nodes or pods) may connect, on its one port.
# Each data module calls this once, so the rule lives in one place.

resource "aws_security_group" "this" {
  name_prefix = "${var.network.name}-${var.service}-"
  description = var.description
  vpc_id      = var.network.vpc_id
  tags        = var.network.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each                     = toset(var.network.client_security_group_ids)
  security_group_id            = aws_security_group.this.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = var.port
  to_port                      = var.port
  description                  = "${var.protocol} from Tideflow"
}

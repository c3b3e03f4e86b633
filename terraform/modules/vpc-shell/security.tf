# Load balancer security groups: clients in, ingress instances out.
resource "aws_security_group" "lb" {
  for_each = local.load_balancers

  name        = "${var.name}-${each.key}-lb"
  description = "${each.key} load balancer of ${var.name}"
  vpc_id      = aws_vpc.this.id

  tags = merge(local.common_tags, { Name = "${var.name}-${each.key}-lb" })
}

resource "aws_vpc_security_group_ingress_rule" "lb_listener" {
  for_each = local.lb_listener_rules

  security_group_id = aws_security_group.lb[each.value.lb].id
  description       = "Clients to the ${each.value.lb} listener on ${each.value.port}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

resource "aws_vpc_security_group_egress_rule" "lb_to_ingress" {
  for_each = local.lb_target_rules

  security_group_id            = aws_security_group.lb[each.value.lb].id
  description                  = "${each.value.lb} load balancer to ingress instances on ${each.value.port}"
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = aws_security_group.ingress.id
}

# Attached by every cluster (A and B) to its ingress instances, so that both
# load balancers can reach whichever cluster they currently point at.
resource "aws_security_group" "ingress" {
  name        = "${var.name}-ingress"
  description = "Ingress instances of any cluster, reachable from the live and pre-live load balancers"
  vpc_id      = aws_vpc.this.id

  tags = merge(local.common_tags, { Name = "${var.name}-ingress" })
}

resource "aws_vpc_security_group_ingress_rule" "ingress_from_lb" {
  for_each = local.lb_target_rules

  security_group_id            = aws_security_group.ingress.id
  description                  = "From the ${each.value.lb} load balancer on ${each.value.port}"
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = aws_security_group.lb[each.value.lb].id
}

resource "aws_security_group" "bastion" {
  name        = "${var.name}-bastion"
  description = "Bastion of ${var.name}"
  vpc_id      = aws_vpc.this.id

  tags = merge(local.common_tags, { Name = "${var.name}-bastion" })
}

resource "aws_vpc_security_group_ingress_rule" "bastion_ssh" {
  for_each = toset(var.bastion_ssh_cidrs)

  security_group_id = aws_security_group.bastion.id
  description       = "SSH from ${each.key}"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = each.key
}

resource "aws_vpc_security_group_egress_rule" "bastion_all" {
  security_group_id = aws_security_group.bastion.id
  description       = "Bastion to anywhere (clusters, package mirrors, SSM)"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

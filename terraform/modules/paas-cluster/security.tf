# Nodes of this cluster talk to each other freely, and to nothing of the other
# cluster: A and B share the VPC but not a security group.
resource "aws_security_group" "nodes" {
  name        = "${var.cluster_name}-nodes"
  description = "All nodes of ${var.cluster_name}"
  vpc_id      = var.vpc_id

  tags = merge(local.common_tags, { Name = "${var.cluster_name}-nodes" })
}

resource "aws_vpc_security_group_ingress_rule" "nodes_self" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "Node to node within ${var.cluster_name}"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.nodes.id
}

resource "aws_vpc_security_group_ingress_rule" "nodes_ssh_from_bastion" {
  security_group_id            = aws_security_group.nodes.id
  description                  = "SSH from the bastion"
  ip_protocol                  = "tcp"
  from_port                    = 22
  to_port                      = 22
  referenced_security_group_id = var.bastion_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "nodes_all" {
  security_group_id = aws_security_group.nodes.id
  description       = "Nodes to anywhere (through the NAT gateways)"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_security_group" "api" {
  name        = "${var.cluster_name}-api"
  description = "Kubernetes API of ${var.cluster_name}"
  vpc_id      = var.vpc_id

  tags = merge(local.common_tags, { Name = "${var.cluster_name}-api" })
}

# The API load balancer is a network load balancer that keeps client
# addresses, so the masters see callers from anywhere in the VPC.
resource "aws_vpc_security_group_ingress_rule" "api_from_vpc" {
  security_group_id = aws_security_group.api.id
  description       = "Kubernetes API from the VPC (bastion, operators, abshift migrate)"
  ip_protocol       = "tcp"
  from_port         = 6443
  to_port           = 6443
  cidr_ipv4         = var.vpc_cidr
}

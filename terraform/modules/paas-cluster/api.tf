# Internal network load balancer in front of the control plane, and its name
# in the shell's zone: api.<cluster_name>.<zone>.
resource "aws_lb" "api" {
  name               = "${var.cluster_name}-api"
  load_balancer_type = "network"
  internal           = true
  subnets            = var.private_subnet_ids

  enable_cross_zone_load_balancing = true

  tags = merge(local.common_tags, { Name = "${var.cluster_name}-api" })
}

resource "aws_lb_target_group" "api" {
  name        = "${var.cluster_name}-api"
  vpc_id      = var.vpc_id
  target_type = "instance"
  protocol    = "TCP"
  port        = 6443

  health_check {
    protocol            = "TCP"
    interval            = 10
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }

  tags = merge(local.common_tags, { Name = "${var.cluster_name}-api" })
}

resource "aws_lb_listener" "api" {
  load_balancer_arn = aws_lb.api.arn
  port              = 6443
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }

  tags = local.common_tags
}

resource "aws_lb_target_group_attachment" "api" {
  count = var.master_count

  target_group_arn = aws_lb_target_group.api.arn
  target_id        = aws_instance.master[count.index].id
  port             = 6443
}

resource "aws_route53_record" "api" {
  count = var.dns_zone_id == null ? 0 : 1

  zone_id = var.dns_zone_id
  name    = "api.${var.cluster_name}"
  type    = "A"

  alias {
    name                   = aws_lb.api.dns_name
    zone_id                = aws_lb.api.zone_id
    evaluate_target_health = true
  }
}

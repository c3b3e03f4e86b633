# The live and pre-live load balancers outlive every cluster. Their target
# groups are deliberately left without attachments: `abshift elb switch`
# registers the ingress instances of the cluster it moves traffic to, and
# Terraform must never fight it over membership.
resource "aws_lb" "this" {
  for_each = local.load_balancers

  name               = "${var.name}-${each.key}"
  load_balancer_type = "application"
  internal           = each.value.internal
  security_groups    = [aws_security_group.lb[each.key].id]
  subnets            = [for az in local.azs : each.value.internal ? aws_subnet.private[az].id : aws_subnet.public[az].id]

  drop_invalid_header_fields = true
  enable_deletion_protection = true

  tags = merge(local.common_tags, {
    Name = "${var.name}-${each.key}"
    Role = each.key
  })
}

resource "aws_lb_target_group" "this" {
  for_each = local.load_balancers

  name                 = "${var.name}-${each.key}"
  vpc_id               = aws_vpc.this.id
  target_type          = "instance"
  protocol             = "HTTP"
  port                 = var.target_port
  deregistration_delay = var.deregistration_delay

  health_check {
    enabled             = true
    protocol            = "HTTP"
    path                = var.health_check_path
    port                = var.health_check_port == null ? "traffic-port" : tostring(var.health_check_port)
    matcher             = "200-399"
    interval            = var.health_check_interval
    timeout             = 5
    healthy_threshold   = var.healthy_threshold
    unhealthy_threshold = var.unhealthy_threshold
  }

  tags = merge(local.common_tags, {
    Name = "${var.name}-${each.key}"
    Role = each.key
  })
}

resource "aws_lb_listener" "http" {
  for_each = aws_lb.this

  load_balancer_arn = each.value.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = var.certificate_arn == null ? "forward" : "redirect"
    target_group_arn = var.certificate_arn == null ? aws_lb_target_group.this[each.key].arn : null

    dynamic "redirect" {
      for_each = var.certificate_arn == null ? [] : [443]

      content {
        port        = tostring(redirect.value)
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }

  tags = local.common_tags
}

resource "aws_lb_listener" "https" {
  for_each = var.certificate_arn == null ? {} : aws_lb.this

  load_balancer_arn = each.value.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[each.key].arn
  }

  tags = local.common_tags
}

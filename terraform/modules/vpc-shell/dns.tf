resource "aws_route53_zone" "this" {
  name    = var.dns_zone_name
  comment = "${var.name} shell: live and pre-live entry points, cluster API records"

  dynamic "vpc" {
    for_each = var.dns_zone_private ? [aws_vpc.this.id] : []

    content {
      vpc_id = vpc.value
    }
  }

  tags = local.common_tags
}

resource "aws_route53_record" "lb" {
  for_each = aws_lb.this

  zone_id = aws_route53_zone.this.zone_id
  name    = each.key
  type    = "A"

  alias {
    name                   = each.value.dns_name
    zone_id                = each.value.zone_id
    evaluate_target_health = true
  }
}

data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

locals {
  azs = length(var.availability_zones) > 0 ? var.availability_zones : slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # One entry per AZ: index drives the subnet numbering, so adding a zone at the
  # end never renumbers the existing ones.
  az_index = { for i, az in local.azs : az => i }

  nat_azs = var.single_nat_gateway ? [local.azs[0]] : local.azs

  common_tags = merge(var.tags, {
    Project   = var.name
    Component = "vpc-shell"
    ManagedBy = "terraform"
  })

  # The two long-lived load balancers, keyed by the role names of
  # `abshift elb --lb live|pre-live`.
  load_balancers = {
    "live" = {
      internal      = var.live_internal
      allowed_cidrs = var.live_allowed_cidrs
    }
    "pre-live" = {
      internal      = var.prelive_internal
      allowed_cidrs = length(var.prelive_allowed_cidrs) > 0 ? var.prelive_allowed_cidrs : [var.vpc_cidr]
    }
  }

  listener_ports = var.certificate_arn == null ? [80] : [80, 443]

  # Ports the load balancers need on the ingress instances.
  ingress_ports = toset(var.health_check_port == null ? [var.target_port] : [var.target_port, var.health_check_port])

  # One security group rule per load balancer, listener port and client CIDR.
  lb_listener_rules = merge([
    for lb, cfg in local.load_balancers : {
      for pair in setproduct(local.listener_ports, cfg.allowed_cidrs) :
      "${lb}/${pair[0]}/${pair[1]}" => { lb = lb, port = pair[0], cidr = pair[1] }
    }
  ]...)

  # One rule per load balancer and port it needs on the ingress instances.
  lb_target_rules = {
    for pair in setproduct(keys(local.load_balancers), local.ingress_ports) :
    "${pair[0]}/${pair[1]}" => { lb = pair[0], port = pair[1] }
  }

  state_bucket_name = coalesce(var.state_bucket_name, "${var.name}-abshift-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}")
}

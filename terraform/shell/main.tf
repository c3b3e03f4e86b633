provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

module "shell" {
  source = "../modules/vpc-shell"

  name                  = var.name
  vpc_cidr              = var.vpc_cidr
  az_count              = var.az_count
  single_nat_gateway    = var.single_nat_gateway
  bastion_ssh_cidrs     = var.bastion_ssh_cidrs
  bastion_key_name      = var.bastion_key_name
  dns_zone_name         = var.dns_zone_name
  dns_zone_private      = var.dns_zone_private
  live_allowed_cidrs    = var.live_allowed_cidrs
  prelive_allowed_cidrs = var.prelive_allowed_cidrs
  certificate_arn       = var.certificate_arn
  target_port           = var.target_port
  health_check_port     = var.health_check_port
  health_check_path     = var.health_check_path
  deregistration_delay  = var.deregistration_delay
  state_bucket_name     = var.state_bucket_name
}

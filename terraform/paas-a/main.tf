# Identical in paas-a and paas-b: the clusters differ only in terraform.tfvars
# and in their state key (backend.hcl), so building one never touches the other.

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

# Read-only view of the shell. A cluster never manages anything of the shell,
# so destroying a cluster leaves the VPC, load balancers and state bucket alone.
data "terraform_remote_state" "shell" {
  backend = "s3"

  config = {
    bucket = var.tf_state_bucket
    key    = var.shell_state_key
    region = coalesce(var.tf_state_region, var.region)
  }
}

locals {
  shell = data.terraform_remote_state.shell.outputs
}

module "cluster" {
  source = "../modules/paas-cluster"

  cluster_name       = var.cluster_name
  kubernetes_version = var.kubernetes_version

  vpc_id                    = local.shell.vpc_id
  vpc_cidr                  = local.shell.vpc_cidr
  private_subnet_ids        = local.shell.private_subnet_ids
  ingress_security_group_id = local.shell.ingress_security_group_id
  bastion_security_group_id = local.shell.bastion_security_group_id
  dns_zone_id               = local.shell.dns_zone_id

  ami_id                      = var.ami_id
  key_name                    = var.key_name
  master_count                = var.master_count
  master_instance_type        = var.master_instance_type
  ingress_count               = var.ingress_count
  ingress_instance_type       = var.ingress_instance_type
  worker_instance_type        = var.worker_instance_type
  worker_min_size             = var.worker_min_size
  worker_max_size             = var.worker_max_size
  worker_desired_capacity     = var.worker_desired_capacity
  user_data                   = var.user_data
  config_bucket_force_destroy = var.config_bucket_force_destroy
}

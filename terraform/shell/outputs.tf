# `terraform output -json > shell.json` is what `abshift elb --tf-output shell.json`
# reads: the first five outputs below (names in src/elb/names.rs).

output "live_target_group_arn" {
  description = "ARN of the live target group: what `abshift elb --lb live` switches."
  value       = module.shell.live_target_group_arn
}

output "live_lb_name" {
  description = "Name of the live target group (abshift prefers live_target_group_arn)."
  value       = module.shell.live_lb_name
}

output "prelive_target_group_arn" {
  description = "ARN of the pre-live target group: what `abshift elb --lb pre-live` switches."
  value       = module.shell.prelive_target_group_arn
}

output "prelive_lb_name" {
  description = "Name of the pre-live target group (abshift prefers prelive_target_group_arn)."
  value       = module.shell.prelive_lb_name
}

output "state_bucket" {
  description = "S3 bucket holding abshift's lock, state and audit records."
  value       = module.shell.state_bucket
}

output "state_bucket_arn" {
  description = "ARN of the state bucket."
  value       = module.shell.state_bucket_arn
}

output "abshift_operator_policy_arn" {
  description = "IAM policy with exactly the permissions `abshift elb` needs on these load balancers and the state bucket."
  value       = module.shell.abshift_operator_policy_arn
}

output "load_balancer_arns" {
  description = "ARN of each long-lived application load balancer, by role (live, pre-live)."
  value       = module.shell.load_balancer_arns
}

output "load_balancer_dns_names" {
  description = "AWS DNS name of each load balancer, by role."
  value       = module.shell.load_balancer_dns_names
}

output "load_balancer_fqdns" {
  description = "Route 53 name of each load balancer, by role (live.<zone>, pre-live.<zone>)."
  value       = module.shell.load_balancer_fqdns
}

output "vpc_id" {
  description = "ID of the shared VPC."
  value       = module.shell.vpc_id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = module.shell.vpc_cidr
}

output "availability_zones" {
  description = "Availability zones the shell spans, in subnet order."
  value       = module.shell.availability_zones
}

output "public_subnet_ids" {
  description = "Public subnet IDs, one per availability zone, in the order of availability_zones."
  value       = module.shell.public_subnet_ids
}

output "private_subnet_ids" {
  description = "Private subnet IDs, one per availability zone, in the order of availability_zones. Cluster nodes live here."
  value       = module.shell.private_subnet_ids
}

output "nat_public_ips" {
  description = "Public IPs of the NAT gateways: the source address of the clusters' outbound traffic."
  value       = module.shell.nat_public_ips
}

output "ingress_security_group_id" {
  description = "Security group every cluster attaches to its ingress instances so that the load balancers reach them."
  value       = module.shell.ingress_security_group_id
}

output "bastion_security_group_id" {
  description = "Security group of the bastion; clusters allow SSH and the Kubernetes API from it."
  value       = module.shell.bastion_security_group_id
}

output "bastion_instance_id" {
  description = "Instance ID of the bastion (for `aws ssm start-session --target`)."
  value       = module.shell.bastion_instance_id
}

output "bastion_public_ip" {
  description = "Public IP of the bastion."
  value       = module.shell.bastion_public_ip
}

output "dns_zone_id" {
  description = "ID of the Route 53 zone; clusters add their API records to it."
  value       = module.shell.dns_zone_id
}

output "dns_zone_name" {
  description = "Name of the Route 53 zone."
  value       = module.shell.dns_zone_name
}

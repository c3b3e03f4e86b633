# The first five outputs are read by `abshift elb --tf-output` (names in
# src/elb/names.rs; tests/terraform_drift.rs keeps the two in step).

output "live_target_group_arn" {
  description = "ARN of the live target group: what `abshift elb --lb live` switches."
  value       = aws_lb_target_group.this["live"].arn
}

output "live_lb_name" {
  description = "Name of the live target group (abshift prefers live_target_group_arn)."
  value       = aws_lb_target_group.this["live"].name
}

output "prelive_target_group_arn" {
  description = "ARN of the pre-live target group: what `abshift elb --lb pre-live` switches."
  value       = aws_lb_target_group.this["pre-live"].arn
}

output "prelive_lb_name" {
  description = "Name of the pre-live target group (abshift prefers prelive_target_group_arn)."
  value       = aws_lb_target_group.this["pre-live"].name
}

output "state_bucket" {
  description = "S3 bucket holding abshift's lock, state and audit records."
  value       = aws_s3_bucket.state.bucket
}

output "state_bucket_arn" {
  description = "ARN of the state bucket."
  value       = aws_s3_bucket.state.arn
}

output "abshift_operator_policy_arn" {
  description = "IAM policy with exactly the permissions `abshift elb` needs on these load balancers and the state bucket."
  value       = aws_iam_policy.abshift_operator.arn
}

output "load_balancer_arns" {
  description = "ARN of each long-lived application load balancer, by role (live, pre-live)."
  value       = { for role, lb in aws_lb.this : role => lb.arn }
}

output "load_balancer_dns_names" {
  description = "AWS DNS name of each load balancer, by role."
  value       = { for role, lb in aws_lb.this : role => lb.dns_name }
}

output "load_balancer_fqdns" {
  description = "Route 53 name of each load balancer, by role (live.<zone>, pre-live.<zone>)."
  value       = { for role, r in aws_route53_record.lb : role => r.fqdn }
}

output "vpc_id" {
  description = "ID of the shared VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "availability_zones" {
  description = "Availability zones the shell spans, in subnet order."
  value       = local.azs
}

output "public_subnet_ids" {
  description = "Public subnet IDs, one per availability zone, in the order of availability_zones."
  value       = [for az in local.azs : aws_subnet.public[az].id]
}

output "private_subnet_ids" {
  description = "Private subnet IDs, one per availability zone, in the order of availability_zones. Cluster nodes live here."
  value       = [for az in local.azs : aws_subnet.private[az].id]
}

output "nat_public_ips" {
  description = "Public IPs of the NAT gateways: the source address of the clusters' outbound traffic."
  value       = [for eip in aws_eip.nat : eip.public_ip]
}

output "ingress_security_group_id" {
  description = "Security group every cluster attaches to its ingress instances so that the load balancers reach them."
  value       = aws_security_group.ingress.id
}

output "bastion_security_group_id" {
  description = "Security group of the bastion; clusters allow SSH and the Kubernetes API from it."
  value       = aws_security_group.bastion.id
}

output "bastion_instance_id" {
  description = "Instance ID of the bastion (for `aws ssm start-session --target`)."
  value       = aws_instance.bastion.id
}

output "bastion_public_ip" {
  description = "Public IP of the bastion."
  value       = aws_instance.bastion.public_ip
}

output "dns_zone_id" {
  description = "ID of the Route 53 zone; clusters add their API records to it."
  value       = aws_route53_zone.this.zone_id
}

output "dns_zone_name" {
  description = "Name of the Route 53 zone."
  value       = aws_route53_zone.this.name
}

output "cluster_name" {
  description = "Name of the cluster: the value of its abshift:cluster tag, to pass as `abshift elb switch --to/--from`."
  value       = var.cluster_name
}

output "kubernetes_version" {
  description = "Kubernetes version the cluster's nodes were built for."
  value       = var.kubernetes_version
}

output "config_bucket" {
  description = "The cluster's own S3 configuration bucket."
  value       = aws_s3_bucket.config.bucket
}

output "api_endpoint" {
  description = "HTTPS endpoint of the Kubernetes API: the Route 53 name when a zone was given, else the load balancer's DNS name."
  value       = "https://${var.dns_zone_id == null ? aws_lb.api.dns_name : aws_route53_record.api[0].fqdn}:6443"
}

output "master_instance_ids" {
  description = "Instance IDs of the control-plane nodes."
  value       = aws_instance.master[*].id
}

output "ingress_instance_ids" {
  description = "Instance IDs of the ingress-controller nodes (what `abshift elb switch --to <cluster_name>` registers)."
  value       = aws_instance.ingress[*].id
}

output "ingress_private_ips" {
  description = "Private IPs of the ingress-controller nodes."
  value       = aws_instance.ingress[*].private_ip
}

output "worker_autoscaling_group" {
  description = "Name of the workers' Auto Scaling group."
  value       = aws_autoscaling_group.worker.name
}

output "node_security_group_id" {
  description = "Security group shared by every node of this cluster."
  value       = aws_security_group.nodes.id
}

output "node_role_arns" {
  description = "IAM role ARN of each node role (master, worker, ingress)."
  value       = { for role, r in aws_iam_role.node : role => r.arn }
}

output "cluster_name" {
  description = "Value of this cluster's abshift:cluster tag: `abshift elb switch --to` it to move traffic here."
  value       = module.cluster.cluster_name
}

output "kubernetes_version" {
  description = "Kubernetes version of this cluster."
  value       = module.cluster.kubernetes_version
}

output "api_endpoint" {
  description = "HTTPS endpoint of this cluster's Kubernetes API."
  value       = module.cluster.api_endpoint
}

output "config_bucket" {
  description = "This cluster's S3 configuration bucket."
  value       = module.cluster.config_bucket
}

output "ingress_instance_ids" {
  description = "Instance IDs of this cluster's ingress-controller nodes."
  value       = module.cluster.ingress_instance_ids
}

output "master_instance_ids" {
  description = "Instance IDs of this cluster's control-plane nodes."
  value       = module.cluster.master_instance_ids
}

output "worker_autoscaling_group" {
  description = "Name of this cluster's worker Auto Scaling group."
  value       = module.cluster.worker_autoscaling_group
}

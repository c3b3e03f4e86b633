variable "cluster_name" {
  description = "Name of the cluster (for example paas-a). Becomes the value of the abshift:cluster tag that `abshift elb switch --to/--from` selects by, and prefixes every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.cluster_name))
    error_message = "cluster_name must be 1-20 characters: lowercase letters, digits and hyphens, starting with a letter (it is part of S3 bucket and IAM names)."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes version the nodes are built for; recorded as a tag and handed to the bootstrap through user data."
  type        = string
  default     = "1.31"
}

variable "tags" {
  description = "Tags added to every resource of the cluster, on top of the module's own (Project, Component, Cluster, ManagedBy)."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "ID of the shell's VPC (shell output vpc_id)."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the shell's VPC (shell output vpc_cidr); the Kubernetes API is reachable from it."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets of the shell, one per AZ (shell output private_subnet_ids). Nodes of each role are spread over them round-robin."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) > 0
    error_message = "private_subnet_ids must name at least one subnet."
  }
}

variable "ingress_security_group_id" {
  description = "Shell security group that lets the live and pre-live load balancers reach ingress instances (shell output ingress_security_group_id)."
  type        = string
}

variable "bastion_security_group_id" {
  description = "Security group of the shell's bastion (shell output bastion_security_group_id); it may SSH to nodes and call the Kubernetes API."
  type        = string
}

variable "dns_zone_id" {
  description = "Route 53 zone of the shell (shell output dns_zone_id). The cluster adds api.<cluster_name>.<zone>. Null: no record."
  type        = string
  default     = null
}

variable "ami_id" {
  description = "AMI of every node. Null: the latest Amazon Linux 2023 from the public SSM parameter (read at the first apply; later AMI changes do not replace running masters or ingress nodes)."
  type        = string
  default     = null
}

variable "key_name" {
  description = "EC2 key pair for SSH to the nodes. Null: no key; use SSM Session Manager."
  type        = string
  default     = null
}

variable "master_count" {
  description = "Number of control-plane instances (odd, for etcd quorum)."
  type        = number
  default     = 3

  validation {
    condition     = var.master_count >= 1 && var.master_count % 2 == 1
    error_message = "master_count must be odd and at least 1."
  }
}

variable "master_instance_type" {
  description = "EC2 instance type of the control-plane instances."
  type        = string
  default     = "m6i.large"
}

variable "ingress_count" {
  description = "Number of ingress-controller instances; the load balancers send traffic to these (spread over the AZs)."
  type        = number
  default     = 3

  validation {
    condition     = var.ingress_count >= 1
    error_message = "ingress_count must be at least 1."
  }
}

variable "ingress_instance_type" {
  description = "EC2 instance type of the ingress-controller instances."
  type        = string
  default     = "c6i.large"
}

variable "worker_instance_type" {
  description = "EC2 instance type of the workers."
  type        = string
  default     = "m6i.xlarge"
}

variable "worker_min_size" {
  description = "Minimum number of workers in the worker Auto Scaling group."
  type        = number
  default     = 3
}

variable "worker_max_size" {
  description = "Maximum number of workers in the worker Auto Scaling group."
  type        = number
  default     = 12
}

variable "worker_desired_capacity" {
  description = "Initial number of workers. Later changes by a cluster autoscaler are kept (Terraform ignores drift of this value)."
  type        = number
  default     = 3
}

variable "root_volume_size" {
  description = "Size in GiB of every node's encrypted gp3 root volume."
  type        = number
  default     = 50
}

variable "user_data" {
  description = "Bootstrap script per node role (keys master, worker, ingress). A missing role gets a script that only records cluster, role, version and configuration bucket in /etc/abshift/node.env. Secrets belong in the configuration bucket or a secrets manager, never here."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.user_data) : contains(["master", "worker", "ingress"], k)])
    error_message = "user_data keys must be master, worker or ingress."
  }
}

variable "config_bucket_force_destroy" {
  description = "Let `terraform destroy` delete the cluster's configuration bucket with everything in it. The bucket belongs to this cluster alone, so decommissioning the cluster removes it too; set false to keep destroy from running while the bucket holds objects."
  type        = bool
  default     = true
}

variable "region" {
  description = "AWS region; the same as the shell's."
  type        = string
}

variable "cluster_name" {
  description = "Name of this cluster: the value of its ingress instances' abshift:cluster tag, and what `abshift elb switch --to/--from` names."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes version of this cluster."
  type        = string
}

variable "tf_state_bucket" {
  description = "S3 bucket holding the Terraform states (the one given to `terraform init -backend-config=bucket=...`); the shell's state is read from it."
  type        = string
}

variable "tf_state_region" {
  description = "Region of tf_state_bucket. Null: region."
  type        = string
  default     = null
}

variable "shell_state_key" {
  description = "Key of the shell's state in tf_state_bucket (see terraform/shell/backend.hcl)."
  type        = string
  default     = "abshift/shell.tfstate"
}

variable "tags" {
  description = "Tags added to every resource through the provider's default_tags."
  type        = map(string)
  default     = {}
}

variable "ami_id" {
  description = "AMI of every node. Null: the latest Amazon Linux 2023."
  type        = string
  default     = null
}

variable "key_name" {
  description = "EC2 key pair of the nodes. Null: none (Session Manager)."
  type        = string
  default     = null
}

variable "master_count" {
  description = "Number of control-plane instances (odd)."
  type        = number
  default     = 3
}

variable "master_instance_type" {
  description = "EC2 instance type of the control-plane instances."
  type        = string
  default     = "m6i.large"
}

variable "ingress_count" {
  description = "Number of ingress-controller instances."
  type        = number
  default     = 3
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
  description = "Minimum size of the worker Auto Scaling group."
  type        = number
  default     = 3
}

variable "worker_max_size" {
  description = "Maximum size of the worker Auto Scaling group."
  type        = number
  default     = 12
}

variable "worker_desired_capacity" {
  description = "Initial size of the worker Auto Scaling group."
  type        = number
  default     = 3
}

variable "user_data" {
  description = "Bootstrap script per node role (master, worker, ingress); see the paas-cluster module."
  type        = map(string)
  default     = {}
}

variable "config_bucket_force_destroy" {
  description = "Let `terraform destroy` delete the cluster's configuration bucket and its contents."
  type        = bool
  default     = true
}

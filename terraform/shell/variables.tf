variable "region" {
  description = "AWS region of the shell (and of both clusters)."
  type        = string
}

variable "name" {
  description = "Prefix of the shell's resource names (load balancers, target groups, state bucket)."
  type        = string
  default     = "abshift"
}

variable "tags" {
  description = "Tags added to every resource through the provider's default_tags."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Number of availability zones to span."
  type        = number
  default     = 3
}

variable "single_nat_gateway" {
  description = "One NAT gateway for the whole VPC instead of one per AZ (cheaper, less available)."
  type        = bool
  default     = false
}

variable "bastion_ssh_cidrs" {
  description = "IPv4 CIDR blocks allowed to SSH to the bastion. Empty: Session Manager only."
  type        = list(string)
  default     = []
}

variable "bastion_key_name" {
  description = "EC2 key pair of the bastion. Null: none."
  type        = string
  default     = null
}

variable "dns_zone_name" {
  description = "Route 53 zone of the shell."
  type        = string
  default     = "paas.internal"
}

variable "dns_zone_private" {
  description = "Make the Route 53 zone private to the VPC."
  type        = bool
  default     = true
}

variable "live_allowed_cidrs" {
  description = "IPv4 CIDR blocks allowed to reach the live load balancer."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "prelive_allowed_cidrs" {
  description = "IPv4 CIDR blocks allowed to reach the pre-live load balancer. Empty: the VPC only."
  type        = list(string)
  default     = []
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS on both load balancers. Null: HTTP only."
  type        = string
  default     = null
}

variable "target_port" {
  description = "Port of the ingress controller on the ingress instances."
  type        = number
  default     = 80
}

variable "health_check_port" {
  description = "Port of the ingress controller's health endpoint. Null: the target port."
  type        = number
  default     = null
}

variable "health_check_path" {
  description = "Path of the ingress controller's health endpoint."
  type        = string
  default     = "/healthz"
}

variable "deregistration_delay" {
  description = "Seconds a deregistered ingress instance keeps serving open connections (abshift drains for this + 30 s)."
  type        = number
  default     = 60
}

variable "state_bucket_name" {
  description = "Name of abshift's state bucket. Null: <name>-abshift-<account id>-<region>."
  type        = string
  default     = null
}

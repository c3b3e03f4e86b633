variable "name" {
  description = "Prefix of every resource name in the shell (load balancers, target groups, bucket). Lowercase letters, digits and hyphens."
  type        = string
  default     = "abshift"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.name))
    error_message = "name must be 1-16 characters: lowercase letters, digits and hyphens, starting with a letter (it prefixes load balancer and target group names, which AWS limits to 32 characters)."
  }
}

variable "tags" {
  description = "Tags added to every resource of the shell, on top of the module's own (Project, Component, ManagedBy)."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC. Each AZ gets one public and one private subnet carved out of it."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block."
  }
}

variable "availability_zones" {
  description = "Availability zones to span. Empty: the first az_count zones of the region that need no opt-in."
  type        = list(string)
  default     = []
}

variable "az_count" {
  description = "Number of availability zones used when availability_zones is empty."
  type        = number
  default     = 3

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6
    error_message = "az_count must be between 2 and 6 (an ALB needs at least two zones)."
  }
}

variable "subnet_newbits" {
  description = "Bits added to the VPC prefix for each subnet (8 on a /16 gives /24 subnets)."
  type        = number
  default     = 8
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all private subnets instead of one per AZ. Cheaper, but an AZ outage then cuts egress for every AZ."
  type        = bool
  default     = false
}

variable "bastion_instance_type" {
  description = "EC2 instance type of the bastion."
  type        = string
  default     = "t3.micro"
}

variable "bastion_ami_id" {
  description = "AMI of the bastion. Null: the latest Amazon Linux 2023 from the public SSM parameter."
  type        = string
  default     = null
}

variable "bastion_key_name" {
  description = "EC2 key pair for SSH to the bastion. Null: no key; use SSM Session Manager."
  type        = string
  default     = null
}

variable "bastion_ssh_cidrs" {
  description = "IPv4 CIDR blocks allowed to SSH to the bastion. Empty: no SSH ingress at all (Session Manager only)."
  type        = list(string)
  default     = []
}

variable "dns_zone_name" {
  description = "Route 53 zone of the shell. The live and pre-live load balancers get alias records `live` and `pre-live` in it."
  type        = string
  default     = "paas.internal"
}

variable "dns_zone_private" {
  description = "Make the Route 53 zone private to the VPC. Set false for a public zone you own (its NS records must then be delegated)."
  type        = bool
  default     = true
}

variable "live_internal" {
  description = "Make the live load balancer internal instead of internet-facing."
  type        = bool
  default     = false
}

variable "live_allowed_cidrs" {
  description = "IPv4 CIDR blocks allowed to reach the live load balancer."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "prelive_internal" {
  description = "Make the pre-live load balancer internal. Pre-live carries smoke tests before the cutover, so by default it is not on the internet."
  type        = bool
  default     = true
}

variable "prelive_allowed_cidrs" {
  description = "IPv4 CIDR blocks allowed to reach the pre-live load balancer. Empty: the VPC CIDR only."
  type        = list(string)
  default     = []
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS listeners on port 443. Null: HTTP on port 80 only; with a certificate, port 80 redirects to 443."
  type        = string
  default     = null
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listeners (used only with certificate_arn)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "target_port" {
  description = "Port the ingress controller listens on, on every ingress instance (for example a hostPort or a NodePort)."
  type        = number
  default     = 80
}

variable "health_check_port" {
  description = "Port of the ingress controller's health endpoint. Null: the target port."
  type        = number
  default     = null
}

variable "health_check_path" {
  description = "HTTP path of the ingress controller's health endpoint."
  type        = string
  default     = "/healthz"
}

variable "health_check_interval" {
  description = "Seconds between target group health checks. abshift waits for these to report new ingress instances healthy before it removes old ones."
  type        = number
  default     = 10
}

variable "healthy_threshold" {
  description = "Consecutive successful health checks before a target counts as healthy."
  type        = number
  default     = 3
}

variable "unhealthy_threshold" {
  description = "Consecutive failed health checks before a target counts as unhealthy."
  type        = number
  default     = 3
}

variable "deregistration_delay" {
  description = "Seconds a deregistered target keeps serving open connections. abshift reads it to size its drain wait (this value + 30 s)."
  type        = number
  default     = 60

  validation {
    condition     = var.deregistration_delay >= 0 && var.deregistration_delay <= 3600
    error_message = "deregistration_delay must be between 0 and 3600 seconds."
  }
}

variable "state_bucket_name" {
  description = "Name of the S3 bucket for abshift's lock, state and audit records. Null: <name>-abshift-<account id>-<region>."
  type        = string
  default     = null
}

variable "state_noncurrent_version_days" {
  description = "Days after which superseded versions of objects in the state bucket expire. Audit records are written once and never superseded."
  type        = number
  default     = 90
}

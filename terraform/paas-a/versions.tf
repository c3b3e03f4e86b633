terraform {
  # 1.10: S3 backend locking without DynamoDB (use_lockfile).
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }

  # Partial configuration: bucket and region come from `terraform init
  # -backend-config=...`, the key (one per cluster) and locking from backend.hcl.
  backend "s3" {}
}

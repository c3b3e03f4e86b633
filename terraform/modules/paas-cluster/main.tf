data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0

  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

locals {
  ami_id = var.ami_id != null ? var.ami_id : nonsensitive(data.aws_ssm_parameter.al2023[0].value)

  common_tags = merge(var.tags, {
    Project           = "abshift"
    Component         = "paas-cluster"
    Cluster           = var.cluster_name
    KubernetesVersion = var.kubernetes_version
    ManagedBy         = "terraform"
  })

  roles = toset(["master", "worker", "ingress"])

  config_bucket_name = "${var.cluster_name}-config-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}"

  # Written to every node unless user_data names a script for its role.
  default_user_data = {
    for role in local.roles : role => <<-EOT
      #!/bin/sh
      set -eu
      install -d -m 0755 /etc/abshift
      cat > /etc/abshift/node.env <<EOF
      CLUSTER=${var.cluster_name}
      ROLE=${role}
      KUBERNETES_VERSION=${var.kubernetes_version}
      CONFIG_BUCKET=${local.config_bucket_name}
      EOF
    EOT
  }

  user_data = { for role in local.roles : role => lookup(var.user_data, role, local.default_user_data[role]) }
}

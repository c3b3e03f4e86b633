data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# One role per node role, so that workers and ingress nodes cannot write the
# configuration the control plane publishes.
resource "aws_iam_role" "node" {
  for_each = local.roles

  name               = "${var.cluster_name}-${each.key}"
  description        = "${each.key} nodes of ${var.cluster_name}"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json

  tags = local.common_tags
}

resource "aws_iam_role_policy_attachment" "ssm" {
  for_each = local.roles

  role       = aws_iam_role.node[each.key].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "config_read" {
  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.config.arn]
  }

  statement {
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.config.arn}/*"]
  }
}

data "aws_iam_policy_document" "master" {
  source_policy_documents = [data.aws_iam_policy_document.config_read.json]

  statement {
    sid       = "PublishClusterConfig"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.config.arn}/*"]
  }

  statement {
    sid = "CloudProviderDiscovery"
    actions = [
      "ec2:DescribeInstances",
      "ec2:DescribeRegions",
      "ec2:DescribeRouteTables",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeSubnets",
      "ec2:DescribeVolumes",
      "ec2:DescribeAvailabilityZones",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "node" {
  for_each = local.roles

  name   = "${var.cluster_name}-${each.key}"
  role   = aws_iam_role.node[each.key].id
  policy = each.key == "master" ? data.aws_iam_policy_document.master.json : data.aws_iam_policy_document.config_read.json
}

resource "aws_iam_instance_profile" "node" {
  for_each = local.roles

  name = "${var.cluster_name}-${each.key}"
  role = aws_iam_role.node[each.key].name

  tags = local.common_tags
}

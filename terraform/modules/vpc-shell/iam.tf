# What `abshift elb status|switch|rollback` needs, and nothing more: attach it
# to the role or group of whoever runs the cutover.
data "aws_iam_policy_document" "abshift_operator" {
  statement {
    sid = "Discover"
    actions = [
      "ec2:DescribeInstances",
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeLoadBalancerAttributes",
      "elasticloadbalancing:DescribeInstanceHealth",
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeTargetGroupAttributes",
      "elasticloadbalancing:DescribeTargetHealth",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "SwitchTargets"
    actions   = ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
    resources = [for tg in aws_lb_target_group.this : tg.arn]
  }

  statement {
    sid       = "ListStateBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]
  }

  statement {
    sid       = "LockStateAudit"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.state.arn}/abshift/*"]
  }
}

resource "aws_iam_policy" "abshift_operator" {
  name        = "${var.name}-abshift-operator"
  description = "abshift elb: discover ingress instances, switch the live and pre-live target groups, lock and audit in the state bucket"
  policy      = data.aws_iam_policy_document.abshift_operator.json

  tags = local.common_tags
}

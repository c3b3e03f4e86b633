# Tags abshift reads (src/elb/names.rs): `abshift elb` finds a cluster's
# ingress instances by abshift:cluster=<cluster_name> plus abshift:role=ingress.
# tests/terraform_drift.rs fails if these keys or values drift from abshift's.

resource "aws_instance" "master" {
  count = var.master_count

  ami                    = local.ami_id
  instance_type          = var.master_instance_type
  subnet_id              = var.private_subnet_ids[count.index % length(var.private_subnet_ids)]
  vpc_security_group_ids = [aws_security_group.nodes.id, aws_security_group.api.id]
  iam_instance_profile   = aws_iam_instance_profile.node["master"].name
  key_name               = var.key_name
  user_data              = local.user_data["master"]

  metadata_options {
    http_tokens                 = "required"
    http_endpoint               = "enabled"
    http_put_response_hop_limit = 2
  }

  root_block_device {
    encrypted   = true
    volume_type = "gp3"
    volume_size = var.root_volume_size
  }

  tags = merge(local.common_tags, {
    Name              = "${var.cluster_name}-master-${count.index}"
    "abshift:cluster" = var.cluster_name
    "abshift:role"    = "master"
  })
  volume_tags = merge(local.common_tags, { Name = "${var.cluster_name}-master-${count.index}" })

  lifecycle {
    ignore_changes = [ami, user_data]
  }
}

# The ingress-controller nodes the live and pre-live load balancers send
# traffic to. They are fixed instances, not an Auto Scaling group, and they
# are NOT attached to the shell's target groups here: `abshift elb switch`
# registers them, health-gated, when traffic moves to this cluster.
resource "aws_instance" "ingress" {
  count = var.ingress_count

  ami                    = local.ami_id
  instance_type          = var.ingress_instance_type
  subnet_id              = var.private_subnet_ids[count.index % length(var.private_subnet_ids)]
  vpc_security_group_ids = [aws_security_group.nodes.id, var.ingress_security_group_id]
  iam_instance_profile   = aws_iam_instance_profile.node["ingress"].name
  key_name               = var.key_name
  user_data              = local.user_data["ingress"]

  metadata_options {
    http_tokens                 = "required"
    http_endpoint               = "enabled"
    http_put_response_hop_limit = 2
  }

  root_block_device {
    encrypted   = true
    volume_type = "gp3"
    volume_size = var.root_volume_size
  }

  tags = merge(local.common_tags, {
    Name              = "${var.cluster_name}-ingress-${count.index}"
    "abshift:cluster" = var.cluster_name
    "abshift:role"    = "ingress"
  })
  volume_tags = merge(local.common_tags, { Name = "${var.cluster_name}-ingress-${count.index}" })

  lifecycle {
    ignore_changes = [ami, user_data]
  }
}

resource "aws_launch_template" "worker" {
  name_prefix            = "${var.cluster_name}-worker-"
  image_id               = local.ami_id
  instance_type          = var.worker_instance_type
  key_name               = var.key_name
  vpc_security_group_ids = [aws_security_group.nodes.id]
  user_data              = base64encode(local.user_data["worker"])

  iam_instance_profile {
    arn = aws_iam_instance_profile.node["worker"].arn
  }

  metadata_options {
    http_tokens                 = "required"
    http_endpoint               = "enabled"
    http_put_response_hop_limit = 2
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      encrypted             = true
      volume_type           = "gp3"
      volume_size           = var.root_volume_size
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.common_tags, { Name = "${var.cluster_name}-worker" })
  }

  tags = local.common_tags
}

resource "aws_autoscaling_group" "worker" {
  name                = "${var.cluster_name}-worker"
  min_size            = var.worker_min_size
  max_size            = var.worker_max_size
  desired_capacity    = var.worker_desired_capacity
  vpc_zone_identifier = var.private_subnet_ids
  health_check_type   = "EC2"

  launch_template {
    id      = aws_launch_template.worker.id
    version = aws_launch_template.worker.latest_version
  }

  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 90
    }
  }

  dynamic "tag" {
    for_each = merge(local.common_tags, {
      Name              = "${var.cluster_name}-worker"
      "abshift:cluster" = var.cluster_name
      "abshift:role"    = "worker"
    })

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    ignore_changes = [desired_capacity]
  }
}

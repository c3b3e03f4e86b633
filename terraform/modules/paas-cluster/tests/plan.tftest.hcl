# Plans the module against a mocked AWS provider: no credentials, no network,
# but the provider itself must be installed (see terraform/README.md).

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_iam_instance_profile" {
    defaults = { arn = "arn:aws:iam::123456789012:instance-profile/x" }
  }
}

variables {
  cluster_name              = "paas-b"
  vpc_id                    = "vpc-1"
  vpc_cidr                  = "10.40.0.0/16"
  private_subnet_ids        = ["subnet-a", "subnet-b", "subnet-c"]
  ingress_security_group_id = "sg-ingress"
  bastion_security_group_id = "sg-bastion"
  dns_zone_id               = "Z1"
  ami_id                    = "ami-1"
}

run "plan" {
  command = plan

  assert {
    condition     = length(aws_instance.ingress) == 3 && aws_instance.ingress[2].tags["abshift:role"] == "ingress" && aws_instance.ingress[0].tags["abshift:cluster"] == "paas-b"
    error_message = "every ingress instance must carry abshift:cluster=<cluster_name> and abshift:role=ingress"
  }
  assert {
    condition     = aws_instance.ingress[1].subnet_id == "subnet-b"
    error_message = "ingress instances must be spread over the private subnets"
  }
  assert {
    condition     = aws_s3_bucket.config.bucket == "paas-b-config-123456789012-eu-west-1"
    error_message = "the configuration bucket is named <cluster>-config-<account>-<region>"
  }
}

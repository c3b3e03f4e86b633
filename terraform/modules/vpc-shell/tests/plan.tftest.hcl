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
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d"] }
  }
  mock_data "aws_ssm_parameter" {
    defaults = { value = "ami-1" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

run "default" {
  command = plan

  assert {
    condition     = length(aws_subnet.private) == 3 && length(aws_nat_gateway.this) == 3
    error_message = "three AZs by default, each with a private subnet and a NAT gateway"
  }
  assert {
    condition     = aws_lb_target_group.this["pre-live"].name == "abshift-pre-live" && aws_lb.this["pre-live"].internal && !aws_lb.this["live"].internal
    error_message = "pre-live is internal and live internet-facing by default; target groups named <name>-<role>"
  }
  assert {
    condition     = aws_s3_bucket.state.bucket == "abshift-abshift-123456789012-eu-west-1"
    error_message = "the state bucket is named <name>-abshift-<account>-<region>"
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.lb_listener) == 2 && length(aws_vpc_security_group_ingress_rule.ingress_from_lb) == 2
    error_message = "HTTP only: one listener rule per load balancer, one target-port rule per load balancer"
  }
}

run "https_single_nat" {
  command = plan

  variables {
    certificate_arn    = "arn:aws:acm:eu-west-1:123456789012:certificate/x"
    single_nat_gateway = true
    health_check_port  = 10254
    live_allowed_cidrs = ["0.0.0.0/0", "192.0.2.0/24"]
  }

  assert {
    condition     = length(aws_lb_listener.https) == 2 && length(aws_nat_gateway.this) == 1
    error_message = "a certificate adds an HTTPS listener per load balancer; single_nat_gateway gives one NAT gateway"
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.lb_listener) == 6 && length(aws_vpc_security_group_ingress_rule.ingress_from_lb) == 4
    error_message = "ports 80 and 443 per allowed CIDR; target and health-check ports from both load balancers"
  }
}

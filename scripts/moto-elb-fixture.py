#!/usr/bin/env python3
"""Creates the `abshift elb` demo estate in a moto server (never in real AWS):
a VPC, cluster A's and B's tagged ingress instances, a classic ELB as live and an
ALB target group as pre-live (both serving A), and the state bucket. Writes the
`terraform output -json` equivalent to the file named by --tf-output.

Usage: scripts/moto-elb-fixture.py --endpoint http://127.0.0.1:PORT --tf-output shell.json
"""

import argparse
import json
import sys
from urllib.parse import urlparse

import boto3

REGION = "us-east-1"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True, help="moto endpoint, loopback only")
    p.add_argument("--tf-output", required=True, help="where to write the outputs JSON")
    p.add_argument("--prefix", default="abshift-demo")
    args = p.parse_args()
    host = urlparse(args.endpoint).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"refusing non-loopback endpoint {args.endpoint}: this script is for moto", file=sys.stderr)
        return 2

    def client(name):
        return boto3.client(
            name,
            endpoint_url=args.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    ec2, elb, elbv2, s3 = client("ec2"), client("elb"), client("elbv2"), client("s3")
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b"))
    ]

    def ingress(cluster, subnet, n=2):
        tags = [
            {"Key": "abshift:cluster", "Value": cluster},
            {"Key": "abshift:role", "Value": "ingress"},
            {"Key": "Name", "Value": f"{cluster}-ingress"},
        ]
        out = ec2.run_instances(
            ImageId=ami,
            InstanceType="t3.micro",
            MinCount=n,
            MaxCount=n,
            SubnetId=subnet,
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
        return sorted(i["InstanceId"] for i in out["Instances"])

    a = ingress("a", subnets[0])
    b = ingress("b", subnets[1])

    live = f"{args.prefix}-live"
    elb.create_load_balancer(
        LoadBalancerName=live,
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
        Subnets=[subnets[0]],
    )
    elb.register_instances_with_load_balancer(
        LoadBalancerName=live, Instances=[{"InstanceId": i} for i in a]
    )

    alb = elbv2.create_load_balancer(Name=f"{args.prefix}-prelive", Subnets=subnets)
    alb_arn = alb["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elbv2.create_target_group(
        Name=f"{args.prefix}-prelive", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]
    elbv2.create_listener(
        LoadBalancerArn=alb_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )
    elbv2.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": i} for i in a])

    bucket = f"{args.prefix}-state"
    s3.create_bucket(Bucket=bucket)

    def out(value):
        return {"sensitive": False, "type": "string", "value": value}

    outputs = {
        "live_lb_name": out(live),
        "prelive_lb_name": out(tg["TargetGroupName"]),
        "prelive_target_group_arn": out(tg["TargetGroupArn"]),
        "state_bucket": out(bucket),
    }
    with open(args.tf_output, "w") as f:
        json.dump(outputs, f, indent=2)
    print(f"A ingress: {' '.join(a)}")
    print(f"B ingress: {' '.join(b)}")
    print(f"live: classic ELB {live}; pre-live: target group {tg['TargetGroupName']}; bucket {bucket}")
    print(f"terraform outputs written to {args.tf_output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

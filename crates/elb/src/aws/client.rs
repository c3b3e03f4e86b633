//! The AWS configuration abshift runs with (default chain, profile, region,
//! custom endpoint) and the SDK clients built from it, checked once at start
//! so that a missing region or credentials fail in one line, not on a first call.

use aws_sdk_s3::config::ProvideCredentials;

use super::errors::chain;
use super::s3::S3Store;
use crate::error::ElbError;

/// One shared AWS configuration (default chain, `AWS_PROFILE`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL`) and the clients built from it.
#[derive(Clone)]
pub struct Aws {
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub s3: aws_sdk_s3::Client,
    /// Only the burn-down (`--wait-burn-down`) reads it.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl Aws {
    /// Loads the configuration and fails early, in one line, when there are no
    /// credentials or no region: better than an opaque error on the first call.
    pub async fn load() -> Result<Aws, ElbError> {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        if sdk.region().is_none() {
            return Err(ElbError::Input(
                "no AWS region configured: set AWS_REGION (or a region in the AWS_PROFILE profile)"
                    .into(),
            ));
        }
        match sdk.credentials_provider() {
            None => {
                return Err(ElbError::NoCredentials {
                    action: "any AWS call",
                    message: "no credential provider".into(),
                });
            }
            Some(p) => {
                if let Err(e) = p.provide_credentials().await {
                    return Err(ElbError::NoCredentials {
                        action: "any AWS call",
                        message: chain(&e),
                    });
                }
            }
        }
        // A custom endpoint (moto, LocalStack, a VPC endpoint by IP) rarely
        // resolves virtual-hosted bucket names: use path-style there.
        let mut s3 = aws_sdk_s3::config::Builder::from(&sdk);
        if sdk.endpoint_url().is_some() {
            s3 = s3.force_path_style(true);
        }
        Ok(Aws {
            ec2: aws_sdk_ec2::Client::new(&sdk),
            elb: aws_sdk_elasticloadbalancing::Client::new(&sdk),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
        })
    }

    /// The state store in `bucket`.
    pub fn bucket(&self, bucket: &str) -> S3Store {
        S3Store::new(self.s3.clone(), bucket)
    }
}

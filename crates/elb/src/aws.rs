//! Thin clients over the EC2, ELB, ELBv2 and S3 SDKs implementing the traits of
//! `model.rs`. Their job is translation: AWS shapes to ours, and SDK errors to
//! `ElbError` (throttling/5xx are transient, access denied names the action).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::config::ProvideCredentials;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};

use super::error::ElbError;
use super::model::{
    Health, InstanceDirectory, InstanceInfo, LbKind, LbRef, LoadBalancerApi, MemberHealth,
    StateStore, StoredObject,
};

/// One shared AWS configuration (default chain, `AWS_PROFILE`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL`) and the four clients built from it.
#[derive(Clone)]
pub struct Aws {
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancing::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub s3: aws_sdk_s3::Client,
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
        })
    }

    pub fn bucket(&self, bucket: &str) -> S3Store {
        S3Store {
            client: self.s3.clone(),
            bucket: bucket.to_string(),
        }
    }
}

/// An error and its sources on one line, without the SDK's debug dumps.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    one_line(&out)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The error codes AWS uses for "try again later".
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
];

const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
];

/// The caller is not who it claims to be: a credentials problem, not IAM policy.
const REJECTED_CODES: &[&str] = &[
    "AuthFailure",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
];

/// Maps an SDK error to ours; `action` is the IAM action the call needs.
pub fn classify<E>(action: &'static str, err: SdkError<E, HttpResponse>) -> ElbError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transport = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Transport::Failed,
        SdkError::ConstructionFailure(_) => Transport::NotSent,
        _ => Transport::Answered,
    };
    decide(
        action,
        err.code(),
        err.message(),
        err.raw_response().map(|r| r.status().as_u16()),
        transport,
        &one_line(&DisplayErrorContext(&err).to_string()),
    )
}

/// How far a failed call got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The service answered (with an error).
    Answered,
    /// No answer: connection, timeout.
    Failed,
    /// Never sent: typically no credentials or no region.
    NotSent,
}

/// The decision behind [`classify`], on plain values so it can be unit-tested.
pub fn decide(
    action: &'static str,
    code: Option<&str>,
    message: Option<&str>,
    status: Option<u16>,
    transport: Transport,
    full_text: &str,
) -> ElbError {
    let message = message
        .map(str::to_string)
        .or_else(|| code.map(str::to_string))
        .unwrap_or_else(|| full_text.to_string());
    if let Some(code) = code {
        if DENIED_CODES.contains(&code) {
            return ElbError::AccessDenied { action, message };
        }
        if REJECTED_CODES.contains(&code) {
            return ElbError::CredentialsRejected { action, message };
        }
        if THROTTLING_CODES.contains(&code) {
            return ElbError::Transient { action, message };
        }
    }
    let mentions_credentials = full_text.to_ascii_lowercase().contains("credential");
    match (transport, status) {
        (_, Some(403)) => ElbError::AccessDenied { action, message },
        (_, Some(s)) if s == 429 || s >= 500 => ElbError::Transient { action, message },
        (Transport::Failed | Transport::NotSent, _) if mentions_credentials => {
            ElbError::NoCredentials {
                action,
                message: full_text.to_string(),
            }
        }
        (Transport::Failed, _) => ElbError::Transient {
            action,
            message: full_text.to_string(),
        },
        _ => ElbError::Aws {
            action,
            message: match code {
                Some(c) if c != message => format!("{c}: {message}"),
                _ => message,
            },
        },
    }
}

fn is_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>, codes: &[&str]) -> bool {
    err.code().is_some_and(|c| codes.contains(&c))
}

impl Aws {
    async fn classic(&self, name: &str) -> Result<Option<LbRef>, ElbError> {
        let out = match self
            .elb
            .describe_load_balancers()
            .load_balancer_names(name)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if is_code(&e, &["LoadBalancerNotFound", "ValidationError"]) => return Ok(None),
            Err(e) => return Err(classify("elasticloadbalancing:DescribeLoadBalancers", e)),
        };
        let Some(d) = out.load_balancer_descriptions().first() else {
            return Ok(None);
        };
        let lb_name = d.load_balancer_name().unwrap_or(name).to_string();
        let drain_delay = match self
            .elb
            .describe_load_balancer_attributes()
            .load_balancer_name(&lb_name)
            .send()
            .await
        {
            Ok(a) => a
                .load_balancer_attributes()
                .and_then(|a| a.connection_draining())
                .filter(|c| c.enabled())
                .and_then(|c| c.timeout())
                .map(|t| Duration::from_secs(t.max(0) as u64)),
            Err(e) => {
                tracing::debug!(
                    "no draining attributes for {lb_name}: {}",
                    DisplayErrorContext(&e)
                );
                None
            }
        };
        Ok(Some(LbRef {
            kind: LbKind::Classic,
            name: lb_name.clone(),
            id: lb_name,
            vpc_id: d.vpc_id().map(str::to_string),
            drain_delay,
        }))
    }

    async fn target_group(
        &self,
        tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup,
    ) -> Result<LbRef, ElbError> {
        let arn = tg.target_group_arn().unwrap_or_default().to_string();
        let name = tg.target_group_name().unwrap_or(&arn).to_string();
        if let Some(t) = tg.target_type() {
            if t.as_str() != "instance" {
                return Err(ElbError::UnsupportedTargetType {
                    name,
                    target_type: t.as_str().to_string(),
                });
            }
        }
        let drain_delay = match self
            .elbv2
            .describe_target_group_attributes()
            .target_group_arn(&arn)
            .send()
            .await
        {
            Ok(a) => a
                .attributes()
                .iter()
                .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
                .and_then(|a| a.value())
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs),
            Err(e) => {
                tracing::debug!("no attributes for {name}: {}", DisplayErrorContext(&e));
                None
            }
        };
        Ok(LbRef {
            kind: LbKind::TargetGroup,
            name,
            id: arn,
            vpc_id: tg.vpc_id().map(str::to_string),
            drain_delay,
        })
    }

    async fn target_groups_named(
        &self,
        name: &str,
    ) -> Result<Vec<aws_sdk_elasticloadbalancingv2::types::TargetGroup>, ElbError> {
        let req = self.elbv2.describe_target_groups();
        let req = if name.starts_with("arn:") {
            req.target_group_arns(name)
        } else {
            req.names(name)
        };
        match req.send().await {
            Ok(o) => Ok(o.target_groups().to_vec()),
            Err(e) if is_code(&e, &["TargetGroupNotFound", "ValidationError"]) => Ok(Vec::new()),
            Err(e) => Err(classify("elasticloadbalancing:DescribeTargetGroups", e)),
        }
    }

    /// An ALB/NLB named directly: usable when it has exactly one target group.
    async fn v2_load_balancer(&self, name: &str) -> Result<Option<LbRef>, ElbError> {
        let req = self.elbv2.describe_load_balancers();
        let req = if name.starts_with("arn:") {
            req.load_balancer_arns(name)
        } else {
            req.names(name)
        };
        let out = match req.send().await {
            Ok(o) => o,
            Err(e) if is_code(&e, &["LoadBalancerNotFound", "ValidationError"]) => return Ok(None),
            Err(e) => return Err(classify("elasticloadbalancing:DescribeLoadBalancers", e)),
        };
        let Some(lb) = out.load_balancers().first() else {
            return Ok(None);
        };
        let arn = lb.load_balancer_arn().unwrap_or_default();
        let tgs = self
            .elbv2
            .describe_target_groups()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| classify("elasticloadbalancing:DescribeTargetGroups", e))?;
        match tgs.target_groups() {
            [one] => Ok(Some(self.target_group(one).await?)),
            many => Err(ElbError::AmbiguousLoadBalancer {
                name: name.to_string(),
                count: many.len(),
            }),
        }
    }
}

impl LoadBalancerApi for Aws {
    async fn resolve(&self, name: &str) -> Result<LbRef, ElbError> {
        if name.starts_with("arn:") {
            if name.contains(":targetgroup/") {
                if let Some(tg) = self.target_groups_named(name).await?.first() {
                    return self.target_group(tg).await;
                }
            } else if let Some(lb) = self.v2_load_balancer(name).await? {
                return Ok(lb);
            }
            return Err(ElbError::UnknownLoadBalancer(name.to_string()));
        }
        if let Some(lb) = self.classic(name).await? {
            return Ok(lb);
        }
        if let Some(tg) = self.target_groups_named(name).await?.first() {
            return self.target_group(tg).await;
        }
        if let Some(lb) = self.v2_load_balancer(name).await? {
            return Ok(lb);
        }
        Err(ElbError::UnknownLoadBalancer(name.to_string()))
    }

    async fn health(&self, lb: &LbRef) -> Result<Vec<MemberHealth>, ElbError> {
        match lb.kind {
            LbKind::Classic => {
                let out = self
                    .elb
                    .describe_instance_health()
                    .load_balancer_name(&lb.id)
                    .send()
                    .await
                    .map_err(|e| classify("elasticloadbalancing:DescribeInstanceHealth", e))?;
                Ok(out
                    .instance_states()
                    .iter()
                    .filter_map(|s| {
                        let id = s.instance_id()?.to_string();
                        let health = classic_health(
                            s.state().unwrap_or_default(),
                            s.description().unwrap_or_default(),
                        );
                        let reason = [s.reason_code(), s.description()]
                            .into_iter()
                            .flatten()
                            .filter(|t| !t.is_empty() && *t != "N/A")
                            .collect::<Vec<_>>()
                            .join(": ");
                        Some(MemberHealth {
                            id,
                            health,
                            reason: (!reason.is_empty()).then_some(reason),
                        })
                    })
                    .collect())
            }
            LbKind::TargetGroup => {
                let out = self
                    .elbv2
                    .describe_target_health()
                    .target_group_arn(&lb.id)
                    .send()
                    .await
                    .map_err(|e| classify("elasticloadbalancing:DescribeTargetHealth", e))?;
                Ok(out
                    .target_health_descriptions()
                    .iter()
                    .filter_map(|d| {
                        let id = d.target()?.id()?.to_string();
                        let th = d.target_health();
                        let state = th
                            .and_then(|t| t.state())
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default();
                        let health = target_health(&state);
                        let reason = th.and_then(|t| t.reason()).map(|r| r.as_str().to_string());
                        Some(MemberHealth { id, health, reason })
                    })
                    .collect())
            }
        }
    }

    async fn register(&self, lb: &LbRef, ids: &[String]) -> Result<(), ElbError> {
        match lb.kind {
            LbKind::Classic => {
                self.elb
                    .register_instances_with_load_balancer()
                    .load_balancer_name(&lb.id)
                    .set_instances(Some(classic_instances(ids)))
                    .send()
                    .await
                    .map_err(|e| {
                        classify("elasticloadbalancing:RegisterInstancesWithLoadBalancer", e)
                    })?;
            }
            LbKind::TargetGroup => {
                self.elbv2
                    .register_targets()
                    .target_group_arn(&lb.id)
                    .set_targets(Some(target_descriptions(ids)))
                    .send()
                    .await
                    .map_err(|e| classify("elasticloadbalancing:RegisterTargets", e))?;
            }
        }
        Ok(())
    }

    async fn deregister(&self, lb: &LbRef, ids: &[String]) -> Result<(), ElbError> {
        match lb.kind {
            LbKind::Classic => {
                self.elb
                    .deregister_instances_from_load_balancer()
                    .load_balancer_name(&lb.id)
                    .set_instances(Some(classic_instances(ids)))
                    .send()
                    .await
                    .map_err(|e| {
                        classify(
                            "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
                            e,
                        )
                    })?;
            }
            LbKind::TargetGroup => {
                self.elbv2
                    .deregister_targets()
                    .target_group_arn(&lb.id)
                    .set_targets(Some(target_descriptions(ids)))
                    .send()
                    .await
                    .map_err(|e| classify("elasticloadbalancing:DeregisterTargets", e))?;
            }
        }
        Ok(())
    }
}

/// Instance ids as a classic ELB names members in (de)registration requests.
fn classic_instances(ids: &[String]) -> Vec<aws_sdk_elasticloadbalancing::types::Instance> {
    ids.iter()
        .map(|id| {
            aws_sdk_elasticloadbalancing::types::Instance::builder()
                .instance_id(id)
                .build()
        })
        .collect()
}

/// Instance ids as a target group names members in (de)registration requests.
fn target_descriptions(
    ids: &[String],
) -> Vec<aws_sdk_elasticloadbalancingv2::types::TargetDescription> {
    ids.iter()
        .map(|id| {
            aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                .id(id)
                .build()
        })
        .collect()
}

/// Classic ELB states. During connection draining AWS keeps reporting the
/// instance `InService` (its in-flight connections are still served) with the
/// description "Instance deregistration currently in progress": the
/// description decides, whatever the state, because a draining instance is no
/// member any more and must never count as the healthy one that keeps the load
/// balancer lit.
pub fn classic_health(state: &str, description: &str) -> Health {
    if description
        .to_ascii_lowercase()
        .contains("deregistration currently in progress")
    {
        return Health::Draining;
    }
    match state {
        "InService" => Health::Healthy,
        "OutOfService" => Health::Unhealthy,
        _ => Health::Unknown,
    }
}

/// ELBv2 target states; unknown future states count as not healthy.
pub fn target_health(state: &str) -> Health {
    match state {
        "healthy" => Health::Healthy,
        "initial" => Health::Initial,
        "unhealthy" => Health::Unhealthy,
        "unused" => Health::Unused,
        "unavailable" => Health::Unavailable,
        "draining" | "unhealthy.draining" => Health::Draining,
        _ => Health::Unknown,
    }
}

/// Explicit page size, so that paging is always exercised the same way (AWS
/// allows 5..=1000 with filters).
const EC2_PAGE_SIZE: i32 = 100;

fn instance_info(i: &aws_sdk_ec2::types::Instance) -> Option<InstanceInfo> {
    Some(InstanceInfo {
        id: i.instance_id()?.to_string(),
        vpc_id: i.vpc_id().map(str::to_string),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        tags: i
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect::<BTreeMap<_, _>>(),
    })
}

impl Aws {
    async fn describe_instances(
        &self,
        filters: Vec<aws_sdk_ec2::types::Filter>,
    ) -> Result<Vec<InstanceInfo>, ElbError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .ec2
                .describe_instances()
                .set_filters(Some(filters.clone()))
                .max_results(EC2_PAGE_SIZE)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| classify("ec2:DescribeInstances", e))?;
            for r in page.reservations() {
                out.extend(r.instances().iter().filter_map(instance_info));
            }
            token = page
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.dedup_by(|a, b| a.id == b.id);
        Ok(out)
    }
}

impl InstanceDirectory for Aws {
    async fn find_running(&self, tags: &[(String, String)]) -> Result<Vec<InstanceInfo>, ElbError> {
        let mut filters: Vec<aws_sdk_ec2::types::Filter> = tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_ec2::types::Filter::builder()
                    .name(format!("tag:{k}"))
                    .values(v)
                    .build()
            })
            .collect();
        filters.push(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        );
        let found = self.describe_instances(filters).await?;
        // Belt and braces: the filter should already have done this.
        Ok(found.into_iter().filter(|i| i.state == "running").collect())
    }

    async fn describe(&self, ids: &[String]) -> Result<Vec<InstanceInfo>, ElbError> {
        let mut out = Vec::new();
        // A filter (unlike InstanceIds) tolerates ids EC2 no longer knows.
        for chunk in ids.chunks(200) {
            let filter = aws_sdk_ec2::types::Filter::builder()
                .name("instance-id")
                .set_values(Some(chunk.to_vec()))
                .build();
            out.extend(self.describe_instances(vec![filter]).await?);
        }
        Ok(out)
    }
}

/// The state bucket.
#[derive(Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl StateStore for S3Store {
    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<bool, ElbError> {
        match self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            // 412: it exists; 409: a concurrent conditional write won the race.
            Err(e)
                if matches!(
                    e.raw_response().map(|r| r.status().as_u16()),
                    Some(412 | 409)
                ) || is_code(&e, &["PreconditionFailed", "ConditionalRequestConflict"]) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify("s3:PutObject", e)),
        }
    }

    async fn put_if_match(&self, key: &str, body: Vec<u8>, etag: &str) -> Result<bool, ElbError> {
        match self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .if_match(etag)
            .body(ByteStream::from(body))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            // 412: another version now; 409: a concurrent conditional write won;
            // 404: the object is gone (released or deleted meanwhile).
            Err(e)
                if matches!(
                    e.raw_response().map(|r| r.status().as_u16()),
                    Some(412 | 409 | 404)
                ) || is_code(
                    &e,
                    &[
                        "PreconditionFailed",
                        "ConditionalRequestConflict",
                        "NoSuchKey",
                    ],
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify("s3:PutObject", e)),
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), ElbError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify("s3:PutObject", e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>, ElbError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(classify("s3:GetObject", e)),
        };
        let etag = out.e_tag().map(str::to_string);
        let last_modified = out
            .last_modified()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()));
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| ElbError::Transient {
                action: "s3:GetObject",
                message: e.to_string(),
            })?
            .into_bytes()
            .to_vec();
        Ok(Some(StoredObject {
            body,
            last_modified,
            etag,
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), ElbError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify("s3:DeleteObject", e))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ElbError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| classify("s3:ListBucket", e))?;
            out.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_are_transient() {
        for (code, status) in [
            (Some("Throttling"), Some(400)),
            (Some("RequestLimitExceeded"), Some(503)),
            (Some("SlowDown"), Some(503)),
            (None, Some(500)),
            (Some("Whatever"), Some(502)),
            (None, Some(429)),
        ] {
            let e = decide(
                "ec2:DescribeInstances",
                code,
                None,
                status,
                Transport::Answered,
                "",
            );
            assert!(e.is_transient(), "{code:?} {status:?}: {e}");
        }
        let e = decide(
            "x",
            None,
            None,
            None,
            Transport::Failed,
            "connection refused",
        );
        assert!(e.is_transient());
    }

    #[test]
    fn access_denied_names_the_action() {
        let e = decide(
            "elasticloadbalancing:RegisterTargets",
            Some("AccessDenied"),
            Some("User: arn:aws:iam::1:user/x is not authorized"),
            Some(400),
            Transport::Answered,
            "",
        );
        let text = e.to_string();
        assert!(matches!(e, ElbError::AccessDenied { .. }));
        assert!(
            text.contains("elasticloadbalancing:RegisterTargets"),
            "{text}"
        );
        let e = decide(
            "s3:PutObject",
            None,
            None,
            Some(403),
            Transport::Answered,
            "",
        );
        assert!(e.to_string().contains("s3:PutObject"));
        let e = decide(
            "ec2:DescribeInstances",
            Some("UnauthorizedOperation"),
            None,
            Some(403),
            Transport::Answered,
            "",
        );
        assert!(matches!(e, ElbError::AccessDenied { .. }));
    }

    #[test]
    fn health_words_of_both_apis() {
        assert_eq!(classic_health("InService", "N/A"), Health::Healthy);
        assert_eq!(
            classic_health(
                "OutOfService",
                "Instance has failed at least the UnhealthyThreshold"
            ),
            Health::Unhealthy
        );
        assert_eq!(
            classic_health(
                "OutOfService",
                "Instance deregistration currently in progress."
            ),
            Health::Draining
        );
        // What AWS reports while connection draining runs: still InService.
        assert_eq!(
            classic_health(
                "InService",
                "Instance deregistration currently in progress."
            ),
            Health::Draining
        );
        assert_eq!(classic_health("Unknown", ""), Health::Unknown);
        assert_eq!(target_health("healthy"), Health::Healthy);
        assert_eq!(target_health("initial"), Health::Initial);
        assert_eq!(target_health("draining"), Health::Draining);
        assert_eq!(target_health("unused"), Health::Unused);
        assert_eq!(target_health("something-new"), Health::Unknown);
    }

    #[test]
    fn rejected_credentials_are_not_called_a_permission_problem() {
        let e = decide(
            "ec2:DescribeInstances",
            Some("InvalidClientTokenId"),
            Some("The security token included in the request is invalid."),
            Some(403),
            Transport::Answered,
            "",
        );
        assert!(matches!(e, ElbError::CredentialsRejected { .. }), "{e}");
        assert!(e.to_string().contains("ec2:DescribeInstances"));
    }

    #[test]
    fn missing_credentials_and_plain_failures() {
        let e = decide(
            "ec2:DescribeInstances",
            None,
            None,
            None,
            Transport::NotSent,
            "failed to load credentials",
        );
        assert!(matches!(e, ElbError::NoCredentials { .. }), "{e}");
        let e = decide(
            "elasticloadbalancing:DescribeTargetGroups",
            Some("ValidationError"),
            Some("bad name"),
            Some(400),
            Transport::Answered,
            "",
        );
        assert!(!e.is_transient());
        assert_eq!(
            e.to_string(),
            "elasticloadbalancing:DescribeTargetGroups failed: ValidationError: bad name"
        );
    }
}

//! Target groups (ELBv2: ALB and NLB): found by name or ARN, or through a load
//! balancer with exactly one target group; members are instance targets.

use std::time::Duration;

use aws_sdk_ec2::error::DisplayErrorContext;

use super::client::Aws;
use super::errors::{classify, is_code};
use crate::error::ElbError;
use crate::model::{Health, LbKind, LbRef, MemberHealth};

impl Aws {
    /// A target group as a load balancer to switch; only instance targets are supported.
    pub(super) async fn target_group(
        &self,
        tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup,
    ) -> Result<LbRef, ElbError> {
        let arn = tg.target_group_arn().unwrap_or_default().to_string();
        let name = tg.target_group_name().unwrap_or(&arn).to_string();
        if let Some(t) = tg.target_type()
            && t.as_str() != "instance"
        {
            return Err(ElbError::UnsupportedTargetType {
                name,
                target_type: t.as_str().to_string(),
            });
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

    /// Target groups by name or ARN (none when unknown).
    pub(super) async fn target_groups_named(
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
    pub(super) async fn v2_load_balancer(&self, name: &str) -> Result<Option<LbRef>, ElbError> {
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

    pub(super) async fn target_members(&self, lb: &LbRef) -> Result<Vec<MemberHealth>, ElbError> {
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

    pub(super) async fn register_targets(
        &self,
        lb: &LbRef,
        ids: &[String],
    ) -> Result<(), ElbError> {
        self.elbv2
            .register_targets()
            .target_group_arn(&lb.id)
            .set_targets(Some(target_descriptions(ids)))
            .send()
            .await
            .map_err(|e| classify("elasticloadbalancing:RegisterTargets", e))?;
        Ok(())
    }

    pub(super) async fn deregister_targets(
        &self,
        lb: &LbRef,
        ids: &[String],
    ) -> Result<(), ElbError> {
        self.elbv2
            .deregister_targets()
            .target_group_arn(&lb.id)
            .set_targets(Some(target_descriptions(ids)))
            .send()
            .await
            .map_err(|e| classify("elasticloadbalancing:DeregisterTargets", e))?;
        Ok(())
    }
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

/// ELBv2 target states; unknown future states count as not healthy.
pub(crate) fn target_health(state: &str) -> Health {
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

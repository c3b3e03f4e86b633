//! Classic ELBs: found by name, members are instances, health in the classic
//! API's words (where connection draining still reads `InService`).

use std::time::Duration;

use aws_sdk_ec2::error::DisplayErrorContext;

use super::client::Aws;
use super::errors::{classify, is_code};
use crate::error::ElbError;
use crate::model::{Health, LbKind, LbRef, MemberHealth};

impl Aws {
    /// A classic ELB by name, with its connection-draining timeout.
    pub(super) async fn classic(&self, name: &str) -> Result<Option<LbRef>, ElbError> {
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

    pub(super) async fn classic_members(&self, lb: &LbRef) -> Result<Vec<MemberHealth>, ElbError> {
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

    pub(super) async fn classic_register(
        &self,
        lb: &LbRef,
        ids: &[String],
    ) -> Result<(), ElbError> {
        self.elb
            .register_instances_with_load_balancer()
            .load_balancer_name(&lb.id)
            .set_instances(Some(classic_instances(ids)))
            .send()
            .await
            .map_err(|e| classify("elasticloadbalancing:RegisterInstancesWithLoadBalancer", e))?;
        Ok(())
    }

    pub(super) async fn classic_deregister(
        &self,
        lb: &LbRef,
        ids: &[String],
    ) -> Result<(), ElbError> {
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

/// Classic ELB states. During connection draining AWS keeps reporting the
/// instance `InService` (its in-flight connections are still served) with the
/// description "Instance deregistration currently in progress": the
/// description decides, whatever the state, because a draining instance is no
/// member any more and must never count as the healthy one that keeps the load
/// balancer lit.
pub(crate) fn classic_health(state: &str, description: &str) -> Health {
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

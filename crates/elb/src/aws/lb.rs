//! The load balancer API over both kinds AWS has: a name resolves to a classic
//! ELB, a target group, or an ALB/NLB with one target group (in that order), and
//! health and (de)registration go to the API of the kind found.

use super::client::Aws;
use super::errors::classify;
use crate::error::ElbError;
use crate::model::{LbKind, LbRef, LoadBalancerApi, MemberHealth};

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
            LbKind::Classic => self.classic_members(lb).await,
            LbKind::TargetGroup => self.target_members(lb).await,
        }
    }

    async fn register(&self, lb: &LbRef, ids: &[String]) -> Result<(), ElbError> {
        match lb.kind {
            LbKind::Classic => self.classic_register(lb, ids).await,
            LbKind::TargetGroup => self.register_targets(lb, ids).await,
        }
    }

    async fn deregister(&self, lb: &LbRef, ids: &[String]) -> Result<(), ElbError> {
        match lb.kind {
            LbKind::Classic => self.classic_deregister(lb, ids).await,
            LbKind::TargetGroup => self.deregister_targets(lb, ids).await,
        }
    }
}

impl Aws {
    /// The DNS name clients reach `lb` by: the classic ELB's, or that of the
    /// load balancer a target group belongs to (the first, when it belongs to
    /// several); `None` for a target group attached to no load balancer.
    pub async fn dns_name(&self, lb: &LbRef) -> Result<Option<String>, ElbError> {
        match lb.kind {
            LbKind::Classic => {
                let out = self
                    .elb
                    .describe_load_balancers()
                    .load_balancer_names(&lb.id)
                    .send()
                    .await
                    .map_err(|e| classify("elasticloadbalancing:DescribeLoadBalancers", e))?;
                Ok(out
                    .load_balancer_descriptions()
                    .first()
                    .and_then(|d| d.dns_name())
                    .map(str::to_string))
            }
            LbKind::TargetGroup => {
                let tgs = self
                    .elbv2
                    .describe_target_groups()
                    .target_group_arns(&lb.id)
                    .send()
                    .await
                    .map_err(|e| classify("elasticloadbalancing:DescribeTargetGroups", e))?;
                let Some(first) = tgs
                    .target_groups()
                    .first()
                    .and_then(|t| t.load_balancer_arns().first())
                else {
                    return Ok(None);
                };
                let lbs = self
                    .elbv2
                    .describe_load_balancers()
                    .load_balancer_arns(first)
                    .send()
                    .await
                    .map_err(|e| classify("elasticloadbalancing:DescribeLoadBalancers", e))?;
                Ok(lbs
                    .load_balancers()
                    .first()
                    .and_then(|l| l.dns_name())
                    .map(str::to_string))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::classic::classic_health;
    use super::super::target_group::target_health;
    use crate::model::Health;

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
}

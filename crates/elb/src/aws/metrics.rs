//! CloudWatch for the burn-down. ELB metrics have no per-member dimension, so a
//! metric counts only the deregistered members' traffic when cross-zone load
//! balancing is off and no remaining member shares their zones; else there is none.

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use super::client::Aws;
use super::errors::classify;
use crate::burn::{Reading, TrafficMetrics};
use crate::error::ElbError;
use crate::model::{LbKind, LbRef, LoadBalancerApi, members};

/// CloudWatch's period for ELB metrics, seconds.
const PERIOD: i64 = 60;
/// How long after a period ends CloudWatch may still publish its datapoint.
/// ELB publishes nothing for a period without traffic, so a period with no
/// datapoint counts as zero only once it ended this long ago.
const PUBLISH_LAG: i64 = 180;

/// Which metric counts the deregistered members' traffic, decided once.
#[derive(Debug, Clone)]
struct Scope {
    namespace: &'static str,
    metric: &'static str,
    stat: &'static str,
    /// Dimensions besides the zone.
    dimensions: Vec<(String, String)>,
    /// The zones whose traffic is the deregistered members' alone.
    zones: Vec<String>,
}

impl Scope {
    fn label(&self) -> String {
        let dims: Vec<String> = self
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "CloudWatch {} {} ({} per minute; {}; AvailabilityZone={})",
            self.namespace,
            self.metric,
            self.stat,
            dims.join(", "),
            self.zones.join("+")
        )
    }
}

/// [`TrafficMetrics`] over CloudWatch for the load balancer a switch changed.
pub struct CloudWatchTraffic {
    aws: Aws,
    scope: OnceCell<Result<Scope, String>>,
}

impl CloudWatchTraffic {
    pub fn new(aws: &Aws) -> CloudWatchTraffic {
        CloudWatchTraffic {
            aws: aws.clone(),
            scope: OnceCell::new(),
        }
    }
}

impl TrafficMetrics for CloudWatchTraffic {
    async fn in_flight(
        &self,
        lb: &LbRef,
        ids: &[String],
        since: DateTime<Utc>,
    ) -> Result<Reading, ElbError> {
        let scope = self
            .scope
            .get_or_try_init(|| self.aws.scope(lb, ids))
            .await?;
        let scope = match scope {
            Ok(s) => s,
            Err(why) => return Ok(Reading::NoMetric { why: why.clone() }),
        };
        let now = Utc::now();
        let points = self.aws.datapoints(scope, since, now).await?;
        Ok(combine(
            &scope.label(),
            points
                .iter()
                .map(|p| judge(p, since.timestamp(), now.timestamp()))
                .collect(),
        ))
    }
}

/// A zone's verdict.
#[derive(Debug, Clone, PartialEq)]
enum Judged {
    Value(f64),
    Pending(String),
}

/// One zone's datapoints (period start, value) judged at `now`: the latest
/// whole period after the deregistration that has a datapoint gives the
/// value; one without a datapoint counts as 0 once it ended [`PUBLISH_LAG`]
/// ago (ELB publishes nothing while no traffic flows); otherwise pending.
fn judge(points: &[(i64, f64)], since: i64, now: i64) -> Judged {
    // The first period that starts after the deregistration.
    let first = since.div_euclid(PERIOD) * PERIOD + if since % PERIOD == 0 { 0 } else { PERIOD };
    let mut start = (now - PERIOD).div_euclid(PERIOD) * PERIOD;
    if start < first {
        return Judged::Pending(
            "waiting for the first whole minute after the deregistration to end".into(),
        );
    }
    while start >= first {
        if let Some((_, v)) = points.iter().find(|(t, _)| *t == start) {
            return Judged::Value(*v);
        }
        if start + PERIOD <= now - PUBLISH_LAG {
            return Judged::Value(0.0);
        }
        start -= PERIOD;
    }
    Judged::Pending(format!(
        "no datapoint yet for the minutes after the deregistration (CloudWatch publishes up to {}s late)",
        PUBLISH_LAG
    ))
}

/// The zones together: traffic in any zone is traffic; otherwise any zone
/// still pending keeps the whole pending.
fn combine(metric: &str, zones: Vec<Judged>) -> Reading {
    let mut total = 0.0;
    let mut pending = None;
    for z in zones {
        match z {
            Judged::Value(v) => total += v,
            Judged::Pending(why) => pending = Some(why),
        }
    }
    match pending {
        Some(why) if total <= 0.0 => Reading::Pending {
            metric: metric.into(),
            why,
        },
        _ => Reading::InFlight {
            metric: metric.into(),
            value: total,
        },
    }
}

/// The zones only the deregistered members sit in, or why there are none:
/// `removed` and `remaining` are (instance, zone) pairs.
fn isolated_zones(
    removed: &[(String, Option<String>)],
    remaining: &[(String, Option<String>)],
) -> Result<Vec<String>, String> {
    let mut zones: Vec<String> = Vec::new();
    for (id, zone) in removed {
        let Some(zone) = zone else {
            return Err(format!("the Availability Zone of {id} is unknown"));
        };
        let shared: Vec<&str> = remaining
            .iter()
            .filter(|(_, z)| z.as_deref() == Some(zone.as_str()) || z.is_none())
            .map(|(i, _)| i.as_str())
            .collect();
        if !shared.is_empty() {
            return Err(format!(
                "{id} shares {zone} with remaining member(s) {}, and the metrics cannot tell members of one zone apart",
                shared.join(", ")
            ));
        }
        if !zones.contains(zone) {
            zones.push(zone.clone());
        }
    }
    zones.sort();
    Ok(zones)
}

/// `targetgroup/NAME/ID` or `app/NAME/ID` / `net/NAME/ID`: the part of an ARN
/// CloudWatch names a target group or load balancer by.
fn arn_dimension(arn: &str) -> Option<String> {
    let resource = arn.splitn(6, ':').nth(5)?;
    Some(
        resource
            .strip_prefix("loadbalancer/")
            .unwrap_or(resource)
            .to_string(),
    )
}

impl Aws {
    /// Which metric, if any, counts only the traffic of `ids`; `Ok(Err(why))`
    /// when none does.
    async fn scope(&self, lb: &LbRef, ids: &[String]) -> Result<Result<Scope, String>, ElbError> {
        let (cross_zone, namespace, metric, stat, dimensions) = match lb.kind {
            LbKind::Classic => {
                let attrs = self
                    .elb
                    .describe_load_balancer_attributes()
                    .load_balancer_name(&lb.id)
                    .send()
                    .await
                    .map_err(|e| {
                        classify("elasticloadbalancing:DescribeLoadBalancerAttributes", e)
                    })?;
                let cross = attrs
                    .load_balancer_attributes()
                    .and_then(|a| a.cross_zone_load_balancing())
                    .map(|c| c.enabled());
                (
                    cross,
                    "AWS/ELB",
                    "RequestCount",
                    "Sum",
                    vec![("LoadBalancerName".to_string(), lb.id.clone())],
                )
            }
            LbKind::TargetGroup => match self.target_group_scope(lb).await? {
                Ok(s) => s,
                Err(why) => return Ok(Err(why)),
            },
        };
        match cross_zone {
            Some(false) => {}
            Some(true) => {
                return Ok(Err(format!(
                    "cross-zone load balancing is on for {}: every zone's node sends to every member, so no metric of it counts only the deregistered ones",
                    lb.name
                )));
            }
            None => {
                return Ok(Err(format!(
                    "whether cross-zone load balancing is on for {} is unknown",
                    lb.name
                )));
            }
        }
        let health = self.health(lb).await?;
        let remaining: Vec<String> = members(&health)
            .into_iter()
            .filter(|m| !ids.contains(m))
            .collect();
        let zones_of = |wanted: &[String], found: &[(String, Option<String>)]| {
            wanted
                .iter()
                .map(|id| {
                    let zone = found
                        .iter()
                        .find(|(i, _)| i == id)
                        .and_then(|(_, z)| z.clone());
                    (id.clone(), zone)
                })
                .collect::<Vec<_>>()
        };
        let mut all = ids.to_vec();
        all.extend(remaining.iter().cloned());
        let found = self.zones(&all).await?;
        let zones = match isolated_zones(&zones_of(ids, &found), &zones_of(&remaining, &found)) {
            Ok(z) => z,
            Err(why) => return Ok(Err(why)),
        };
        Ok(Ok(Scope {
            namespace,
            metric,
            stat,
            dimensions,
            zones,
        }))
    }

    /// Cross-zone state and metric of a target group: ALB `RequestCount` by
    /// target group, or NLB `ActiveFlowCount` when the NLB has only this
    /// target group (its flow metrics have no target group dimension).
    #[allow(clippy::type_complexity)]
    async fn target_group_scope(
        &self,
        lb: &LbRef,
    ) -> Result<
        Result<
            (
                Option<bool>,
                &'static str,
                &'static str,
                &'static str,
                Vec<(String, String)>,
            ),
            String,
        >,
        ElbError,
    > {
        let tgs = self
            .elbv2
            .describe_target_groups()
            .target_group_arns(&lb.id)
            .send()
            .await
            .map_err(|e| classify("elasticloadbalancing:DescribeTargetGroups", e))?;
        let lb_arns: Vec<String> = tgs
            .target_groups()
            .first()
            .map(|t| t.load_balancer_arns().to_vec())
            .unwrap_or_default();
        let [lb_arn] = lb_arns.as_slice() else {
            return Ok(Err(format!(
                "target group {} belongs to {} load balancers, and its metrics are per load balancer",
                lb.name,
                lb_arns.len()
            )));
        };
        let lbs = self
            .elbv2
            .describe_load_balancers()
            .load_balancer_arns(lb_arn)
            .send()
            .await
            .map_err(|e| classify("elasticloadbalancing:DescribeLoadBalancers", e))?;
        let kind = lbs
            .load_balancers()
            .first()
            .and_then(|l| l.r#type())
            .map(|t| t.as_str().to_string())
            .unwrap_or_default();
        let tg_attrs = self
            .elbv2
            .describe_target_group_attributes()
            .target_group_arn(&lb.id)
            .send()
            .await
            .map_err(|e| classify("elasticloadbalancing:DescribeTargetGroupAttributes", e))?;
        let tg_cross = tg_attrs
            .attributes()
            .iter()
            .find(|a| a.key() == Some("load_balancing.cross_zone.enabled"))
            .and_then(|a| a.value())
            .map(str::to_string);
        let (Some(tg_dim), Some(lb_dim)) = (arn_dimension(&lb.id), arn_dimension(lb_arn)) else {
            return Ok(Err(format!("cannot read the ARNs of {}", lb.name)));
        };
        match kind.as_str() {
            "application" => {
                // ALB nodes are always cross-zone unless the target group turns it off.
                let cross = Some(tg_cross.as_deref() != Some("false"));
                Ok(Ok((
                    cross,
                    "AWS/ApplicationELB",
                    "RequestCount",
                    "Sum",
                    vec![
                        ("TargetGroup".to_string(), tg_dim),
                        ("LoadBalancer".to_string(), lb_dim),
                    ],
                )))
            }
            "network" => {
                let others = self
                    .elbv2
                    .describe_target_groups()
                    .load_balancer_arn(lb_arn)
                    .send()
                    .await
                    .map_err(|e| classify("elasticloadbalancing:DescribeTargetGroups", e))?;
                if others.target_groups().len() != 1 {
                    return Ok(Err(format!(
                        "the network load balancer of {} has {} target groups, and its flow metrics cannot tell them apart",
                        lb.name,
                        others.target_groups().len()
                    )));
                }
                let cross = match tg_cross.as_deref() {
                    Some("true") => Some(true),
                    Some("false") => Some(false),
                    _ => {
                        let attrs = self
                            .elbv2
                            .describe_load_balancer_attributes()
                            .load_balancer_arn(lb_arn)
                            .send()
                            .await
                            .map_err(|e| {
                                classify("elasticloadbalancing:DescribeLoadBalancerAttributes", e)
                            })?;
                        // Off by default on network load balancers.
                        Some(
                            attrs
                                .attributes()
                                .iter()
                                .find(|a| a.key() == Some("load_balancing.cross_zone.enabled"))
                                .and_then(|a| a.value())
                                == Some("true"),
                        )
                    }
                };
                Ok(Ok((
                    cross,
                    "AWS/NetworkELB",
                    "ActiveFlowCount",
                    "Maximum",
                    vec![("LoadBalancer".to_string(), lb_dim)],
                )))
            }
            other => Ok(Err(format!(
                "no in-flight metric is known for a load balancer of type `{other}`"
            ))),
        }
    }

    /// Availability Zones of `ids` (unknown ids are left out).
    async fn zones(&self, ids: &[String]) -> Result<Vec<(String, Option<String>)>, ElbError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(200) {
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .ec2
                    .describe_instances()
                    .filters(
                        aws_sdk_ec2::types::Filter::builder()
                            .name("instance-id")
                            .set_values(Some(chunk.to_vec()))
                            .build(),
                    )
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| classify("ec2:DescribeInstances", e))?;
                for r in page.reservations() {
                    for i in r.instances() {
                        if let Some(id) = i.instance_id() {
                            let zone = i
                                .placement()
                                .and_then(|p| p.availability_zone())
                                .map(str::to_string);
                            out.push((id.to_string(), zone));
                        }
                    }
                }
                token = page
                    .next_token()
                    .filter(|t| !t.is_empty())
                    .map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Per zone of `scope`, its (period start, value) datapoints since the
    /// minute of the deregistration.
    async fn datapoints(
        &self,
        scope: &Scope,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Vec<(i64, f64)>>, ElbError> {
        let start = since.timestamp().div_euclid(PERIOD) * PERIOD;
        let end = now.timestamp().div_euclid(PERIOD) * PERIOD + PERIOD;
        let mut req = self
            .cloudwatch
            .get_metric_data()
            .start_time(aws_smithy_types::DateTime::from_secs(start))
            .end_time(aws_smithy_types::DateTime::from_secs(end));
        for (i, zone) in scope.zones.iter().enumerate() {
            let mut metric = Metric::builder()
                .namespace(scope.namespace)
                .metric_name(scope.metric);
            for (k, v) in &scope.dimensions {
                metric = metric.dimensions(Dimension::builder().name(k).value(v).build());
            }
            metric = metric.dimensions(
                Dimension::builder()
                    .name("AvailabilityZone")
                    .value(zone)
                    .build(),
            );
            req = req.metric_data_queries(
                MetricDataQuery::builder()
                    .id(format!("z{i}"))
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric.build())
                            .period(PERIOD as i32)
                            .stat(scope.stat)
                            .build(),
                    )
                    .return_data(true)
                    .build(),
            );
        }
        let mut out = vec![Vec::new(); scope.zones.len()];
        let mut token: Option<String> = None;
        loop {
            let page = req
                .clone()
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| classify("cloudwatch:GetMetricData", e))?;
            for r in page.metric_data_results() {
                let Some(i) = r
                    .id()
                    .and_then(|id| id.strip_prefix('z'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|i| *i < out.len())
                else {
                    continue;
                };
                for (t, v) in r.timestamps().iter().zip(r.values()) {
                    out[i].push((t.secs(), *v));
                }
            }
            token = page
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000 - 1_700_000_000 % 60; // a minute boundary

    #[test]
    fn a_period_is_judged_only_once_whole_and_after_the_deregistration() {
        let since = T0 + 10;
        // The minute of the deregistration never counts; the next is not over.
        assert!(matches!(judge(&[], since, T0 + 100), Judged::Pending(_)));
        // Over, but not published yet, and ELB publishes nothing for idle minutes.
        assert!(matches!(judge(&[], since, T0 + 125), Judged::Pending(_)));
        // A datapoint settles it at once.
        assert_eq!(
            judge(&[(T0 + 60, 4.0)], since, T0 + 125),
            Judged::Value(4.0)
        );
        assert_eq!(
            judge(&[(T0 + 60, 0.0)], since, T0 + 125),
            Judged::Value(0.0)
        );
        // No datapoint long after the minute ended: nothing flowed.
        assert_eq!(
            judge(&[], since, T0 + 120 + PUBLISH_LAG),
            Judged::Value(0.0)
        );
        // The latest published minute wins over older ones.
        assert_eq!(
            judge(&[(T0 + 60, 9.0), (T0 + 120, 2.0)], since, T0 + 190),
            Judged::Value(2.0)
        );
        // Datapoints from before the deregistration never count.
        assert!(matches!(
            judge(&[(T0, 50.0)], since, T0 + 130),
            Judged::Pending(_)
        ));
    }

    #[test]
    fn zones_together() {
        assert_eq!(
            combine("m", vec![Judged::Value(0.0), Judged::Value(0.0)]),
            Reading::InFlight {
                metric: "m".into(),
                value: 0.0
            }
        );
        assert!(matches!(
            combine("m", vec![Judged::Value(0.0), Judged::Pending("p".into())]),
            Reading::Pending { .. }
        ));
        assert_eq!(
            combine("m", vec![Judged::Value(3.0), Judged::Pending("p".into())]),
            Reading::InFlight {
                metric: "m".into(),
                value: 3.0
            }
        );
    }

    #[test]
    fn only_zones_no_remaining_member_shares_are_attributable() {
        let p = |id: &str, z: Option<&str>| (id.to_string(), z.map(str::to_string));
        assert_eq!(
            isolated_zones(
                &[p("i-a1", Some("us-east-1a")), p("i-a2", Some("us-east-1a"))],
                &[p("i-b1", Some("us-east-1b"))]
            ),
            Ok(vec!["us-east-1a".to_string()])
        );
        let err = isolated_zones(
            &[p("i-a1", Some("us-east-1a"))],
            &[p("i-b1", Some("us-east-1a"))],
        )
        .unwrap_err();
        assert!(err.contains("i-b1"), "{err}");
        assert!(isolated_zones(&[p("i-a1", None)], &[]).is_err());
        assert!(isolated_zones(&[p("i-a1", Some("z"))], &[p("i-b1", None)]).is_err());
    }

    #[test]
    fn arn_dimensions() {
        assert_eq!(
            arn_dimension("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/live/abc")
                .as_deref(),
            Some("targetgroup/live/abc")
        );
        assert_eq!(
            arn_dimension("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/123")
                .as_deref(),
            Some("app/web/123")
        );
        assert_eq!(arn_dimension("nope"), None);
    }
}

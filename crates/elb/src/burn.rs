//! Burn-down: after A's members left the load balancer, wait until nothing reaches
//! them before calling them safe to scale down: by a metric that counts only their
//! traffic ([`TrafficMetrics`]) where AWS has one, else by the draining delay.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::error::ElbError;
use super::fence::Fence;
use super::machine::{Event, Machine};
use super::model::{LbKind, LbRef, LoadBalancerApi};

/// AWS's default deregistration delay of a target group, assumed when the
/// target group's own could not be read.
pub const DEFAULT_TARGET_GROUP_DELAY: Duration = Duration::from_secs(300);

/// What a metric says about the traffic still reaching some members.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// `value` requests or connections in the metric's latest judgeable period
    /// (0: none any more).
    InFlight { metric: String, value: f64 },
    /// There is a metric, but it cannot tell yet (no datapoint for a period
    /// after the deregistration has been published).
    Pending { metric: String, why: String },
    /// No metric counts only these members' traffic.
    NoMetric { why: String },
}

/// Traffic to deregistered members, from the load balancer's metrics.
/// Implemented over CloudWatch in `aws/` and by scripted fakes in the tests.
#[allow(async_fn_in_trait)]
pub trait TrafficMetrics {
    /// Requests or connections reaching `ids`, which were deregistered from
    /// `lb` at `since`, counted by a metric that counts nothing else.
    async fn in_flight(
        &self,
        lb: &LbRef,
        ids: &[String],
        since: DateTime<Utc>,
    ) -> Result<Reading, ElbError>;
}

/// No metric source: every burn-down waits out the draining delay.
pub struct NoMetrics;

impl TrafficMetrics for NoMetrics {
    async fn in_flight(
        &self,
        _: &LbRef,
        _: &[String],
        _: DateTime<Utc>,
    ) -> Result<Reading, ElbError> {
        Ok(Reading::NoMetric {
            why: "no metric source".into(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct BurnDownSettings {
    /// The longest the burn-down may take, counted from its start.
    pub timeout: Duration,
    /// Time between two metric reads.
    pub poll_interval: Duration,
}

/// How a burn-down ended, for the audit record and the CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurnDownRecord {
    /// The deregistered members waited for.
    pub members: Vec<String>,
    /// `metric`, `draining-delay` or `skipped`.
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// The metric's last value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_value: Option<f64>,
    /// Whether the members were found idle.
    pub reached: bool,
    pub waited_ms: u64,
    pub detail: String,
}

/// The delay AWS keeps a deregistered member's connections: the target
/// group's deregistration delay (AWS's default when unread), or the classic
/// ELB's connection-draining timeout (none when draining is off).
pub fn draining_delay(lb: &LbRef) -> Duration {
    match (lb.kind, lb.drain_delay) {
        (_, Some(d)) => d,
        (LbKind::TargetGroup, None) => DEFAULT_TARGET_GROUP_DELAY,
        (LbKind::Classic, None) => Duration::ZERO,
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// Waits until `ids` (deregistered from `lb` at `deregistered`) are idle, or
/// `settings.timeout` has passed, or Ctrl-C. Changes nothing. Returns the
/// record and, when the members are not known to be idle, why.
pub(crate) async fn wait<L: LoadBalancerApi, F: Fence, M: TrafficMetrics>(
    machine: &Machine<'_, L, F>,
    lb: &LbRef,
    ids: &[String],
    deregistered: (Instant, DateTime<Utc>),
    metrics: &M,
    settings: &BurnDownSettings,
) -> (BurnDownRecord, Option<String>) {
    let start = Instant::now();
    let deadline = start + settings.timeout;
    let mut record = BurnDownRecord {
        members: ids.to_vec(),
        method: "metric".into(),
        metric: None,
        last_value: None,
        reached: false,
        waited_ms: 0,
        detail: String::new(),
    };
    let interrupted = "interrupted (Ctrl-C or SIGTERM) while waiting for them to burn down";
    let mut last_said = String::new();
    machine.emit(Event::Step(format!(
        "waiting up to {}s until nothing reaches {} through {} any more",
        settings.timeout.as_secs(),
        ids.join(", "),
        lb.name
    )));
    let why_no_metric = loop {
        let reading = match machine
            .call("cloudwatch:GetMetricData", || {
                metrics.in_flight(lb, ids, deregistered.1)
            })
            .await
        {
            Ok(r) => r,
            Err(ElbError::Cancelled) => {
                record.waited_ms = ms(start.elapsed());
                record.detail = interrupted.into();
                return (record, Some(interrupted.into()));
            }
            Err(e) => {
                machine.emit(Event::Warning(format!(
                    "cannot read the traffic of {} ({e}); waiting out the draining delay instead",
                    ids.join(", ")
                )));
                Reading::NoMetric {
                    why: format!("the metric could not be read: {e}"),
                }
            }
        };
        let (metric, said) = match reading {
            Reading::NoMetric { why } => break why,
            Reading::InFlight { metric, value } => {
                record.last_value = Some(value);
                if value <= 0.0 {
                    record.metric = Some(metric.clone());
                    record.reached = true;
                    record.waited_ms = ms(start.elapsed());
                    record.detail = format!("{metric} reached 0");
                    machine.emit(Event::Step(format!(
                        "nothing reaches {} any more: {metric} is 0",
                        ids.join(", ")
                    )));
                    return (record, None);
                }
                let said = format!("{metric}: {value} still reaching {}", ids.join(", "));
                (metric, said)
            }
            Reading::Pending { metric, why } => {
                let said = format!("{metric}: {why}");
                (metric, said)
            }
        };
        record.metric = Some(metric);
        if said != last_said {
            machine.emit(Event::Step(said.clone()));
            last_said = said.clone();
        }
        let now = Instant::now();
        if now >= deadline {
            record.waited_ms = ms(start.elapsed());
            record.detail = format!("after {}s: {said}", settings.timeout.as_secs());
            let why = format!(
                "after the --burn-down-timeout of {}s, {said}",
                settings.timeout.as_secs()
            );
            return (record, Some(why));
        }
        if machine
            .pause(settings.poll_interval.min(deadline - now))
            .await
            .is_err()
        {
            record.waited_ms = ms(start.elapsed());
            record.detail = interrupted.into();
            return (record, Some(interrupted.into()));
        }
    };

    // No metric: the draining delay, counted from the deregistration.
    let delay = draining_delay(lb);
    record.method = "draining-delay".into();
    let until = deregistered.0 + delay;
    let now = Instant::now();
    let left = until.saturating_duration_since(now);
    let what = if delay.is_zero() {
        format!(
            "no metric counts only their traffic ({why_no_metric}), and {} has no draining delay: AWS closed their connections at the deregistration",
            lb.name
        )
    } else {
        format!(
            "no metric counts only their traffic ({why_no_metric}), so the draining delay of {}s of {} (counted from their deregistration) is waited out",
            delay.as_secs(),
            lb.name
        )
    };
    if until > deadline {
        record.waited_ms = ms(start.elapsed());
        record.detail = format!("{what}; it ends after --burn-down-timeout");
        let why = format!(
            "{what}, and its remaining {}s outlast the --burn-down-timeout of {}s (raise it)",
            left.as_secs(),
            settings.timeout.as_secs()
        );
        return (record, Some(why));
    }
    if !delay.is_zero() {
        machine.emit(Event::Step(format!(
            "{what}: {}s left",
            left.as_secs_f64().ceil() as u64
        )));
    }
    if machine.pause(left).await.is_err() {
        record.waited_ms = ms(start.elapsed());
        record.detail = interrupted.into();
        return (record, Some(interrupted.into()));
    }
    record.reached = true;
    record.waited_ms = ms(start.elapsed());
    record.detail = what.clone();
    machine.emit(Event::Step(if delay.is_zero() {
        format!(
            "{what}: nothing reaches {} through it any more",
            ids.join(", ")
        )
    } else {
        format!(
            "the draining delay of {} has passed: nothing reaches {} through it any more",
            lb.name,
            ids.join(", ")
        )
    }));
    (record, None)
}

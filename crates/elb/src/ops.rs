//! The three operations end to end — status, switch, rollback — composed from
//! discovery, the state machine (with its smoke gate), the burn-down wait and
//! the state bucket. Generic over the traits, so the same code runs against
//! AWS, moto and the unit-test fakes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use serde::Serialize;

use super::burn::{self, BurnDownRecord, BurnDownSettings, NoMetrics, TrafficMetrics};
use super::error::ElbError;
use super::fence::Fence;
use super::machine::{Cancel, Event, Failure, Machine, SmokeStage, Timing, Transition};
use super::model::{
    Health, InstanceDirectory, LbRef, LoadBalancerApi, StateStore, healthy_count, members,
};
use super::smoke::{NoSmoke, SmokeCheck, SmokeGate, SmokeRecord, SmokeSettings};
use super::state::{self, AuditRecord, LockOptions, Phase, SwitchRecord};

/// Which instances belong to a cluster: the cluster tag plus the role tags.
#[derive(Debug, Clone)]
pub struct Selector {
    pub cluster_tag: String,
    /// Tags every ingress instance carries besides the cluster tag.
    pub tags: Vec<(String, String)>,
}

impl Selector {
    pub fn filter_for(&self, cluster: &str) -> Vec<(String, String)> {
        let mut out = vec![(self.cluster_tag.clone(), cluster.to_string())];
        out.extend(self.tags.iter().cloned());
        out
    }

    pub(crate) fn describe(&self, cluster: &str) -> String {
        let tags: Vec<String> = self
            .filter_for(cluster)
            .iter()
            .map(|(k, v)| format!("tag {k}={v}"))
            .collect();
        format!("{} (state running)", tags.join(", "))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberStatus {
    pub id: String,
    pub cluster: Option<String>,
    pub health: Health,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LbStatus {
    pub role: Option<String>,
    pub name: String,
    pub kind: String,
    pub id: String,
    pub vpc_id: Option<String>,
    pub healthy: usize,
    pub members: Vec<MemberStatus>,
    /// Clusters with at least one healthy member: the ones taking traffic.
    pub serving: Vec<String>,
    /// Members grouped by cluster tag (`-` for instances without one).
    pub clusters: BTreeMap<String, Vec<String>>,
    /// The last recorded switch, when the state bucket is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_switch: Option<SwitchRecord>,
    /// Who holds the lock right now, when the state bucket is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<state::LockRecord>,
}

pub async fn status<L: LoadBalancerApi, D: InstanceDirectory>(
    api: &L,
    dir: &D,
    lb: &LbRef,
    role: Option<String>,
    cluster_tag: &str,
) -> Result<LbStatus, ElbError> {
    let health = api.health(lb).await?;
    let ids: Vec<String> = health.iter().map(|m| m.id.clone()).collect();
    let infos = if ids.is_empty() {
        Vec::new()
    } else {
        dir.describe(&ids).await?
    };
    let cluster_of = |id: &str| {
        infos
            .iter()
            .find(|i| i.id == id)
            .and_then(|i| i.tags.get(cluster_tag).cloned())
    };
    let mut out_members = Vec::new();
    let mut clusters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut serving = BTreeSet::new();
    for m in &health {
        let cluster = cluster_of(&m.id);
        let group = cluster.clone().unwrap_or_else(|| "-".into());
        if m.health == Health::Healthy {
            serving.insert(group.clone());
        }
        clusters.entry(group).or_default().push(m.id.clone());
        out_members.push(MemberStatus {
            id: m.id.clone(),
            cluster,
            health: m.health.clone(),
            reason: m.reason.clone(),
        });
    }
    out_members.sort_by(|a, b| (&a.cluster, &a.id).cmp(&(&b.cluster, &b.id)));
    Ok(LbStatus {
        role,
        name: lb.name.clone(),
        kind: lb.kind.to_string(),
        id: lb.id.clone(),
        vpc_id: lb.vpc_id.clone(),
        healthy: healthy_count(&health, None),
        members: out_members,
        serving: serving.into_iter().collect(),
        clusters,
        last_switch: None,
        lock: None,
    })
}

#[derive(Debug, Clone)]
pub struct SwitchRequest {
    pub to_cluster: String,
    pub from_cluster: Option<String>,
    pub selector: Selector,
    pub min_healthy: Option<usize>,
    pub keep_old: bool,
}

/// Everything a switch will do, computed before anything changes: what
/// `--dry-run` prints and what the state record keeps.
#[derive(Debug, Clone)]
pub struct Plan {
    pub lb: LbRef,
    pub to_cluster: String,
    pub from_cluster: Option<String>,
    pub transition: Transition,
    /// Members neither of the new cluster nor of `--from`: left alone.
    pub untouched: Vec<String>,
    pub healthy_now: usize,
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        self.transition.register.is_empty() && self.transition.deregister.is_empty()
    }

    /// The steps in order, as sentences.
    pub fn steps(&self, timing: &Timing) -> Vec<String> {
        self.steps_with(timing, &SmokeSettings::default(), None)
    }

    /// The steps in order with the smoke checks and the burn-down wait.
    pub fn steps_with(
        &self,
        timing: &Timing,
        smoke: &SmokeSettings,
        burn_down: Option<&BurnDownSettings>,
    ) -> Vec<String> {
        let t = &self.transition;
        let lb = &self.lb.name;
        let mut out = vec![
            format!("take the lock of {lb} in the state bucket"),
            format!(
                "record the current membership of {lb}: {}",
                list_or_none(&t.before)
            ),
        ];
        if t.register.is_empty() {
            out.push(format!(
                "register nothing: {} already member(s)",
                t.gate.join(", ")
            ));
        } else {
            out.push(format!("register {} with {lb}", t.register.join(", ")));
        }
        out.push(format!(
            "wait up to {}s until {} of {} instance(s) of {} report healthy (polling every {}s)",
            timing.health_timeout.as_secs(),
            t.min_healthy,
            t.gate.len(),
            self.to_cluster,
            timing.poll_interval.as_secs_f64()
        ));
        if !smoke.checks.is_empty() {
            let env: Vec<String> = smoke
                .env
                .vars()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push(format!(
                "run {} smoke check(s) in order, each stopped after {}s, the first failure rolling the switch back before anything is deregistered; commands get {}",
                smoke.checks.len(),
                smoke.timeout.as_secs_f64(),
                env.join(" ")
            ));
            for (i, check) in smoke.checks.iter().enumerate() {
                out.push(match check {
                    SmokeCheck::Command(c) => format!(
                        "smoke check {}: sh -c {} (passes on exit status 0)",
                        i + 1,
                        check_text(c)
                    ),
                    SmokeCheck::Url { url, expect_status } => format!(
                        "smoke check {}: GET {} every {}s until it answers HTTP {expect_status}",
                        i + 1,
                        check_text(&smoke.env.expand(url)),
                        smoke.retry_every.as_secs_f64()
                    ),
                });
            }
        }
        if t.deregister.is_empty() {
            out.push("deregister nothing (--keep-old, or no old members)".into());
        } else {
            out.push(format!(
                "check that {lb} keeps a healthy member, then deregister {}",
                t.deregister.join(", ")
            ));
            out.push(format!(
                "wait up to {}s for {} to drain",
                timing.drain_timeout.as_secs(),
                t.deregister.join(", ")
            ));
            if let Some(b) = burn_down {
                out.push(format!(
                    "record the switch as completed, then wait up to {}s until nothing reaches {} through {lb} any more (a CloudWatch metric that counts only their traffic where there is one, else the draining delay of {}s from their deregistration), and list what of {} is then safe to scale down",
                    b.timeout.as_secs(),
                    t.deregister.join(", "),
                    burn::draining_delay(&self.lb).as_secs(),
                    self.from_cluster.as_deref().unwrap_or("the old members")
                ));
            }
        }
        if !self.untouched.is_empty() {
            out.push(format!(
                "leave {} alone (neither {} nor {})",
                self.untouched.join(", "),
                self.to_cluster,
                self.from_cluster.as_deref().unwrap_or("-")
            ));
        }
        out.push("append an audit record and release the lock".into());
        out
    }
}

/// A command or URL of a smoke check in a dry-run step: quoted, one line.
fn check_text(s: &str) -> String {
    format!(
        "'{}'",
        super::smoke::escape_output(s)
            .replace('\n', "\\n")
            .replace('\'', "'\\''")
    )
}

fn list_or_none(ids: &[String]) -> String {
    if ids.is_empty() {
        "(none)".into()
    } else {
        ids.join(", ")
    }
}

/// Discovers the instances and validates the request. Reads only.
pub async fn plan_switch<L: LoadBalancerApi, D: InstanceDirectory>(
    api: &L,
    dir: &D,
    lb: &LbRef,
    req: &SwitchRequest,
) -> Result<Plan, ElbError> {
    if req.from_cluster.as_deref() == Some(req.to_cluster.as_str()) {
        return Err(ElbError::Input(format!(
            "--from and --to both name cluster `{}`",
            req.to_cluster
        )));
    }
    let found = dir
        .find_running(&req.selector.filter_for(&req.to_cluster))
        .await?;
    if found.is_empty() {
        return Err(ElbError::NoInstances {
            filter: req.selector.describe(&req.to_cluster),
        });
    }
    if let Some(lb_vpc) = &lb.vpc_id {
        for inst in &found {
            if inst.vpc_id.as_deref() != Some(lb_vpc.as_str()) {
                return Err(ElbError::WrongVpc {
                    instance: inst.id.clone(),
                    instance_vpc: inst.vpc_id.clone().unwrap_or_else(|| "no VPC".into()),
                    lb: lb.name.clone(),
                    lb_vpc: lb_vpc.clone(),
                });
            }
        }
    }
    let mut gate: Vec<String> = found.iter().map(|i| i.id.clone()).collect();
    gate.sort();
    gate.dedup();
    let min_healthy = req.min_healthy.unwrap_or(gate.len());
    if min_healthy == 0 || min_healthy > gate.len() {
        return Err(ElbError::Input(format!(
            "--min-healthy {min_healthy} must be between 1 and the {} instance(s) of {}",
            gate.len(),
            req.to_cluster
        )));
    }

    let health = api.health(lb).await?;
    let before = members(&health);
    let infos = if before.is_empty() {
        Vec::new()
    } else {
        dir.describe(&before).await?
    };
    let cluster_of = |id: &str| {
        infos
            .iter()
            .find(|i| i.id == id)
            .and_then(|i| i.tags.get(&req.selector.cluster_tag).cloned())
    };
    let register: Vec<String> = gate
        .iter()
        .filter(|id| !before.contains(id))
        .cloned()
        .collect();
    let others: Vec<String> = before
        .iter()
        .filter(|id| !gate.contains(id))
        .cloned()
        .collect();
    let (old, untouched): (Vec<String>, Vec<String>) = match &req.from_cluster {
        Some(from) => others
            .into_iter()
            .partition(|id| cluster_of(id).as_deref() == Some(from.as_str())),
        None => (others, Vec::new()),
    };
    let from_cluster = req.from_cluster.clone().or_else(|| {
        let names: BTreeSet<String> = old
            .iter()
            .map(|id| cluster_of(id).unwrap_or_else(|| "-".into()))
            .collect();
        (!names.is_empty()).then(|| names.into_iter().collect::<Vec<_>>().join("+"))
    });
    let deregister = if req.keep_old { Vec::new() } else { old };
    Ok(Plan {
        lb: lb.clone(),
        to_cluster: req.to_cluster.clone(),
        from_cluster,
        transition: Transition {
            before,
            register,
            deregister,
            gate,
            min_healthy,
        },
        untouched,
        healthy_now: healthy_count(&health, None),
    })
}

/// Everything an operation needs besides the plan.
pub struct Context<'a, L, S> {
    pub api: &'a L,
    pub store: &'a S,
    pub who: String,
    pub lock: LockOptions,
    pub timing: Timing,
    pub cancel: Cancel,
    pub report: &'a (dyn Fn(&Event) + Sync),
}

/// What a switch runs besides the membership changes: its smoke checks (run
/// through `gate`) and, when asked for, the burn-down wait (read through
/// `metrics`).
pub struct Gates<'a, G, M> {
    pub smoke: SmokeSettings,
    pub gate: &'a G,
    pub burn_down: Option<BurnDownSettings>,
    pub metrics: &'a M,
}

impl Gates<'static, NoSmoke, NoMetrics> {
    /// No checks, no burn-down.
    pub fn none() -> Self {
        Gates {
            smoke: SmokeSettings::default(),
            gate: &NoSmoke,
            burn_down: None,
            metrics: &NoMetrics,
        }
    }
}

/// What a completed switch found besides its changes.
#[derive(Debug, Clone, Default)]
pub struct SwitchReport {
    pub smoke: Vec<SmokeRecord>,
    pub burn_down: Option<BurnDownRecord>,
    /// Old members that were deregistered and are still out of the load
    /// balancer at the end: safe to scale down when the burn-down reached idle.
    pub released: Vec<String>,
}

/// Lock, record, run the machine (which rolls back on failure), audit, unlock.
pub async fn execute_switch<L: LoadBalancerApi, S: StateStore>(
    cx: &Context<'_, L, S>,
    plan: &Plan,
) -> Result<(), ElbError> {
    execute_switch_gated(cx, plan, &Gates::none())
        .await
        .map(|_| ())
}

/// [`execute_switch`] with smoke checks between the new members' health and
/// the old ones' removal, and optionally the burn-down wait at the end.
pub async fn execute_switch_gated<L, S, G, M>(
    cx: &Context<'_, L, S>,
    plan: &Plan,
    gates: &Gates<'_, G, M>,
) -> Result<SwitchReport, ElbError>
where
    L: LoadBalancerApi,
    S: StateStore,
    G: SmokeGate,
    M: TrafficMetrics,
{
    let lb = &plan.lb;
    let lock = state::acquire(cx.store, lb, &cx.who, "switch", &cx.lock, Utc::now()).await?;
    let report = cx.report;
    let warn = move |w: String| report(&Event::Warning(w));
    let every = state::renew_every(cx.lock.stale_after);
    let result = state::keep_alive(
        cx.store,
        &lock,
        every,
        &warn,
        switch_locked(cx, plan, &lock, gates),
    )
    .await;
    let released = state::release(cx.store, lock).await;
    match (result, released) {
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
        (Ok(r), Ok(())) => Ok(r),
    }
}

async fn switch_locked<L, S, G, M>(
    cx: &Context<'_, L, S>,
    plan: &Plan,
    lock: &state::Lock,
    gates: &Gates<'_, G, M>,
) -> Result<SwitchReport, ElbError>
where
    L: LoadBalancerApi,
    S: StateStore,
    G: SmokeGate,
    M: TrafficMetrics,
{
    let lb = &plan.lb;
    let last = state::read_record(cx.store, lb).await?;
    if let Some(last) =
        last.filter(|r| matches!(r.phase, Phase::Started | Phase::RollbackIncomplete))
    {
        return Err(ElbError::Input(format!(
            "the last switch of {} ({}, by {} at {}) ended `{}`; run `abshift elb rollback` first",
            lb.name,
            last.operation_id,
            last.by,
            last.started_at.to_rfc3339(),
            last.phase.as_str()
        )));
    }
    let t = &plan.transition;
    // Every change the machine makes checks first that the lock is still ours.
    let fence = lock.fence(cx.store);
    let machine = Machine::new(
        cx.api,
        &fence,
        cx.timing.clone(),
        cx.cancel.clone(),
        cx.report,
    );
    // The plan was read before the lock: if someone changed the membership in
    // between, the recorded `before` would be wrong, and so would a rollback.
    let now = machine.members(lb).await?;
    if now != t.before {
        return Err(ElbError::Input(format!(
            "the membership of {} changed since the switch was planned ({} -> {}); run it again",
            lb.name,
            list_or_none(&t.before),
            list_or_none(&now)
        )));
    }
    let mut record = SwitchRecord {
        operation_id: state::new_id(),
        lb: lb.clone(),
        by: cx.who.clone(),
        started_at: Utc::now(),
        finished_at: None,
        from_cluster: plan.from_cluster.clone(),
        to_cluster: plan.to_cluster.clone(),
        before: t.before.clone(),
        register: t.register.clone(),
        deregister: t.deregister.clone(),
        phase: Phase::Started,
        detail: None,
    };
    // Second look at the lock, for stores that ignore `If-None-Match`: before
    // the record, so that an operator who lost the lock overwrites nothing.
    fence.check().await?;
    state::write_record(cx.store, &record).await?;
    (cx.report)(&Event::Step(format!(
        "recorded membership of {} as {} ({})",
        lb.name,
        list_or_none(&t.before),
        record.operation_id
    )));

    let smoke = SmokeStage::new(gates.gate, &gates.smoke);
    let outcome = machine.switch(lb, t, &smoke).await;
    let mut burn_down = None;
    let mut burn_err = None;
    if let (Ok(()), Some(settings), Some(deregistered)) =
        (&outcome, &gates.burn_down, machine.deregistered_at())
    {
        // Completed first: a crash during the wait must leave a completed
        // switch in the bucket, not a `started` one that asks for a rollback.
        let mut done = record.clone();
        done.phase = Phase::Completed;
        done.finished_at = Some(Utc::now());
        let written = machine
            .uncancellable()
            .call("s3:PutObject (state record)", || async {
                fence.check().await?;
                state::write_record(cx.store, &done).await
            })
            .await;
        match written {
            Ok(()) => {
                let (rec, why) = burn::wait(
                    &machine,
                    lb,
                    &t.deregister,
                    deregistered,
                    gates.metrics,
                    settings,
                )
                .await;
                burn_err = why;
                burn_down = Some(rec);
            }
            Err(e) => {
                let why = format!(
                    "the burn-down did not start: the state record could not be written ({e})"
                );
                burn_down = Some(BurnDownRecord {
                    members: t.deregister.clone(),
                    method: "skipped".into(),
                    metric: None,
                    last_value: None,
                    reached: false,
                    waited_ms: 0,
                    detail: why.clone(),
                });
                burn_err = Some(why);
            }
        }
    }
    let burn_err = burn_err.map(|why| ElbError::BurnDownIncomplete {
        lb: lb.name.clone(),
        from: plan
            .from_cluster
            .clone()
            .unwrap_or_else(|| "the old cluster".into()),
        ids: t.deregister.join(", "),
        why,
    });
    // What went wrong before the lock was found lost, for the audit record.
    let mut prior = None;
    let (phase, result, err) = match outcome {
        Ok(()) => (Phase::Completed, "completed", burn_err),
        // Stopped before a change, not rolled back: `conclude` leaves the
        // record to the new holder.
        Err(Failure {
            cause,
            rollback: None,
        }) => (Phase::Started, "lock-lost", Some(cause)),
        Err(Failure {
            cause,
            rollback: Some(Err(lost @ ElbError::LockLost { .. })),
        }) => {
            let failed = format!("switch failed: {cause}; its rollback stopped");
            (cx.report)(&Event::Warning(failed.clone()));
            prior = Some(failed);
            (Phase::RollbackIncomplete, "lock-lost", Some(lost))
        }
        Err(Failure {
            cause,
            rollback: Some(Ok(())),
        }) => (
            Phase::RolledBack,
            "rolled-back",
            Some(ElbError::SwitchFailed {
                cause: Box::new(cause),
                rollback: None,
            }),
        ),
        Err(Failure {
            cause,
            rollback: Some(Err(rb)),
        }) => (
            Phase::RollbackIncomplete,
            "rollback-incomplete",
            Some(ElbError::SwitchFailed {
                cause: Box::new(cause),
                rollback: Some(Box::new(rb)),
            }),
        ),
    };
    record.phase = phase;
    record.finished_at = Some(Utc::now());
    record.detail = prior.or_else(|| err.as_ref().map(|e| e.to_string()));
    let after = cx.api.health(lb).await.map(|h| members(&h)).ok();
    let released: Vec<String> = match &after {
        Some(now) => t
            .deregister
            .iter()
            .filter(|id| !now.contains(id))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let smoke = smoke.records();
    let audit = AuditRecord {
        operation: "switch".into(),
        operation_id: record.operation_id.clone(),
        who: cx.who.clone(),
        when: Utc::now(),
        lb: lb.name.clone(),
        lb_kind: lb.kind.to_string(),
        from: plan.from_cluster.clone(),
        to: plan.to_cluster.clone(),
        before: t.before.clone(),
        after: after.unwrap_or_default(),
        result: result.into(),
        detail: record.detail.clone(),
        smoke: smoke.clone(),
        burn_down: burn_down.clone(),
    };
    conclude(&machine, cx, &fence, &record, audit, "switch", err).await?;
    Ok(SwitchReport {
        smoke,
        burn_down,
        released,
    })
}

/// The old members a completed switch released, with their `Name` tags: what
/// the operator may scale down once nothing reaches them (ids EC2 no longer
/// knows are listed without a name).
pub async fn released_instances<D: InstanceDirectory>(
    dir: &D,
    ids: &[String],
) -> Result<Vec<(String, Option<String>)>, ElbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let infos = dir.describe(ids).await?;
    Ok(ids
        .iter()
        .map(|id| {
            let name = infos
                .iter()
                .find(|i| &i.id == id)
                .and_then(|i| i.tags.get("Name").cloned());
            (id.clone(), name)
        })
        .collect())
}

/// The end of an operation: the final state record, then the audit record,
/// then the result, with `err` the operation's own failure. Both writes are
/// retried like every AWS call (and not cut short by Ctrl-C): a record left at
/// `started` after a switch that worked makes the next switch demand a
/// rollback of it. What could not be written is named, apart from the
/// operation's own outcome.
///
/// The state record belongs to whoever holds the lock: once the lock is lost
/// (during the operation, or found lost just before the write) the record is
/// left to the new holder, the audit record (create-only, never overwriting
/// anything) still says what this command did, and the result is `LockLost`.
async fn conclude<L: LoadBalancerApi, S: StateStore, F: Fence>(
    machine: &Machine<'_, L, F>,
    cx: &Context<'_, L, S>,
    fence: &F,
    record: &SwitchRecord,
    mut audit: AuditRecord,
    operation: &'static str,
    err: Option<ElbError>,
) -> Result<(), ElbError> {
    let machine = machine.uncancellable();
    let warn = |w: String| (cx.report)(&Event::Warning(w));
    let err = match err {
        // Stopped by the fence before a change.
        Some(lost @ ElbError::LockLost { .. }) => {
            audit.result = "lock-lost".into();
            audit.detail = Some(match audit.detail.take() {
                Some(d) if d != lost.to_string() => format!("{lost}; before that: {d}"),
                _ => lost.to_string(),
            });
            append_audit_of_lost(&machine, cx, &record.lb, &audit, &warn).await;
            return Err(lost);
        }
        err => err,
    };
    let written = machine
        .call("s3:PutObject (state record)", || async {
            fence.check().await?;
            state::write_record(cx.store, record).await
        })
        .await;
    let bookkeeping = match written {
        // Every change was made under the lock, but the record is not ours
        // to write any more.
        Err(lost @ ElbError::LockLost { .. }) => {
            warn(match &err {
                Some(e @ (ElbError::SwitchFailed { .. } | ElbError::BurnDownIncomplete { .. })) => {
                    e.to_string()
                }
                Some(e) => format!("{operation} failed: {e}"),
                None => format!(
                    "{operation} completed, but the lock was lost before its state record was written; the record is left to the lock's new holder"
                ),
            });
            audit.detail = Some(match audit.detail.take() {
                Some(d) => format!("{d}; state record not written: {lost}"),
                None => format!("state record not written: {lost}"),
            });
            append_audit_of_lost(&machine, cx, &record.lb, &audit, &warn).await;
            return Err(lost);
        }
        Err(e) => Err(ElbError::RecordNotWritten {
            operation,
            what: "state record",
            why: Box::new(e),
        }),
        Ok(()) => machine
            .call("s3:PutObject (audit record)", || {
                state::append_audit(cx.store, &record.lb, &audit)
            })
            .await
            .map_err(|e| ElbError::RecordNotWritten {
                operation,
                what: "audit record",
                why: Box::new(e),
            }),
    };
    // Bookkeeping failures must not hide what happened to the load balancer.
    match (err, bookkeeping) {
        (Some(e), Err(b)) => {
            // Not `b` itself: its text says the operation completed, and it did not.
            let why = match b {
                ElbError::RecordNotWritten { what, why, .. } => {
                    format!("{what} not written: {why}")
                }
                other => other.to_string(),
            };
            warn(why);
            Err(e)
        }
        (Some(e), Ok(())) => Err(e),
        (None, Err(b)) => Err(b),
        (None, Ok(())) => Ok(()),
    }
}

/// Appends the audit record of an operation that lost its lock; a failure is
/// only a warning, the lost lock being the result.
async fn append_audit_of_lost<L: LoadBalancerApi, S: StateStore, F: Fence>(
    machine: &Machine<'_, L, F>,
    cx: &Context<'_, L, S>,
    lb: &LbRef,
    audit: &AuditRecord,
    warn: &dyn Fn(String),
) {
    let appended = machine
        .call("s3:PutObject (audit record)", || {
            state::append_audit(cx.store, lb, audit)
        })
        .await;
    if let Err(e) = appended {
        warn(format!("audit record not written: {e}"));
    }
}

/// What a rollback would do: the recorded switch and the resulting changes.
#[derive(Debug, Clone)]
pub struct RollbackPlan {
    pub record: SwitchRecord,
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

pub async fn plan_rollback<L: LoadBalancerApi, S: StateStore>(
    api: &L,
    store: &S,
    lb: &LbRef,
) -> Result<RollbackPlan, ElbError> {
    let record = state::read_record(store, lb)
        .await?
        .ok_or_else(|| ElbError::NothingRecorded(lb.name.clone()))?;
    let current = members(&api.health(lb).await?);
    let add = record
        .before
        .iter()
        .filter(|id| !current.contains(id))
        .cloned()
        .collect();
    let remove = current
        .iter()
        .filter(|id| !record.before.contains(id))
        .cloned()
        .collect();
    Ok(RollbackPlan {
        record,
        add,
        remove,
    })
}

/// Restores the membership recorded by the last switch, under the lock.
pub async fn execute_rollback<L: LoadBalancerApi, S: StateStore>(
    cx: &Context<'_, L, S>,
    lb: &LbRef,
) -> Result<(), ElbError> {
    let lock = state::acquire(cx.store, lb, &cx.who, "rollback", &cx.lock, Utc::now()).await?;
    let report = cx.report;
    let warn = move |w: String| report(&Event::Warning(w));
    let every = state::renew_every(cx.lock.stale_after);
    let result = state::keep_alive(
        cx.store,
        &lock,
        every,
        &warn,
        rollback_locked(cx, lb, &lock),
    )
    .await;
    let released = state::release(cx.store, lock).await;
    result.and(released)
}

async fn rollback_locked<L: LoadBalancerApi, S: StateStore>(
    cx: &Context<'_, L, S>,
    lb: &LbRef,
    lock: &state::Lock,
) -> Result<(), ElbError> {
    let mut record = state::read_record(cx.store, lb)
        .await?
        .ok_or_else(|| ElbError::NothingRecorded(lb.name.clone()))?;
    let before_now = cx.api.health(lb).await.map(|h| members(&h)).ok();
    // Every change the machine makes checks first that the lock is still ours.
    let fence = lock.fence(cx.store);
    let machine = Machine::new(
        cx.api,
        &fence,
        cx.timing.clone(),
        cx.cancel.clone(),
        cx.report,
    );
    let outcome = machine.restore(lb, &record.before).await;
    let after = cx.api.health(lb).await.map(|h| members(&h)).ok();
    let (phase, result) = match &outcome {
        Ok(()) => (Phase::RolledBack, "completed"),
        Err(ElbError::LockLost { .. }) => (Phase::RollbackIncomplete, "lock-lost"),
        Err(_) => (Phase::RollbackIncomplete, "failed"),
    };
    record.phase = phase;
    record.finished_at = Some(Utc::now());
    record.detail = outcome.as_ref().err().map(|e| e.to_string());
    let audit = AuditRecord {
        operation: "rollback".into(),
        operation_id: state::new_id(),
        who: cx.who.clone(),
        when: Utc::now(),
        lb: lb.name.clone(),
        lb_kind: lb.kind.to_string(),
        from: Some(record.to_cluster.clone()),
        to: record
            .from_cluster
            .clone()
            .unwrap_or_else(|| list_or_none(&record.before)),
        before: before_now.unwrap_or_default(),
        after: after.unwrap_or_default(),
        result: result.into(),
        detail: record.detail.clone(),
        smoke: Vec::new(),
        burn_down: None,
    };
    conclude(
        &machine,
        cx,
        &fence,
        &record,
        audit,
        "rollback",
        outcome.err(),
    )
    .await
}

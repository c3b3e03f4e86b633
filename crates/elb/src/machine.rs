//! The switch state machine: register the new members, wait for them to be
//! healthy, run the smoke checks, deregister the old ones, wait for draining —
//! and on any failure put the recorded membership back. Pure logic over
//! `LoadBalancerApi` and `SmokeGate`, so every path (timeouts, flapping,
//! throttling, failing or hanging checks, Ctrl-C, a lost lock) is unit-tested
//! with fakes; every change it makes goes through the lock's fence.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::Instant;

use super::error::{ElbError, SmokeFailure};
use super::fence::{Fence, Fenced};
use super::model::{Health, LbRef, LoadBalancerApi, MemberHealth, healthy_count, members};
use super::smoke::{CheckEnd, SmokeCheck, SmokeGate, SmokeOutput, SmokeRecord, SmokeSettings};

/// Deadlines and poll/retry pacing. Production values come from the flags;
/// tests use milliseconds.
#[derive(Debug, Clone)]
pub struct Timing {
    pub poll_interval: Duration,
    pub health_timeout: Duration,
    pub drain_timeout: Duration,
    /// Total tries of one API call when it fails transiently (throttling, 5xx).
    pub attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            poll_interval: Duration::from_secs(5),
            health_timeout: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(300),
            attempts: 6,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(20),
        }
    }
}

/// What a switch changes, decided (and recorded) before anything is touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Membership when the switch started: what a rollback restores.
    pub before: Vec<String>,
    pub register: Vec<String>,
    pub deregister: Vec<String>,
    /// The new cluster's instances whose health gates the deregistration.
    pub gate: Vec<String>,
    pub min_healthy: usize,
}

/// Progress reports, so the CLI can print and tests can observe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Step(String),
    Health {
        healthy: usize,
        need: usize,
        of: usize,
    },
    Retry {
        action: &'static str,
        attempt: u32,
        delay: Duration,
        message: String,
    },
    RollingBack(String),
    Warning(String),
    /// A smoke check ended (passed or not).
    Smoke(SmokeRecord),
}

/// Ctrl-C as a value: `true` once the operator asked to stop. A machine checks
/// it between steps and while waiting, never in the middle of an API call, so
/// that it always knows what it has changed.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Option<watch::Receiver<bool>>);

impl Cancel {
    pub fn never() -> Self {
        Cancel(None)
    }
    pub fn new(rx: watch::Receiver<bool>) -> Self {
        Cancel(Some(rx))
    }
    fn is_set(&self) -> bool {
        self.0.as_ref().is_some_and(|rx| *rx.borrow())
    }

    /// Resolves once the operator asked to stop; never for [`Cancel::never`].
    async fn cancelled(&self) {
        if let Some(rx) = &self.0 {
            let mut rx = rx.clone();
            if rx.wait_for(|c| *c).await.is_ok() {
                return;
            }
        }
        std::future::pending::<()>().await
    }
}

/// The smoke checks of one switch, and their results as they come (kept for
/// the audit record whatever the outcome).
pub(crate) struct SmokeStage<'a, G> {
    pub gate: &'a G,
    pub settings: &'a SmokeSettings,
    pub records: Mutex<Vec<SmokeRecord>>,
}

impl<'a, G: SmokeGate> SmokeStage<'a, G> {
    pub fn new(gate: &'a G, settings: &'a SmokeSettings) -> Self {
        SmokeStage {
            gate,
            settings,
            records: Mutex::new(Vec::new()),
        }
    }

    pub fn records(&self) -> Vec<SmokeRecord> {
        self.records.lock().unwrap().clone()
    }
}

/// Outcome of a failed switch: why it failed, and whether the rollback worked;
/// `rollback` is `None` when none was tried because the lock was lost (the
/// load balancer is the new holder's to change, not ours to put back).
#[derive(Debug)]
pub(crate) struct Failure {
    pub cause: ElbError,
    pub rollback: Option<Result<(), ElbError>>,
}

pub(crate) struct Machine<'a, L, F> {
    /// The only way to the load balancer: every register and deregister
    /// checks the fence first, so a machine whose lock was broken stops before
    /// its next change.
    api: Fenced<'a, L, F>,
    timing: Timing,
    cancel: Cancel,
    report: &'a (dyn Fn(&Event) + Sync),
    /// When the old members' deregistration was sent: where the burn-down
    /// counts the draining delay from.
    deregistered_at: Mutex<Option<(Instant, DateTime<Utc>)>>,
}

impl<'a, L: LoadBalancerApi, F: Fence> Machine<'a, L, F> {
    pub(crate) fn new(
        api: &'a L,
        fence: &'a F,
        timing: Timing,
        cancel: Cancel,
        report: &'a (dyn Fn(&Event) + Sync),
    ) -> Self {
        Machine {
            api: Fenced::new(api, fence),
            timing,
            cancel,
            report,
            deregistered_at: Mutex::new(None),
        }
    }

    /// A rollback must finish even if the operator presses Ctrl-C again.
    pub(super) fn uncancellable(&self) -> Machine<'a, L, F> {
        Machine {
            api: self.api,
            timing: self.timing.clone(),
            cancel: Cancel::never(),
            report: self.report,
            deregistered_at: Mutex::new(None),
        }
    }

    pub(crate) fn emit(&self, event: Event) {
        (self.report)(&event);
    }

    /// When the switch deregistered the old members, if it did.
    pub(crate) fn deregistered_at(&self) -> Option<(Instant, DateTime<Utc>)> {
        *self.deregistered_at.lock().unwrap()
    }

    /// Runs the transition, with `smoke`'s checks between the new members'
    /// health and the old ones' removal; on any failure but a lost lock
    /// restores `t.before`.
    pub async fn switch<G: SmokeGate>(
        &self,
        lb: &LbRef,
        t: &Transition,
        smoke: &SmokeStage<'_, G>,
    ) -> Result<(), Failure> {
        match self.forward(lb, t, smoke).await {
            Ok(()) => Ok(()),
            // Whoever holds the lock now decides what the membership becomes;
            // a rollback from here would fight them (and its first change
            // would be fenced anyway).
            Err(cause @ ElbError::LockLost { .. }) => Err(Failure {
                cause,
                rollback: None,
            }),
            Err(cause) => {
                self.emit(Event::RollingBack(cause.to_string()));
                let rollback = self.uncancellable().restore(lb, &t.before).await;
                Err(Failure {
                    cause,
                    rollback: Some(rollback),
                })
            }
        }
    }

    async fn forward<G: SmokeGate>(
        &self,
        lb: &LbRef,
        t: &Transition,
        smoke: &SmokeStage<'_, G>,
    ) -> Result<(), ElbError> {
        self.check_cancel()?;
        if !t.register.is_empty() {
            self.emit(Event::Step(format!(
                "registering {} with {}",
                t.register.join(", "),
                lb.name
            )));
            self.call("register", || self.api.register(lb, &t.register))
                .await?;
            self.check_cancel()?;
        }
        self.wait_healthy(lb, &t.gate, t.min_healthy).await?;
        // B serves beside A now: the checks see it through the load balancer
        // before anything of A's is touched.
        self.smoke(lb, smoke).await?;
        if t.deregister.is_empty() {
            return Ok(());
        }
        self.check_cancel()?;
        // Health may have changed since the wait (or the checks) ended: judge
        // on a fresh read.
        let health = self.call("health", || self.api.health(lb)).await?;
        let healthy = healthy_count(&health, Some(&t.gate));
        if healthy < t.min_healthy {
            return Err(ElbError::Flapped {
                healthy,
                need: t.min_healthy,
            });
        }
        guard(lb, &health, &t.deregister)?;
        self.emit(Event::Step(format!(
            "deregistering {} from {}",
            t.deregister.join(", "),
            lb.name
        )));
        self.call("deregister", || self.api.deregister(lb, &t.deregister))
            .await?;
        *self.deregistered_at.lock().unwrap() = Some((Instant::now(), Utc::now()));
        // A Ctrl-C that arrived during the call still means "undo".
        self.check_cancel()?;
        self.wait_drained(lb, &t.deregister).await?;
        self.check_cancel()
    }

    /// The smoke gate: each check in turn, stopped at its timeout (dropping it
    /// kills what it started) or at Ctrl-C; the first that does not pass fails
    /// the switch, which then rolls back. Every check's result is kept.
    async fn smoke<G: SmokeGate>(
        &self,
        lb: &LbRef,
        stage: &SmokeStage<'_, G>,
    ) -> Result<(), ElbError> {
        let s = stage.settings;
        let n = s.checks.len();
        for (i, check) in s.checks.iter().enumerate() {
            self.check_cancel()?;
            self.emit(Event::Step(format!(
                "smoke check {}/{n} on {}: {}",
                i + 1,
                lb.name,
                check.describe()
            )));
            let out = SmokeOutput::default();
            let started = Instant::now();
            // Biased: the check is polled first, so a Ctrl-C that came while
            // its step was announced still finds it started, and stops it
            // (the audit then shows what it printed), rather than never run.
            let ended = tokio::select! {
                biased;
                end = stage.gate.run(check, &s.env, s.retry_every, &out) => Some(end),
                () = tokio::time::sleep(s.timeout) => None,
                () = self.cancel.cancelled() => {
                    let record = SmokeRecord::new(
                        check,
                        &s.env,
                        "interrupted",
                        CheckEnd {
                            passed: false,
                            status: "interrupted (Ctrl-C or SIGTERM); stopped".into(),
                            exit_code: None,
                            http_status: None,
                        },
                        started.elapsed(),
                        &out,
                    );
                    stage.records.lock().unwrap().push(record.clone());
                    self.emit(Event::Smoke(record));
                    return Err(ElbError::Cancelled);
                }
            };
            let (result, end) = match ended {
                Some(end) if end.passed => ("passed", end),
                Some(end) => ("failed", end),
                None => {
                    let last = out.last_seen();
                    let stopped = match check {
                        SmokeCheck::Command(_) => "its process group was killed",
                        SmokeCheck::Url { .. } => "stopped",
                    };
                    (
                        "timed-out",
                        CheckEnd {
                            passed: false,
                            status: format!(
                                "timed out after {}s{}; {stopped}",
                                s.timeout.as_secs_f64(),
                                last.as_ref()
                                    .map(|(l, _)| format!(", last answer: {l}"))
                                    .unwrap_or_default()
                            ),
                            exit_code: None,
                            http_status: last.and_then(|(_, h)| h),
                        },
                    )
                }
            };
            let record = SmokeRecord::new(check, &s.env, result, end, started.elapsed(), &out);
            stage.records.lock().unwrap().push(record.clone());
            self.emit(Event::Smoke(record.clone()));
            if !record.passed() {
                return Err(ElbError::SmokeFailed(Box::new(SmokeFailure {
                    lb: lb.name.clone(),
                    to: s.env.to_cluster.clone(),
                    check: check.describe(),
                    status: record.status.clone(),
                    tail: record.tail_line(),
                })));
            }
        }
        Ok(())
    }

    /// Current membership, read with the same retries as every step.
    pub async fn members(&self, lb: &LbRef) -> Result<Vec<String>, ElbError> {
        Ok(members(&self.call("health", || self.api.health(lb)).await?))
    }

    /// Makes the membership `target` again, adding before removing, and never
    /// removing while the result would have no healthy member.
    pub async fn restore(&self, lb: &LbRef, target: &[String]) -> Result<(), ElbError> {
        let health = self.call("health", || self.api.health(lb)).await?;
        let current = members(&health);
        let add: Vec<String> = target
            .iter()
            .filter(|id| !current.contains(id))
            .cloned()
            .collect();
        let remove: Vec<String> = current
            .iter()
            .filter(|id| !target.contains(id))
            .cloned()
            .collect();
        if add.is_empty() && remove.is_empty() {
            self.emit(Event::Step(format!(
                "{} already has the recorded membership",
                lb.name
            )));
            return Ok(());
        }
        if !add.is_empty() {
            self.emit(Event::Step(format!(
                "re-registering {} with {}",
                add.join(", "),
                lb.name
            )));
            self.call("register", || self.api.register(lb, &add))
                .await?;
            self.wait_healthy(lb, &add, add.len()).await?;
        }
        if !remove.is_empty() {
            let health = self.call("health", || self.api.health(lb)).await?;
            guard(lb, &health, &remove)?;
            self.emit(Event::Step(format!(
                "deregistering {} from {}",
                remove.join(", "),
                lb.name
            )));
            self.call("deregister", || self.api.deregister(lb, &remove))
                .await?;
            // The membership is restored once the call returns; connections
            // still draining past the deadline are worth a warning, not a failure.
            match self.wait_drained(lb, &remove).await {
                Err(e @ ElbError::DrainTimeout { .. }) => {
                    self.emit(Event::Warning(e.to_string()));
                }
                other => other?,
            }
        }
        Ok(())
    }

    async fn wait_healthy(&self, lb: &LbRef, ids: &[String], need: usize) -> Result<(), ElbError> {
        let deadline = Instant::now() + self.timing.health_timeout;
        let mut last = None;
        loop {
            let health = self.call("health", || self.api.health(lb)).await?;
            let healthy = healthy_count(&health, Some(ids));
            // Report changes only: a five-minute wait should not print sixty lines.
            if last != Some(healthy) {
                self.emit(Event::Health {
                    healthy,
                    need,
                    of: ids.len(),
                });
                last = Some(healthy);
            }
            if healthy >= need {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ElbError::HealthTimeout {
                    healthy,
                    need,
                    waited: self.timing.health_timeout,
                });
            }
            self.pause(self.timing.poll_interval.min(deadline - now))
                .await?;
        }
    }

    async fn wait_drained(&self, lb: &LbRef, ids: &[String]) -> Result<(), ElbError> {
        let deadline = Instant::now() + self.timing.drain_timeout;
        let mut said = false;
        loop {
            let health = self.call("health", || self.api.health(lb)).await?;
            let draining: Vec<String> = health
                .iter()
                .filter(|m| m.health == Health::Draining && ids.contains(&m.id))
                .map(|m| m.id.clone())
                .collect();
            if draining.is_empty() {
                return Ok(());
            }
            if !said {
                self.emit(Event::Step(format!(
                    "waiting for {} to drain",
                    draining.join(", ")
                )));
                said = true;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ElbError::DrainTimeout {
                    ids: draining,
                    waited: self.timing.drain_timeout,
                });
            }
            self.pause(self.timing.poll_interval.min(deadline - now))
                .await?;
        }
    }

    /// One API call, retried with exponential backoff while it fails transiently.
    pub(super) async fn call<T, C, Fut>(&self, action: &'static str, f: C) -> Result<T, ElbError>
    where
        C: Fn() -> Fut,
        Fut: Future<Output = Result<T, ElbError>>,
    {
        let mut attempt = 1;
        loop {
            match f().await {
                Err(e) if e.is_transient() && attempt < self.timing.attempts => {
                    let delay = backoff(&self.timing, attempt);
                    self.emit(Event::Retry {
                        action,
                        attempt,
                        delay,
                        message: e.to_string(),
                    });
                    self.pause(delay).await?;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn check_cancel(&self) -> Result<(), ElbError> {
        if self.cancel.is_set() {
            Err(ElbError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Sleeps, but wakes up at once (with `Cancelled`) on Ctrl-C.
    pub(crate) async fn pause(&self, d: Duration) -> Result<(), ElbError> {
        let Some(rx) = &self.cancel.0 else {
            tokio::time::sleep(d).await;
            return Ok(());
        };
        let mut rx = rx.clone();
        if *rx.borrow() {
            return Err(ElbError::Cancelled);
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            r = rx.wait_for(|c| *c) => match r {
                Ok(_) => Err(ElbError::Cancelled),
                // Nobody can cancel any more: just wait.
                Err(_) => {
                    tokio::time::sleep(d).await;
                    Ok(())
                }
            },
        }
    }
}

/// The invariant: refuse a deregistration that would leave no healthy member.
pub(crate) fn guard(
    lb: &LbRef,
    health: &[MemberHealth],
    removing: &[String],
) -> Result<(), ElbError> {
    let remaining = health
        .iter()
        .filter(|m| m.health == Health::Healthy && !removing.contains(&m.id))
        .count();
    if remaining == 0 {
        return Err(ElbError::WouldGoDark {
            lb: lb.name.clone(),
            removing: removing.join(", "),
        });
    }
    Ok(())
}

fn backoff(t: &Timing, attempt: u32) -> Duration {
    let exp = t
        .backoff_base
        .saturating_mul(1u32 << (attempt - 1).min(16))
        .min(t.backoff_max);
    // Up to 25% jitter so that two operators' retries do not stay in step.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = exp / 4 * (nanos % 100) / 100;
    exp + jitter
}

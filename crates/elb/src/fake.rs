//! Scripted in-memory fakes of the three traits, for the state machine tests:
//! per-instance health sequences, injected throttling/failures/hangs/pauses,
//! draining that takes a number of polls, and a store that can ignore
//! `If-None-Match` or lose the answers to writes it carried out. After every
//! call the fake records how many members are truly healthy, so tests can
//! assert the never-dark invariant at every step; an [`Operator`] view also
//! asserts that every change is made by the operator holding the lock. Smoke
//! checks and CloudWatch readings are scripted too ([`FakeSmoke`], [`FakeMetrics`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::error::ElbError;
use super::model::{
    Health, InstanceDirectory, InstanceInfo, LbKind, LbRef, LoadBalancerApi, MemberHealth,
    StateStore, StoredObject,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Health,
    Register,
    Deregister,
}

#[derive(Default)]
struct Inner {
    members: BTreeSet<String>,
    cursor: BTreeMap<String, usize>,
    scripts: BTreeMap<String, Vec<Health>>,
    draining: BTreeMap<String, u32>,
    drain_polls: u32,
    throttle: BTreeMap<Op, u32>,
    fail_once: BTreeSet<Op>,
    hang: BTreeSet<Op>,
    /// Answers held back until the test resumes the caller.
    pause: BTreeMap<Op, (oneshot::Sender<()>, oneshot::Receiver<()>)>,
    log: Vec<String>,
    /// Report draining the way classic ELB does (see [`FakeLb::classic`]).
    classic: bool,
    /// Truly healthy members after each call, in order.
    timeline: Vec<(String, usize)>,
}

pub struct FakeLb {
    pub lb: LbRef,
    inner: Mutex<Inner>,
}

/// What DescribeInstanceHealth says about an instance during connection draining.
const CLASSIC_DRAINING: &str = "Instance deregistration currently in progress.";

pub fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub fn lb_ref() -> LbRef {
    LbRef {
        kind: LbKind::TargetGroup,
        name: "live".into(),
        id: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/live/1".into(),
        vpc_id: Some("vpc-1".into()),
        drain_delay: None,
    }
}

impl FakeLb {
    /// `members` start registered; every instance's health follows its script
    /// (one entry per health poll since registration, the last one repeating).
    pub fn new(members: &[&str], scripts: &[(&str, Vec<Health>)]) -> Self {
        let mut inner = Inner::default();
        for (id, s) in scripts {
            inner.scripts.insert(id.to_string(), s.clone());
        }
        for m in members {
            inner.members.insert(m.to_string());
            inner.cursor.insert(m.to_string(), 0);
        }
        FakeLb {
            lb: lb_ref(),
            inner: Mutex::new(inner),
        }
    }

    /// A classic ELB: a draining instance is reported in AWS's own words,
    /// `InService` with "Instance deregistration currently in progress.",
    /// and read through the production mapping, so a mapping that took the
    /// state for health would show up as a dark load balancer here.
    pub fn classic(members: &[&str], scripts: &[(&str, Vec<Health>)]) -> Self {
        let mut lb = FakeLb::new(members, scripts);
        lb.lb.kind = LbKind::Classic;
        lb.inner.get_mut().unwrap().classic = true;
        lb
    }

    pub fn throttle(&self, op: Op, times: u32) {
        self.inner.lock().unwrap().throttle.insert(op, times);
    }
    pub fn fail_once(&self, op: Op) {
        self.inner.lock().unwrap().fail_once.insert(op);
    }
    pub fn hang_on(&self, op: Op) {
        self.inner.lock().unwrap().hang.insert(op);
    }
    pub fn unhang(&self) {
        self.inner.lock().unwrap().hang.clear();
    }
    /// The next `op` call is served (its change applied, its answer computed),
    /// then its caller is held, as if its process slept, until
    /// [`Paused::resume`]: what it does next rests on what it saw before.
    pub fn pause_after_next(&self, op: Op) -> Paused {
        let (reached_tx, reached) = oneshot::channel();
        let (resume, resume_rx) = oneshot::channel();
        self.inner
            .lock()
            .unwrap()
            .pause
            .insert(op, (reached_tx, resume_rx));
        Paused { reached, resume }
    }
    pub fn drain_polls(&self, n: u32) {
        self.inner.lock().unwrap().drain_polls = n;
    }
    /// Replaces an instance's script from now on (its cursor restarts).
    pub fn rescript(&self, id: &str, script: Vec<Health>) {
        let mut g = self.inner.lock().unwrap();
        g.scripts.insert(id.to_string(), script);
        g.cursor.insert(id.to_string(), 0);
    }
    pub fn members(&self) -> Vec<String> {
        self.inner.lock().unwrap().members.iter().cloned().collect()
    }
    pub fn log(&self) -> Vec<String> {
        self.inner.lock().unwrap().log.clone()
    }
    pub fn timeline(&self) -> Vec<(String, usize)> {
        self.inner.lock().unwrap().timeline.clone()
    }

    /// The never-dark invariant over the whole scenario.
    pub fn assert_never_dark(&self) {
        for (step, healthy) in self.timeline() {
            assert!(healthy > 0, "zero healthy members after `{step}`");
        }
    }
}

impl Inner {
    /// Health an instance has right now: what the next poll would see.
    fn now(&self, id: &str) -> Health {
        let script = self
            .scripts
            .get(id)
            .cloned()
            .unwrap_or(vec![Health::Healthy]);
        let c = self.cursor.get(id).copied().unwrap_or(0);
        script[c.min(script.len() - 1)].clone()
    }

    fn truly_healthy(&self) -> usize {
        self.members
            .iter()
            .filter(|m| self.now(m) == Health::Healthy)
            .count()
    }

    fn record(&mut self, step: String) {
        let healthy = self.truly_healthy();
        self.log.push(step.clone());
        self.timeline.push((step, healthy));
    }

    /// Injected failures, in order of precedence: hang, throttle, hard failure.
    fn injected(&mut self, op: Op) -> Option<Result<(), ElbError>> {
        if self.hang.contains(&op) {
            return Some(Ok(()));
        }
        let throttled = self.throttle.get(&op).copied().unwrap_or(0);
        if throttled > 0 {
            self.throttle.insert(op, throttled - 1);
            return Some(Err(ElbError::Transient {
                action: "fake",
                message: "Throttling: Rate exceeded".into(),
            }));
        }
        if self.fail_once.remove(&op) {
            return Some(Err(ElbError::Aws {
                action: "fake",
                message: "InternalFailure: boom".into(),
            }));
        }
        None
    }
}

impl FakeLb {
    async fn gate(&self, op: Op) -> Result<(), ElbError> {
        let injected = self.inner.lock().unwrap().injected(op);
        match injected {
            Some(Ok(())) => std::future::pending().await,
            Some(Err(e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Holds the caller of a served `op` if the test asked for it.
    async fn hold(&self, op: Op) {
        let pause = self.inner.lock().unwrap().pause.remove(&op);
        if let Some((reached, resume)) = pause {
            let _ = reached.send(());
            // A dropped sender resumes too: the test is over.
            let _ = resume.await;
        }
    }
}

/// A caller held by [`FakeLb::pause_after_next`].
pub struct Paused {
    reached: oneshot::Receiver<()>,
    resume: oneshot::Sender<()>,
}

impl Paused {
    /// Returns once the caller is held.
    pub async fn reached(&mut self) {
        (&mut self.reached)
            .await
            .expect("the paused call was never made");
    }
    pub fn resume(self) {
        let _ = self.resume.send(());
    }
}

impl LoadBalancerApi for FakeLb {
    async fn resolve(&self, name: &str) -> Result<LbRef, ElbError> {
        if name == self.lb.name {
            Ok(self.lb.clone())
        } else {
            Err(ElbError::UnknownLoadBalancer(name.into()))
        }
    }

    async fn health(&self, _lb: &LbRef) -> Result<Vec<MemberHealth>, ElbError> {
        self.gate(Op::Health).await?;
        let out = self.read_health();
        self.hold(Op::Health).await;
        Ok(out)
    }

    async fn register(&self, _lb: &LbRef, ids: &[String]) -> Result<(), ElbError> {
        self.gate(Op::Register).await?;
        {
            let mut g = self.inner.lock().unwrap();
            for id in ids {
                g.members.insert(id.clone());
                g.cursor.insert(id.clone(), 0);
                g.draining.remove(id);
            }
            g.record(format!("register {}", ids.join(",")));
        }
        self.hold(Op::Register).await;
        Ok(())
    }

    async fn deregister(&self, _lb: &LbRef, ids: &[String]) -> Result<(), ElbError> {
        self.gate(Op::Deregister).await?;
        {
            let mut g = self.inner.lock().unwrap();
            let polls = g.drain_polls;
            for id in ids {
                g.members.remove(id);
                if polls > 0 {
                    g.draining.insert(id.clone(), polls);
                }
            }
            g.record(format!("deregister {}", ids.join(",")));
        }
        self.hold(Op::Deregister).await;
        Ok(())
    }
}

impl FakeLb {
    fn read_health(&self) -> Vec<MemberHealth> {
        let mut g = self.inner.lock().unwrap();
        let mut out = Vec::new();
        let members: Vec<String> = g.members.iter().cloned().collect();
        for m in members {
            let h = g.now(&m);
            *g.cursor.entry(m.clone()).or_default() += 1;
            out.push(MemberHealth {
                id: m,
                health: h,
                reason: None,
            });
        }
        let draining: Vec<String> = g.draining.keys().cloned().collect();
        for d in draining {
            let left = g.draining.get_mut(&d).unwrap();
            if *left == 0 {
                g.draining.remove(&d);
                continue;
            }
            *left -= 1;
            let health = if g.classic {
                super::aws::classic_health("InService", CLASSIC_DRAINING)
            } else {
                Health::Draining
            };
            out.push(MemberHealth {
                id: d,
                health,
                reason: g.classic.then(|| CLASSIC_DRAINING.to_string()),
            });
        }
        g.record("health".into());
        out
    }
}

/// One operator's hands on a [`FakeLb`]: each change asserts, as it is made,
/// that the lock of the load balancer in `store` is this operator's, and is
/// remembered as theirs.
pub struct Operator<'a> {
    pub lb: &'a FakeLb,
    who: String,
    store: &'a FakeStore,
    changes: Mutex<Vec<String>>,
}

impl FakeLb {
    pub fn operator<'a>(&'a self, who: &str, store: &'a FakeStore) -> Operator<'a> {
        Operator {
            lb: self,
            who: who.to_string(),
            store,
            changes: Mutex::new(Vec::new()),
        }
    }
}

impl Operator<'_> {
    pub fn changes(&self) -> Vec<String> {
        self.changes.lock().unwrap().clone()
    }

    /// The invariant: nobody changes the membership without holding the lock.
    fn assert_holds_lock(&self, change: &str) {
        let key = super::state::lock_key(&self.lb.lb);
        let holder = self
            .store
            .objects
            .lock()
            .unwrap()
            .get(&key)
            .map(|(b, _)| serde_json::from_slice::<super::state::LockRecord>(b).unwrap());
        let holder = holder.map(|l| l.owner);
        assert_eq!(
            holder.as_deref(),
            Some(self.who.as_str()),
            "{} made the change `{change}` without holding the lock",
            self.who
        );
        self.changes.lock().unwrap().push(change.to_string());
    }
}

impl LoadBalancerApi for Operator<'_> {
    async fn resolve(&self, name: &str) -> Result<LbRef, ElbError> {
        self.lb.resolve(name).await
    }
    async fn health(&self, lb: &LbRef) -> Result<Vec<MemberHealth>, ElbError> {
        self.lb.health(lb).await
    }
    async fn register(&self, lb: &LbRef, ids: &[String]) -> Result<(), ElbError> {
        self.assert_holds_lock(&format!("register {}", ids.join(",")));
        self.lb.register(lb, ids).await
    }
    async fn deregister(&self, lb: &LbRef, ids: &[String]) -> Result<(), ElbError> {
        self.assert_holds_lock(&format!("deregister {}", ids.join(",")));
        self.lb.deregister(lb, ids).await
    }
}

/// EC2 as a list.
pub struct FakeEc2(pub Vec<InstanceInfo>);

pub fn instance(id: &str, cluster: &str, vpc: &str, state: &str) -> InstanceInfo {
    let mut tags = BTreeMap::new();
    tags.insert(super::names::TAG_CLUSTER.to_string(), cluster.to_string());
    tags.insert(
        super::names::TAG_ROLE.to_string(),
        super::names::ROLE_INGRESS.to_string(),
    );
    InstanceInfo {
        id: id.into(),
        vpc_id: Some(vpc.into()),
        state: state.into(),
        tags,
    }
}

impl InstanceDirectory for FakeEc2 {
    async fn find_running(&self, tags: &[(String, String)]) -> Result<Vec<InstanceInfo>, ElbError> {
        Ok(self
            .0
            .iter()
            .filter(|i| i.state == "running")
            .filter(|i| tags.iter().all(|(k, v)| i.tags.get(k) == Some(v)))
            .cloned()
            .collect())
    }
    async fn describe(&self, ids: &[String]) -> Result<Vec<InstanceInfo>, ElbError> {
        Ok(self
            .0
            .iter()
            .filter(|i| ids.contains(&i.id))
            .cloned()
            .collect())
    }
}

/// S3 as a map. `ignore_conditional` models a store that accepts
/// `If-None-Match` but overwrites anyway; `lost_*_answers` the network losing
/// the answers to conditional writes that S3 carried out.
type Objects = BTreeMap<String, (Vec<u8>, DateTime<Utc>)>;

#[derive(Default)]
pub struct FakeStore {
    pub objects: Mutex<Objects>,
    pub ignore_conditional: bool,
    /// Transient failures still to answer to plain `put`s (the state record).
    pub fail_puts: AtomicU32,
    /// Create-only writes (`put_if_absent`) still to carry out, whatever
    /// their outcome, and then answer with a timeout.
    pub lost_create_answers: AtomicU32,
    /// The same for conditional replaces (`put_if_match`).
    pub lost_replace_answers: AtomicU32,
}

impl FakeStore {
    pub fn keys(&self) -> Vec<String> {
        self.objects.lock().unwrap().keys().cloned().collect()
    }
    /// The answer to a conditional write that was carried out: lost, while
    /// `lost` has faults left.
    fn answer(lost: &AtomicU32, outcome: bool) -> Result<bool, ElbError> {
        if lost
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ElbError::Transient {
                action: "fake",
                message: "dispatch failure: timeout: the connection was reset before the answer"
                    .into(),
            });
        }
        Ok(outcome)
    }
    /// Makes an existing object look older (for stale-lock tests).
    pub fn age(&self, key: &str, by: chrono::Duration) {
        if let Some(o) = self.objects.lock().unwrap().get_mut(key) {
            o.1 -= by;
        }
    }
}

/// A content hash, like S3's ETag of a single-part upload.
pub fn etag_of(body: &[u8]) -> String {
    use sha2::Digest;
    format!("\"{}\"", hex::encode(sha2::Sha256::digest(body)))
}

impl StateStore for FakeStore {
    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<bool, ElbError> {
        let written = {
            let mut g = self.objects.lock().unwrap();
            let free = !g.contains_key(key) || self.ignore_conditional;
            if free {
                g.insert(key.into(), (body, Utc::now()));
            }
            free
        };
        Self::answer(&self.lost_create_answers, written)
    }
    async fn put_if_match(&self, key: &str, body: Vec<u8>, etag: &str) -> Result<bool, ElbError> {
        let written = {
            let mut g = self.objects.lock().unwrap();
            let matches = g.get(key).is_some_and(|(b, _)| etag_of(b) == etag);
            let write = matches || self.ignore_conditional;
            if write {
                g.insert(key.into(), (body, Utc::now()));
            }
            write
        };
        Self::answer(&self.lost_replace_answers, written)
    }
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), ElbError> {
        if self
            .fail_puts
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ElbError::Transient {
                action: "fake",
                message: "SlowDown: Please reduce your request rate".into(),
            });
        }
        self.objects
            .lock()
            .unwrap()
            .insert(key.into(), (body, Utc::now()));
        Ok(())
    }
    async fn get(&self, key: &str) -> Result<Option<StoredObject>, ElbError> {
        Ok(self
            .objects
            .lock()
            .unwrap()
            .get(key)
            .map(|(b, t)| StoredObject {
                body: b.clone(),
                last_modified: Some(*t),
                etag: Some(etag_of(b)),
            }))
    }
    async fn delete(&self, key: &str) -> Result<(), ElbError> {
        self.objects.lock().unwrap().remove(key);
        Ok(())
    }
}

/// What a scripted smoke check does.
#[derive(Debug, Clone)]
pub enum Script {
    /// Prints `output`, then exits with `code` (0 passes).
    Exit { code: i32, output: String },
    /// Prints `output`, then never ends (until dropped).
    Hang { output: String },
}

/// Smoke checks by script, in order of their runs. Each run records the
/// membership of `lb` it saw (what a real check sees through the load
/// balancer) and whether it was stopped from outside (dropped).
pub struct FakeSmoke<'a> {
    lb: &'a FakeLb,
    scripts: Mutex<std::collections::VecDeque<Script>>,
    /// (check, env, members of the load balancer during the run).
    pub runs: Mutex<Vec<(String, crate::smoke::SmokeEnv, Vec<String>)>>,
    /// Runs stopped before they ended by themselves.
    pub stopped: AtomicU32,
}

impl<'a> FakeSmoke<'a> {
    pub fn new(lb: &'a FakeLb, scripts: Vec<Script>) -> Self {
        FakeSmoke {
            lb,
            scripts: Mutex::new(scripts.into()),
            runs: Mutex::new(Vec::new()),
            stopped: AtomicU32::new(0),
        }
    }
    pub fn runs(&self) -> Vec<(String, crate::smoke::SmokeEnv, Vec<String>)> {
        self.runs.lock().unwrap().clone()
    }
}

/// Counts a run that was dropped before it ended, as a killed process.
struct StopGuard<'a>(&'a AtomicU32, bool);

impl Drop for StopGuard<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, SeqCst);
        }
    }
}

impl crate::smoke::SmokeGate for FakeSmoke<'_> {
    async fn run(
        &self,
        check: &crate::smoke::SmokeCheck,
        env: &crate::smoke::SmokeEnv,
        _retry_every: std::time::Duration,
        out: &crate::smoke::SmokeOutput,
    ) -> crate::smoke::CheckEnd {
        self.runs
            .lock()
            .unwrap()
            .push((check.text().to_string(), env.clone(), self.lb.members()));
        let script = self
            .scripts
            .lock()
            .unwrap()
            .pop_front()
            .expect("a script for every smoke check");
        let mut guard = StopGuard(&self.stopped, false);
        match script {
            Script::Exit { code, output } => {
                out.push(output.as_bytes());
                guard.1 = true;
                crate::smoke::CheckEnd {
                    passed: code == 0,
                    status: format!("exit status {code}"),
                    exit_code: Some(code),
                    http_status: None,
                }
            }
            Script::Hang { output } => {
                out.push(output.as_bytes());
                std::future::pending().await
            }
        }
    }
}

/// CloudWatch by script: one reading per call, the last one repeating.
pub struct FakeMetrics {
    readings: Mutex<Vec<crate::burn::Reading>>,
    pub calls: AtomicU32,
}

impl FakeMetrics {
    pub fn new(readings: Vec<crate::burn::Reading>) -> Self {
        FakeMetrics {
            readings: Mutex::new(readings),
            calls: AtomicU32::new(0),
        }
    }
}

impl crate::burn::TrafficMetrics for FakeMetrics {
    async fn in_flight(
        &self,
        _lb: &LbRef,
        _ids: &[String],
        _since: DateTime<Utc>,
    ) -> Result<crate::burn::Reading, ElbError> {
        self.calls.fetch_add(1, SeqCst);
        let mut g = self.readings.lock().unwrap();
        Ok(if g.len() > 1 {
            g.remove(0)
        } else {
            g[0].clone()
        })
    }
}

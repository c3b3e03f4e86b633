//! Scripted in-memory fakes of the three traits, for the state machine tests:
//! per-instance health sequences, injected throttling/failures/hangs, draining
//! that takes a number of polls, and a store that can ignore `If-None-Match`.
//! After every call the fake records how many members are truly healthy, so
//! tests can assert the never-dark invariant at every step.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

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
        Ok(out)
    }

    async fn register(&self, _lb: &LbRef, ids: &[String]) -> Result<(), ElbError> {
        self.gate(Op::Register).await?;
        let mut g = self.inner.lock().unwrap();
        for id in ids {
            g.members.insert(id.clone());
            g.cursor.insert(id.clone(), 0);
            g.draining.remove(id);
        }
        g.record(format!("register {}", ids.join(",")));
        Ok(())
    }

    async fn deregister(&self, _lb: &LbRef, ids: &[String]) -> Result<(), ElbError> {
        self.gate(Op::Deregister).await?;
        let mut g = self.inner.lock().unwrap();
        let polls = g.drain_polls;
        for id in ids {
            g.members.remove(id);
            if polls > 0 {
                g.draining.insert(id.clone(), polls);
            }
        }
        g.record(format!("deregister {}", ids.join(",")));
        Ok(())
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
/// `If-None-Match` but overwrites anyway.
type Objects = BTreeMap<String, (Vec<u8>, DateTime<Utc>)>;

#[derive(Default)]
pub struct FakeStore {
    pub objects: Mutex<Objects>,
    pub ignore_conditional: bool,
    /// Transient failures still to answer to plain `put`s (the state record).
    pub fail_puts: std::sync::atomic::AtomicU32,
}

impl FakeStore {
    pub fn keys(&self) -> Vec<String> {
        self.objects.lock().unwrap().keys().cloned().collect()
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
        let mut g = self.objects.lock().unwrap();
        if g.contains_key(key) && !self.ignore_conditional {
            return Ok(false);
        }
        g.insert(key.into(), (body, Utc::now()));
        Ok(true)
    }
    async fn put_if_match(&self, key: &str, body: Vec<u8>, etag: &str) -> Result<bool, ElbError> {
        let mut g = self.objects.lock().unwrap();
        let matches = g.get(key).is_some_and(|(b, _)| etag_of(b) == etag);
        if !matches && !self.ignore_conditional {
            return Ok(false);
        }
        g.insert(key.into(), (body, Utc::now()));
        Ok(true)
    }
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), ElbError> {
        use std::sync::atomic::Ordering::SeqCst;
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

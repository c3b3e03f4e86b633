//! Scenario tests of the switch state machine and its bookkeeping over the
//! fakes: the timing behaviour moto cannot show (slow or flapping health,
//! throttling, draining, crashes, Ctrl-C, lock contention). The lock's own
//! scenarios are in `lock_scenarios.rs`. Every scenario asserts the
//! never-dark invariant over every step it took.

use std::sync::Mutex;
use std::time::Duration;

use super::error::ElbError;
use super::fake::{FakeEc2, FakeLb, FakeStore, Op, ids, instance};
use super::machine::{Cancel, Event, Timing};
use super::model::Health::{self, *};
use super::names;
use super::ops::{self, Context, Plan, Selector, SwitchRequest};
use super::state::{self, LockOptions, Phase};

pub(super) fn timing() -> Timing {
    Timing {
        poll_interval: Duration::from_millis(2),
        health_timeout: Duration::from_millis(200),
        drain_timeout: Duration::from_millis(200),
        attempts: 4,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(4),
    }
}

pub(super) fn ec2() -> FakeEc2 {
    FakeEc2(vec![
        instance("i-a1", "a", "vpc-1", "running"),
        instance("i-a2", "a", "vpc-1", "running"),
        instance("i-b1", "b", "vpc-1", "running"),
        instance("i-b2", "b", "vpc-1", "running"),
        instance("i-b3", "b", "vpc-1", "stopped"),
    ])
}

pub(super) fn request() -> SwitchRequest {
    SwitchRequest {
        to_cluster: "b".into(),
        from_cluster: None,
        selector: Selector {
            cluster_tag: names::TAG_CLUSTER.into(),
            tags: vec![(names::TAG_ROLE.into(), names::ROLE_INGRESS.into())],
        },
        min_healthy: None,
        keep_old: false,
    }
}

/// A serving both members, B's two instances following `b_script`.
pub(super) fn lb_with(b_script: Vec<Health>) -> FakeLb {
    FakeLb::new(
        &["i-a1", "i-a2"],
        &[
            ("i-a1", vec![Healthy]),
            ("i-a2", vec![Healthy]),
            ("i-b1", b_script.clone()),
            ("i-b2", b_script),
        ],
    )
}

pub(super) struct Run {
    pub(super) events: Mutex<Vec<Event>>,
}

impl Run {
    pub(super) fn new() -> Self {
        Run {
            events: Mutex::new(Vec::new()),
        }
    }
    pub(super) fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

pub(super) fn cx<'a>(
    lb: &'a FakeLb,
    store: &'a FakeStore,
    report: &'a (dyn Fn(&Event) + Sync),
    cancel: Cancel,
) -> Context<'a, FakeLb, FakeStore> {
    Context {
        api: lb,
        store,
        who: "tester@host".into(),
        lock: LockOptions {
            break_lock: false,
            stale_after: Duration::from_secs(1800),
        },
        timing: timing(),
        cancel,
        report,
    }
}

pub(super) async fn plan(lb: &FakeLb) -> Plan {
    ops::plan_switch(lb, &ec2(), &lb.lb, &request())
        .await
        .unwrap()
}

pub(super) fn audit_results(store: &FakeStore) -> Vec<String> {
    let g = store.objects.lock().unwrap();
    g.iter()
        .filter(|(k, _)| k.contains("/audit/"))
        .map(|(_, (b, _))| {
            let a: state::AuditRecord = serde_json::from_slice(b).unwrap();
            a.result
        })
        .collect()
}

pub(super) fn phase(store: &FakeStore, lb: &FakeLb) -> Phase {
    let key = state::state_key(&lb.lb);
    let g = store.objects.lock().unwrap();
    let r: state::SwitchRecord = serde_json::from_slice(&g[&key].0).unwrap();
    r.phase
}

#[tokio::test]
async fn switch_registers_waits_for_health_then_deregisters() {
    let lb = lb_with(vec![Initial, Initial, Unhealthy, Healthy]);
    lb.drain_polls(3);
    let store = FakeStore::default();
    let run = Run::new();
    let report = |e: &Event| run.events.lock().unwrap().push(e.clone());
    let p = plan(&lb).await;
    assert_eq!(p.transition.register, ids(&["i-b1", "i-b2"]));
    assert_eq!(p.transition.deregister, ids(&["i-a1", "i-a2"]));
    assert_eq!(p.from_cluster.as_deref(), Some("a"));
    ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap();

    assert_eq!(lb.members(), ids(&["i-b1", "i-b2"]));
    let log = lb.log();
    let reg = log.iter().position(|l| l.starts_with("register")).unwrap();
    let dereg = log
        .iter()
        .position(|l| l.starts_with("deregister"))
        .unwrap();
    assert!(reg < dereg);
    // Draining was waited for: health polls after the deregistration.
    assert!(log[dereg + 1..].iter().filter(|l| *l == "health").count() >= 3);
    lb.assert_never_dark();
    assert_eq!(phase(&store, &lb), Phase::Completed);
    assert_eq!(audit_results(&store), vec!["completed"]);
    assert!(
        !store.keys().contains(&state::lock_key(&lb.lb)),
        "lock released"
    );
    assert!(run.events().iter().any(|e| matches!(
        e,
        Event::Health {
            healthy: 2,
            need: 2,
            ..
        }
    )));
}

#[tokio::test]
async fn b_never_healthy_rolls_back_and_a_keeps_serving() {
    let lb = lb_with(vec![Initial, Unhealthy]);
    let store = FakeStore::default();
    let report = |_: &Event| {};
    let p = plan(&lb).await;
    let err = ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("became healthy"), "{text}");
    assert!(text.contains("rolled back"), "{text}");
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2"]));
    assert!(
        !lb.log().iter().any(|l| l.contains("deregister i-a")),
        "A was never deregistered: {:?}",
        lb.log()
    );
    lb.assert_never_dark();
    assert_eq!(phase(&store, &lb), Phase::RolledBack);
    assert_eq!(audit_results(&store), vec!["rolled-back"]);
}

#[tokio::test]
async fn b_healthy_then_flapping_never_deregisters_a() {
    let lb = lb_with(vec![Healthy, Unhealthy]);
    let store = FakeStore::default();
    let report = |_: &Event| {};
    let p = plan(&lb).await;
    let err = ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stopped being healthy"), "{err}");
    assert!(!lb.log().iter().any(|l| l.contains("deregister i-a")));
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2"]));
    lb.assert_never_dark();
}

#[tokio::test]
async fn throttling_is_retried_with_backoff() {
    let lb = lb_with(vec![Healthy]);
    let p = plan(&lb).await;
    lb.throttle(Op::Register, 2);
    lb.throttle(Op::Health, 1);
    lb.throttle(Op::Deregister, 3);
    let store = FakeStore::default();
    let run = Run::new();
    let report = |e: &Event| run.events.lock().unwrap().push(e.clone());
    ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap();
    assert_eq!(lb.members(), ids(&["i-b1", "i-b2"]));
    let retries: Vec<(&str, u32)> = run
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Retry {
                action, attempt, ..
            } => Some((*action, *attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        vec![
            // The membership re-check under the lock is the first health read.
            ("health", 1),
            ("register", 1),
            ("register", 2),
            ("deregister", 1),
            ("deregister", 2),
            ("deregister", 3)
        ]
    );
    lb.assert_never_dark();
}

#[tokio::test]
async fn retries_run_out_then_rollback() {
    let lb = lb_with(vec![Healthy]);
    lb.throttle(Op::Deregister, 10);
    let store = FakeStore::default();
    let report = |_: &Event| {};
    let p = plan(&lb).await;
    let err = ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap_err();
    // The rollback itself needs a deregistration (of B), which is throttled too,
    // until the budget of injected failures is spent.
    let text = err.to_string();
    assert!(text.contains("failed temporarily"), "{text}");
    lb.assert_never_dark();
    assert!(lb.members().contains(&"i-a1".to_string()));
}

#[tokio::test]
async fn hard_failure_on_deregister_rolls_back() {
    let lb = lb_with(vec![Healthy]);
    lb.fail_once(Op::Deregister);
    let store = FakeStore::default();
    let report = |_: &Event| {};
    let p = plan(&lb).await;
    let err = ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rolled back"), "{err}");
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2"]));
    lb.assert_never_dark();
}

#[tokio::test]
async fn crash_between_register_and_deregister_then_rollback_restores() {
    let lb = lb_with(vec![Healthy]);
    lb.hang_on(Op::Deregister);
    let store = FakeStore::default();
    let report = |_: &Event| {};
    let p = plan(&lb).await;
    {
        let c = cx(&lb, &store, &report, Cancel::never());
        // The process "dies" while deregistering: the future is dropped, so no
        // rollback code runs, exactly as after a kill -9.
        let crashed =
            tokio::time::timeout(Duration::from_millis(100), ops::execute_switch(&c, &p)).await;
        assert!(crashed.is_err(), "the switch should have hung");
    }
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2", "i-b1", "i-b2"]));
    assert_eq!(phase(&store, &lb), Phase::Started);
    assert!(store.keys().contains(&state::lock_key(&lb.lb)));

    // Another switch is refused while the dead operator's lock is fresh.
    let err = ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ElbError::LockHeld { stale: false, .. }),
        "{err}"
    );

    // After the lock went stale, rollback with --break-lock restores A.
    store.age(&state::lock_key(&lb.lb), chrono::Duration::hours(1));
    let mut c = cx(&lb, &store, &report, Cancel::never());
    c.lock.break_lock = true;
    // The hang belonged to the dead process; the load balancer answers again.
    lb.unhang();
    ops::execute_rollback(&c, &lb.lb).await.unwrap();
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2"]));
    assert_eq!(phase(&store, &lb), Phase::RolledBack);
    assert_eq!(audit_results(&store), vec!["completed"]);
    assert!(!store.keys().contains(&state::lock_key(&lb.lb)));
    lb.assert_never_dark();

    // And a new switch is allowed again.
    let p = plan(&lb).await;
    ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap();
    assert_eq!(lb.members(), ids(&["i-b1", "i-b2"]));
    lb.assert_never_dark();
}

#[tokio::test]
async fn ctrl_c_while_waiting_rolls_back() {
    let lb = lb_with(vec![Initial]);
    let store = FakeStore::default();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let report = move |e: &Event| {
        if matches!(e, Event::Health { .. }) {
            let _ = tx.send(true);
        }
    };
    let p = plan(&lb).await;
    let mut c = cx(&lb, &store, &report, Cancel::new(rx));
    c.timing.health_timeout = Duration::from_secs(60);
    let started = std::time::Instant::now();
    let err = ops::execute_switch(&c, &p).await.unwrap_err();
    assert!(err.to_string().contains("interrupted"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2"]));
    lb.assert_never_dark();
}

#[tokio::test]
async fn rollback_refuses_to_go_dark_when_a_died_meanwhile() {
    let lb = lb_with(vec![Initial]);
    lb.rescript("i-a1", vec![Healthy, Unhealthy]);
    lb.rescript("i-a2", vec![Healthy, Unhealthy]);
    let store = FakeStore::default();
    let report = |_: &Event| {};
    let p = plan(&lb).await;
    let err = ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ROLLBACK INCOMPLETE"), "{text}");
    assert!(text.contains("no healthy member"), "{text}");
    // Nothing was removed: both clusters stay registered. (A's own death made
    // the load balancer dark; abshift never added to that by deregistering.)
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2", "i-b1", "i-b2"]));
    assert!(!lb.log().iter().any(|l| l.starts_with("deregister")));
    assert_eq!(phase(&store, &lb), Phase::RollbackIncomplete);
    // A new switch is refused until someone rolls back.
    let err = ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("run `abshift elb rollback` first"),
        "{err}"
    );
}

#[tokio::test]
async fn drain_timeout_rolls_back_to_recorded_membership() {
    let lb = lb_with(vec![Healthy]);
    lb.drain_polls(10_000);
    let store = FakeStore::default();
    let report = |_: &Event| {};
    let p = plan(&lb).await;
    let mut c = cx(&lb, &store, &report, Cancel::never());
    c.timing.drain_timeout = Duration::from_millis(20);
    let err = ops::execute_switch(&c, &p).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("still draining"), "{text}");
    assert!(
        text.contains("rolled back to the recorded membership"),
        "{text}"
    );
    // A was re-registered and healthy before B left; B's own slow draining
    // only produced a warning.
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2"]));
    let log = lb.log();
    let back = log.iter().position(|l| l == "register i-a1,i-a2").unwrap();
    let b_out = log
        .iter()
        .position(|l| l == "deregister i-b1,i-b2")
        .unwrap();
    assert!(back < b_out, "{log:?}");
    assert_eq!(phase(&store, &lb), Phase::RolledBack);
    lb.assert_never_dark();
}

#[tokio::test]
async fn keep_old_and_from_leave_other_members_alone() {
    let lb = FakeLb::new(
        &["i-a1", "i-c1"],
        &[("i-a1", vec![Healthy]), ("i-c1", vec![Healthy])],
    );
    let mut dir = ec2();
    dir.0.push(instance("i-c1", "c", "vpc-1", "running"));
    let mut req = request();
    req.from_cluster = Some("a".into());
    let p = ops::plan_switch(&lb, &dir, &lb.lb, &req).await.unwrap();
    assert_eq!(p.transition.deregister, ids(&["i-a1"]));
    assert_eq!(p.untouched, ids(&["i-c1"]));
    req.keep_old = true;
    let p = ops::plan_switch(&lb, &dir, &lb.lb, &req).await.unwrap();
    assert!(p.transition.deregister.is_empty());
    let store = FakeStore::default();
    let report = |_: &Event| {};
    ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap();
    assert_eq!(lb.members(), ids(&["i-a1", "i-b1", "i-b2", "i-c1"]));
    lb.assert_never_dark();
}

#[tokio::test]
async fn bad_input_is_refused_before_any_change() {
    let lb = lb_with(vec![Healthy]);
    let mut req = request();
    req.to_cluster = "nope".into();
    let err = ops::plan_switch(&lb, &ec2(), &lb.lb, &req)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("tag abshift:cluster=nope"),
        "{err}"
    );

    let mut dir = ec2();
    dir.0[2].vpc_id = Some("vpc-other".into());
    let err = ops::plan_switch(&lb, &dir, &lb.lb, &request())
        .await
        .unwrap_err();
    assert!(matches!(err, ElbError::WrongVpc { .. }), "{err}");

    let mut req = request();
    req.min_healthy = Some(3);
    assert!(ops::plan_switch(&lb, &ec2(), &lb.lb, &req).await.is_err());
    req.min_healthy = Some(0);
    assert!(ops::plan_switch(&lb, &ec2(), &lb.lb, &req).await.is_err());
    let mut req = request();
    req.from_cluster = Some("b".into());
    assert!(ops::plan_switch(&lb, &ec2(), &lb.lb, &req).await.is_err());
    assert!(lb.log().iter().all(|l| l == "health"), "{:?}", lb.log());
    lb.assert_never_dark();
}

#[tokio::test]
async fn min_healthy_gates_on_part_of_b() {
    let lb = FakeLb::new(
        &["i-a1"],
        &[
            ("i-a1", vec![Healthy]),
            ("i-b1", vec![Healthy]),
            ("i-b2", vec![Initial]),
        ],
    );
    let mut req = request();
    req.min_healthy = Some(1);
    let p = ops::plan_switch(&lb, &ec2(), &lb.lb, &req).await.unwrap();
    let store = FakeStore::default();
    let report = |_: &Event| {};
    ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap();
    assert_eq!(lb.members(), ids(&["i-b1", "i-b2"]));
    lb.assert_never_dark();
}

#[tokio::test]
async fn two_switches_at_once_one_is_refused() {
    let lb = lb_with(vec![Initial, Healthy]);
    let store = FakeStore::default();
    let report = |_: &Event| {};
    let p = plan(&lb).await;
    let c1 = cx(&lb, &store, &report, Cancel::never());
    let c2 = cx(&lb, &store, &report, Cancel::never());
    let (r1, r2) = tokio::join!(ops::execute_switch(&c1, &p), ops::execute_switch(&c2, &p));
    let refused = [&r1, &r2]
        .iter()
        .filter(|r| matches!(r, Err(ElbError::LockHeld { .. })))
        .count();
    assert_eq!(refused, 1, "{r1:?} {r2:?}");
    assert!(r1.is_ok() || r2.is_ok());
    lb.assert_never_dark();
}

#[tokio::test]
async fn stale_lock_needs_break_lock_and_fresh_lock_cannot_be_broken() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let opts = LockOptions {
        break_lock: true,
        stale_after: Duration::from_secs(600),
    };
    let now = chrono::Utc::now();
    let _held = state::acquire(&store, &lb.lb, "alice@h1", "switch", &opts, now)
        .await
        .unwrap();
    // Fresh: --break-lock does not help.
    let err = state::acquire(&store, &lb.lb, "bob@h2", "switch", &opts, now)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ElbError::LockHeld { owner, stale: false, .. } if owner == "alice@h1"),
        "{err}"
    );
    // Stale, without --break-lock: refused, and told how.
    store.age(&state::lock_key(&lb.lb), chrono::Duration::minutes(11));
    let no_break = LockOptions {
        break_lock: false,
        ..opts.clone()
    };
    let err = state::acquire(&store, &lb.lb, "bob@h2", "switch", &no_break, now)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--break-lock"), "{err}");
    // Stale, with --break-lock: taken over.
    let lock = state::acquire(&store, &lb.lb, "bob@h2", "switch", &opts, now)
        .await
        .unwrap();
    state::release(&store, lock).await.unwrap();
    assert!(store.keys().is_empty());
}

#[tokio::test]
async fn store_ignoring_if_none_match_is_caught_by_read_back() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore {
        ignore_conditional: true,
        ..FakeStore::default()
    };
    let opts = LockOptions {
        break_lock: false,
        stale_after: Duration::from_secs(600),
    };
    let now = chrono::Utc::now();
    let first = state::acquire(&store, &lb.lb, "alice@h1", "switch", &opts, now)
        .await
        .unwrap();
    // The second writer silently overwrites the first one's lock...
    let second = state::acquire(&store, &lb.lb, "bob@h2", "switch", &opts, now)
        .await
        .unwrap();
    // ...and the first one finds out at its next check, before changing anything more.
    let err = state::verify(&store, &first).await.unwrap_err();
    assert!(
        matches!(&err, ElbError::LockLost { owner, .. } if owner == "bob@h2"),
        "{err}"
    );
    let err = state::release(&store, first).await.unwrap_err();
    assert!(matches!(err, ElbError::LockLost { .. }));
    state::release(&store, second).await.unwrap();
}

#[tokio::test]
async fn rollback_without_record_is_an_error() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let err = ops::plan_rollback(&lb, &store, &lb.lb).await.unwrap_err();
    assert!(matches!(err, ElbError::NothingRecorded(_)));
}

#[test]
fn guard_refuses_last_healthy_member() {
    use super::model::MemberHealth;
    let h = |id: &str, health| MemberHealth {
        id: id.into(),
        health,
        reason: None,
    };
    let lb = super::fake::lb_ref();
    let health = vec![h("a", Healthy), h("b", Unhealthy), h("c", Draining)];
    assert!(super::machine::guard(&lb, &health, &ids(&["a"])).is_err());
    assert!(super::machine::guard(&lb, &health, &ids(&["b"])).is_ok());
}

#[tokio::test]
async fn membership_changed_after_planning_is_refused_untouched() {
    use super::model::LoadBalancerApi;
    let lb = lb_with(vec![Healthy]);
    let p = plan(&lb).await;
    // Someone else registers an instance between our plan and our lock.
    lb.register(&lb.lb, &ids(&["i-x"])).await.unwrap();
    let store = FakeStore::default();
    let report = |_: &Event| {};
    let err = ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("changed since the switch was planned"),
        "{err}"
    );
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2", "i-x"]));
    assert!(
        store.keys().is_empty(),
        "no record, no lock left: {:?}",
        store.keys()
    );
    lb.assert_never_dark();
}

/// A classic ELB with A serving and B's instances following `b_script`.
pub(super) fn classic_with(b_script: Vec<Health>) -> FakeLb {
    FakeLb::classic(
        &["i-a1", "i-a2"],
        &[
            ("i-a1", vec![Healthy]),
            ("i-a2", vec![Healthy]),
            ("i-b1", b_script.clone()),
            ("i-b2", b_script),
        ],
    )
}

#[tokio::test]
async fn classic_in_service_while_draining_is_waited_for_and_not_a_member() {
    let lb = classic_with(vec![Healthy]);
    lb.drain_polls(3);
    let store = FakeStore::default();
    let report = |_: &Event| {};
    let p = plan(&lb).await;
    ops::execute_switch(&cx(&lb, &store, &report, Cancel::never()), &p)
        .await
        .unwrap();
    let log = lb.log();
    let dereg = log
        .iter()
        .position(|l| l == "deregister i-a1,i-a2")
        .unwrap();
    // InService-but-draining was waited out, not taken for healthy members.
    assert!(
        log[dereg + 1..].iter().filter(|l| *l == "health").count() >= 3,
        "{log:?}"
    );
    assert_eq!(lb.members(), ids(&["i-b1", "i-b2"]));
    lb.assert_never_dark();
}

#[tokio::test]
async fn classic_drain_timeout_rollback_brings_a_back_before_b_leaves() {
    let lb = classic_with(vec![Healthy]);
    lb.drain_polls(1_000_000);
    let store = FakeStore::default();
    let report = |_: &Event| {};
    let p = plan(&lb).await;
    let mut c = cx(&lb, &store, &report, Cancel::never());
    c.timing.drain_timeout = Duration::from_millis(20);
    let err = ops::execute_switch(&c, &p).await.unwrap_err();
    assert!(err.to_string().contains("still draining"), "{err}");
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2"]));
    let log = lb.log();
    let back = log.iter().position(|l| l == "register i-a1,i-a2").unwrap();
    let b_out = log
        .iter()
        .position(|l| l == "deregister i-b1,i-b2")
        .unwrap();
    assert!(back < b_out, "{log:?}");
    lb.assert_never_dark();
}

#[tokio::test]
async fn classic_rollback_while_a_is_still_draining_never_goes_dark() {
    let lb = classic_with(vec![Healthy]);
    lb.drain_polls(1_000_000);
    let store = FakeStore::default();
    let report = |_: &Event| {};
    let p = plan(&lb).await;
    {
        let mut c = cx(&lb, &store, &report, Cancel::never());
        c.timing.drain_timeout = Duration::from_secs(3600);
        // The operator's process dies while A drains: the future is dropped
        // once the deregistration of A is seen, as after a kill -9.
        let switch = ops::execute_switch(&c, &p);
        let deregistered = async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while !lb.log().iter().any(|l| l == "deregister i-a1,i-a2") {
                assert!(tokio::time::Instant::now() < deadline, "{:?}", lb.log());
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            r = switch => panic!("the switch should still be draining: {r:?}"),
            () = deregistered => {}
        }
    }
    assert_eq!(lb.members(), ids(&["i-b1", "i-b2"]));
    assert_eq!(phase(&store, &lb), Phase::Started);

    // Rollback straight away, A still InService-while-draining: A must be
    // registered again and healthy before B is removed.
    store.age(&state::lock_key(&lb.lb), chrono::Duration::hours(3));
    let mut c = cx(&lb, &store, &report, Cancel::never());
    c.lock.break_lock = true;
    c.timing.drain_timeout = Duration::from_millis(20);
    ops::execute_rollback(&c, &lb.lb).await.unwrap();
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2"]));
    let log = lb.log();
    let back = log.iter().rposition(|l| l == "register i-a1,i-a2").unwrap();
    let b_out = log
        .iter()
        .position(|l| l == "deregister i-b1,i-b2")
        .unwrap();
    assert!(back < b_out, "{log:?}");
    lb.assert_never_dark();
}

#[test]
fn guard_never_counts_a_draining_classic_instance() {
    use super::model::MemberHealth;
    let lb = super::fake::lb_ref();
    let health = vec![
        MemberHealth {
            id: "a".into(),
            health: super::aws::classic_health(
                "InService",
                "Instance deregistration currently in progress.",
            ),
            reason: None,
        },
        MemberHealth {
            id: "b".into(),
            health: Healthy,
            reason: None,
        },
    ];
    assert!(super::machine::guard(&lb, &health, &ids(&["b"])).is_err());
    assert_eq!(super::model::members(&health), ids(&["b"]));
}

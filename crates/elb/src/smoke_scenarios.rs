//! Scenario tests of the smoke gate and the burn-down over the fakes, for what moto
//! cannot show (hanging or interrupted checks, metrics falling to zero, draining
//! delays); each asserts that A stayed until the checks passed, and never dark.

use std::time::Duration;

use super::burn::{BurnDownSettings, NoMetrics, Reading};
use super::error::ElbError;
use super::fake::{FakeLb, FakeMetrics, FakeSmoke, FakeStore, Script, ids};
use super::machine::{Cancel, Event};
use super::model::Health::*;
use super::ops::{self, Gates, SwitchReport};
use super::scenarios::{Run, cx, lb_with, phase, plan};
use super::smoke::{OUTPUT_TAIL, SmokeCheck, SmokeEnv, SmokeSettings};
use super::state::{self, Phase};

fn env() -> SmokeEnv {
    SmokeEnv {
        lb_name: "live".into(),
        lb_dns: "live-123.us-east-1.elb.amazonaws.com".into(),
        lb_role: "live".into(),
        from_cluster: "a".into(),
        to_cluster: "b".into(),
    }
}

fn settings(checks: &[&str], timeout: Duration) -> SmokeSettings {
    SmokeSettings {
        checks: checks
            .iter()
            .map(|c| SmokeCheck::Command(c.to_string()))
            .collect(),
        timeout,
        retry_every: Duration::from_millis(1),
        env: env(),
    }
}

fn exit(code: i32, output: &str) -> Script {
    Script::Exit {
        code,
        output: output.into(),
    }
}

/// The audit records in the store, as JSON.
fn audits(store: &FakeStore) -> Vec<serde_json::Value> {
    let g = store.objects.lock().unwrap();
    g.iter()
        .filter(|(k, _)| k.contains("/audit/"))
        .map(|(_, (b, _))| serde_json::from_slice(b).unwrap())
        .collect()
}

fn a_and_b() -> Vec<String> {
    ids(&["i-a1", "i-a2", "i-b1", "i-b2"])
}

async fn switch_with<G: super::smoke::SmokeGate, M: super::burn::TrafficMetrics>(
    lb: &FakeLb,
    store: &FakeStore,
    report: &(dyn Fn(&Event) + Sync),
    cancel: Cancel,
    gates: &Gates<'_, G, M>,
) -> Result<SwitchReport, ElbError> {
    let p = plan(lb).await;
    ops::execute_switch_gated(&cx(lb, store, report, cancel), &p, gates).await
}

#[tokio::test]
async fn failing_smoke_rolls_back_before_a_is_deregistered() {
    let lb = lb_with(vec![Initial, Healthy]);
    let store = FakeStore::default();
    let smoke = FakeSmoke::new(
        &lb,
        vec![
            exit(0, "ok\n"),
            exit(3, "GET /cart\nexpected 200, got 500\n"),
        ],
    );
    let gates = Gates {
        smoke: settings(&["./check-home", "./check-cart"], Duration::from_secs(60)),
        gate: &smoke,
        burn_down: None,
        metrics: &NoMetrics,
    };
    let run = Run::new();
    let report = |e: &Event| run.events.lock().unwrap().push(e.clone());
    let err = switch_with(&lb, &store, &report, Cancel::never(), &gates)
        .await
        .unwrap_err();
    let text = err.to_string();
    for needle in [
        "smoke check `./check-cart` failed on `live`",
        "exit status 3",
        "expected 200, got 500",
        "rolled back to the recorded membership",
    ] {
        assert!(text.contains(needle), "`{needle}` not in: {text}");
    }
    // Both checks saw B serving beside A, with the switch's environment.
    let runs = smoke.runs();
    assert_eq!(runs.len(), 2);
    for (_, e, members) in &runs {
        assert_eq!(members, &a_and_b());
        assert_eq!(e, &env());
    }
    // A never left; B was removed again.
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2"]));
    assert!(
        !lb.log().iter().any(|l| l.contains("deregister i-a")),
        "{:?}",
        lb.log()
    );
    lb.assert_never_dark();
    assert_eq!(phase(&store, &lb), Phase::RolledBack);

    // The audit entry holds every check: result, exit status, output.
    let audit = audits(&store);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["result"], "rolled-back");
    let smoke = audit[0]["smoke"].as_array().unwrap();
    assert_eq!(smoke.len(), 2);
    assert_eq!(smoke[0]["result"], "passed");
    assert_eq!(smoke[0]["exit_code"], 0);
    assert_eq!(smoke[1]["check"], "./check-cart");
    assert_eq!(smoke[1]["kind"], "command");
    assert_eq!(smoke[1]["result"], "failed");
    assert_eq!(smoke[1]["exit_code"], 3);
    assert_eq!(smoke[1]["status"], "exit status 3");
    assert_eq!(smoke[1]["output"], "GET /cart\nexpected 200, got 500\n");
    assert_eq!(smoke[1]["output_truncated"], false);
    // And the terminal was told each result.
    let told: Vec<String> = run
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Smoke(r) => Some(r.result.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(told, vec!["passed", "failed"]);
}

#[tokio::test]
async fn passing_smoke_completes_the_switch() {
    let lb = lb_with(vec![Healthy]);
    lb.drain_polls(2);
    let store = FakeStore::default();
    let smoke = FakeSmoke::new(&lb, vec![exit(0, "home ok\n"), exit(0, "cart ok\n")]);
    let gates = Gates {
        smoke: settings(&["./check-home", "./check-cart"], Duration::from_secs(60)),
        gate: &smoke,
        burn_down: None,
        metrics: &NoMetrics,
    };
    let report = |_: &Event| {};
    let r = switch_with(&lb, &store, &report, Cancel::never(), &gates)
        .await
        .unwrap();
    assert_eq!(lb.members(), ids(&["i-b1", "i-b2"]));
    // The checks ran while A was still registered, i.e. before its removal.
    for (_, _, members) in smoke.runs() {
        assert_eq!(members, a_and_b());
    }
    assert_eq!(r.smoke.len(), 2);
    assert!(r.smoke.iter().all(|s| s.passed()));
    lb.assert_never_dark();
    assert_eq!(phase(&store, &lb), Phase::Completed);
    let audit = audits(&store);
    assert_eq!(audit[0]["result"], "completed");
    assert_eq!(audit[0]["smoke"][1]["output"], "cart ok\n");
}

#[tokio::test]
async fn hanging_smoke_is_stopped_at_its_timeout_and_rolls_back() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let smoke = FakeSmoke::new(
        &lb,
        vec![Script::Hang {
            output: "connecting to live-123…\n".into(),
        }],
    );
    let gates = Gates {
        smoke: settings(&["./wait-forever"], Duration::from_millis(50)),
        gate: &smoke,
        burn_down: None,
        metrics: &NoMetrics,
    };
    let report = |_: &Event| {};
    let started = std::time::Instant::now();
    let err = switch_with(&lb, &store, &report, Cancel::never(), &gates)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let text = err.to_string();
    assert!(text.contains("timed out after 0.05s"), "{text}");
    assert!(text.contains("rolled back"), "{text}");
    // The check was stopped (a real command's process group is killed then).
    assert_eq!(smoke.stopped.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2"]));
    assert!(!lb.log().iter().any(|l| l.contains("deregister i-a")));
    lb.assert_never_dark();
    let audit = audits(&store);
    let s = &audit[0]["smoke"][0];
    assert_eq!(s["result"], "timed-out");
    assert!(s["exit_code"].is_null());
    assert_eq!(s["output"], "connecting to live-123…\n");
}

#[tokio::test]
async fn ctrl_c_during_smoke_rolls_back() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let smoke = FakeSmoke::new(
        &lb,
        vec![Script::Hang {
            output: "still checking\n".into(),
        }],
    );
    let gates = Gates {
        smoke: settings(&["./slow-check"], Duration::from_secs(600)),
        gate: &smoke,
        burn_down: None,
        metrics: &NoMetrics,
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    let report = move |e: &Event| {
        if matches!(e, Event::Step(s) if s.starts_with("smoke check 1/1")) {
            let _ = tx.send(true);
        }
    };
    let started = std::time::Instant::now();
    let err = switch_with(&lb, &store, &report, Cancel::new(rx), &gates)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let text = err.to_string();
    assert!(text.contains("interrupted"), "{text}");
    assert!(text.contains("rolled back"), "{text}");
    assert_eq!(smoke.stopped.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(lb.members(), ids(&["i-a1", "i-a2"]));
    assert!(!lb.log().iter().any(|l| l.contains("deregister i-a")));
    lb.assert_never_dark();
    assert_eq!(phase(&store, &lb), Phase::RolledBack);
    let audit = audits(&store);
    assert_eq!(audit[0]["smoke"][0]["result"], "interrupted");
    assert_eq!(audit[0]["smoke"][0]["output"], "still checking\n");
}

#[tokio::test]
async fn audit_output_is_bounded_and_escaped() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let noisy = format!("{}\n\u{1b}[31mFAIL\u{1b}[0m: cart\n", "x".repeat(20_000));
    let smoke = FakeSmoke::new(&lb, vec![exit(1, &noisy)]);
    let gates = Gates {
        smoke: settings(&["./noisy"], Duration::from_secs(60)),
        gate: &smoke,
        burn_down: None,
        metrics: &NoMetrics,
    };
    let report = |_: &Event| {};
    let err = switch_with(&lb, &store, &report, Cancel::never(), &gates)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.contains("\\u{1b}[31mFAIL"), "{text}");
    let audit = audits(&store);
    let s = &audit[0]["smoke"][0];
    let output = s["output"].as_str().unwrap();
    assert!(output.len() <= OUTPUT_TAIL + 64, "{}", output.len());
    assert!(
        output.ends_with("\\u{1b}[31mFAIL\\u{1b}[0m: cart\n"),
        "{output}"
    );
    assert_eq!(s["output_truncated"], true);
    assert_eq!(s["output_bytes"], noisy.len());
    lb.assert_never_dark();
}

fn burn(timeout: Duration) -> BurnDownSettings {
    BurnDownSettings {
        timeout,
        poll_interval: Duration::from_millis(1),
    }
}

fn in_flight(value: f64) -> Reading {
    Reading::InFlight {
        metric: "RequestCount".into(),
        value,
    }
}

#[tokio::test]
async fn burn_down_waits_for_the_metric_to_reach_zero() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let metrics = FakeMetrics::new(vec![
        Reading::Pending {
            metric: "RequestCount".into(),
            why: "no datapoint yet".into(),
        },
        in_flight(12.0),
        in_flight(3.0),
        in_flight(0.0),
    ]);
    let gates = Gates {
        smoke: SmokeSettings::default(),
        gate: &super::smoke::NoSmoke,
        burn_down: Some(burn(Duration::from_secs(60))),
        metrics: &metrics,
    };
    let run = Run::new();
    let report = |e: &Event| run.events.lock().unwrap().push(e.clone());
    let r = switch_with(&lb, &store, &report, Cancel::never(), &gates)
        .await
        .unwrap();
    assert_eq!(metrics.calls.load(std::sync::atomic::Ordering::SeqCst), 4);
    let b = r.burn_down.unwrap();
    assert!(b.reached);
    assert_eq!(b.method, "metric");
    assert_eq!(b.last_value, Some(0.0));
    assert_eq!(b.members, ids(&["i-a1", "i-a2"]));
    assert_eq!(r.released, ids(&["i-a1", "i-a2"]));
    assert!(
        run.events()
            .iter()
            .any(|e| matches!(e, Event::Step(s) if s.contains("12 still reaching i-a1, i-a2")))
    );
    assert_eq!(phase(&store, &lb), Phase::Completed);
    let audit = audits(&store);
    assert_eq!(audit[0]["burn_down"]["reached"], true);
    assert_eq!(audit[0]["burn_down"]["method"], "metric");
    assert_eq!(lb.members(), ids(&["i-b1", "i-b2"]));
    lb.assert_never_dark();
}

#[tokio::test]
async fn burn_down_without_a_metric_waits_out_the_draining_delay() {
    let mut lb = lb_with(vec![Healthy]);
    lb.lb.drain_delay = Some(Duration::from_millis(150));
    let store = FakeStore::default();
    let metrics = FakeMetrics::new(vec![Reading::NoMetric {
        why: "cross-zone load balancing is on".into(),
    }]);
    let gates = Gates {
        smoke: SmokeSettings::default(),
        gate: &super::smoke::NoSmoke,
        burn_down: Some(burn(Duration::from_secs(60))),
        metrics: &metrics,
    };
    let deregistered = std::sync::Mutex::new(None);
    let report = |e: &Event| {
        if matches!(e, Event::Step(s) if s.starts_with("deregistering i-a1")) {
            *deregistered.lock().unwrap() = Some(std::time::Instant::now());
        }
    };
    let r = switch_with(&lb, &store, &report, Cancel::never(), &gates)
        .await
        .unwrap();
    let since = deregistered.lock().unwrap().unwrap();
    assert!(
        since.elapsed() >= Duration::from_millis(150),
        "returned {:?} after the deregistration",
        since.elapsed()
    );
    let b = r.burn_down.unwrap();
    assert!(b.reached, "{b:?}");
    assert_eq!(b.method, "draining-delay");
    assert!(
        b.detail.contains("cross-zone load balancing is on"),
        "{b:?}"
    );
    assert_eq!(r.released, ids(&["i-a1", "i-a2"]));
    lb.assert_never_dark();
}

#[tokio::test]
async fn burn_down_that_cannot_finish_in_time_fails_but_keeps_the_switch() {
    // A metric that never reaches zero.
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let metrics = FakeMetrics::new(vec![in_flight(7.0)]);
    let gates = Gates {
        smoke: SmokeSettings::default(),
        gate: &super::smoke::NoSmoke,
        burn_down: Some(burn(Duration::from_millis(30))),
        metrics: &metrics,
    };
    let report = |_: &Event| {};
    let err = switch_with(&lb, &store, &report, Cancel::never(), &gates)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ElbError::BurnDownIncomplete { .. }), "{text}");
    assert!(text.contains("do not scale a down yet"), "{text}");
    assert!(text.contains("RequestCount: 7 still reaching"), "{text}");
    // The switch itself stands: B serves, recorded as completed, not rolled back.
    assert_eq!(lb.members(), ids(&["i-b1", "i-b2"]));
    assert_eq!(phase(&store, &lb), Phase::Completed);
    let audit = audits(&store);
    assert_eq!(audit[0]["result"], "completed");
    assert_eq!(audit[0]["burn_down"]["reached"], false);
    assert!(!store.keys().contains(&state::lock_key(&lb.lb)));

    // A draining delay longer than the burn-down may take: refused at once.
    let mut lb = lb_with(vec![Healthy]);
    lb.lb.drain_delay = Some(Duration::from_secs(300));
    let store = FakeStore::default();
    let metrics = FakeMetrics::new(vec![Reading::NoMetric { why: "no".into() }]);
    let gates = Gates {
        smoke: SmokeSettings::default(),
        gate: &super::smoke::NoSmoke,
        burn_down: Some(burn(Duration::from_secs(5))),
        metrics: &metrics,
    };
    let started = std::time::Instant::now();
    let err = switch_with(&lb, &store, &report, Cancel::never(), &gates)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(err.to_string().contains("--burn-down-timeout"), "{err}");
    assert_eq!(phase(&store, &lb), Phase::Completed);
    lb.assert_never_dark();
}

#[tokio::test]
async fn ctrl_c_during_burn_down_stops_waiting_without_rolling_back() {
    let lb = lb_with(vec![Healthy]);
    let store = FakeStore::default();
    let metrics = FakeMetrics::new(vec![in_flight(5.0)]);
    let gates = Gates {
        smoke: SmokeSettings::default(),
        gate: &super::smoke::NoSmoke,
        burn_down: Some(BurnDownSettings {
            timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(60),
        }),
        metrics: &metrics,
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    let report = move |e: &Event| {
        if matches!(e, Event::Step(s) if s.contains("still reaching")) {
            // The state record already says `completed` when the wait starts.
            let _ = tx.send(true);
        }
    };
    let started = std::time::Instant::now();
    let err = switch_with(&lb, &store, &report, Cancel::new(rx), &gates)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.to_string().contains("interrupted"), "{err}");
    assert!(matches!(err, ElbError::BurnDownIncomplete { .. }), "{err}");
    assert_eq!(lb.members(), ids(&["i-b1", "i-b2"]));
    assert_eq!(phase(&store, &lb), Phase::Completed);
    lb.assert_never_dark();
}

#[tokio::test]
async fn dry_run_steps_name_the_checks_their_environment_and_the_burn_down() {
    let lb = lb_with(vec![Healthy]);
    let p = plan(&lb).await;
    let mut s = settings(
        &["curl -fsS http://$ABSHIFT_LB_DNS/'health'"],
        Duration::from_secs(60),
    );
    s.checks.push(SmokeCheck::Url {
        url: "http://${ABSHIFT_LB_DNS}/ready".into(),
        expect_status: 204,
    });
    let steps = p.steps_with(
        &super::scenarios::timing(),
        &s,
        Some(&burn(Duration::from_secs(900))),
    );
    let text = steps.join("\n");
    for needle in [
        "ABSHIFT_LB_NAME=live ABSHIFT_LB_DNS=live-123.us-east-1.elb.amazonaws.com ABSHIFT_LB_ROLE=live ABSHIFT_FROM_CLUSTER=a ABSHIFT_TO_CLUSTER=b",
        "smoke check 1: sh -c 'curl -fsS http://$ABSHIFT_LB_DNS/'\\''health'\\''' (passes on exit status 0)",
        "smoke check 2: GET 'http://live-123.us-east-1.elb.amazonaws.com/ready' every 0.001s until it answers HTTP 204",
        "wait up to 900s until nothing reaches i-a1, i-a2",
    ] {
        assert!(text.contains(needle), "`{needle}` not in:\n{text}");
    }
    // The checks come after the health wait and before the deregistration.
    let health = steps
        .iter()
        .position(|s| s.contains("report healthy"))
        .unwrap();
    let check = steps
        .iter()
        .position(|s| s.starts_with("smoke check 1"))
        .unwrap();
    let dereg = steps
        .iter()
        .position(|s| s.contains("then deregister"))
        .unwrap();
    assert!(health < check && check < dereg, "{steps:?}");
}

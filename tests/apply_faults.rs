//! `migrate apply` through a fault-injecting proxy in front of B's real API
//! server: 429 with Retry-After, 503, and connections dropped before and after
//! the write reached the server. Apply must still complete and verify clean,
//! and a second run must send no write at all (counted at the proxy).

#[path = "fault_proxy/mod.rs"]
mod fault_proxy;
mod support;

use fault_proxy::{Fault, FaultPlan, FaultProxy};
use serde_json::Value;

#[test]
fn apply_survives_429_503_and_dropped_connections_then_reapplies_with_zero_writes() {
    let Some(env) = support::env("applyfaults") else {
        return;
    };
    env.seed("paas-a", &support::estate_dir());
    let upstream = fault_proxy::paas_b_upstream(&env.dir).unwrap();
    let faults = FaultPlan::pass_through()
        .writes_only()
        .every(
            5,
            Fault::TooManyRequests {
                retry_after_secs: 1,
            },
        )
        .every(7, Fault::Unavailable)
        .every(11, Fault::DropBeforeForward)
        .every(13, Fault::DropAfterForward);
    let proxy = FaultProxy::start(&env.dir, &upstream, faults).unwrap();
    let kubeconfig = env.dir.join("via-proxy.kubeconfig");
    fault_proxy::kubeconfig_via_proxy(&env.kubeconfig, &kubeconfig, proxy.url()).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_abshift"))
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let plan = env.dir.join("faults.json");
    let plan = plan.to_str().unwrap();
    let out = run(&[
        "migrate", "plan", "--from", "paas-a", "--to", "paas-b", "-o", plan,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run(&["-v", "migrate", "apply", plan, "--yes", "-o", "json"]);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "apply through faults failed: {log}\n{summary}"
    );
    // The adaptive level heard the 429s and the 503s, backed off, and -v
    // says so, naming API Priority and Fairness's priority level.
    let trace = &summary["concurrency"];
    assert_eq!(trace["pinned"], false, "{trace}");
    assert!(trace["throttled"].as_u64().unwrap() > 0, "{trace}");
    assert!(trace["overloaded"].as_u64().unwrap() > 0, "{trace}");
    let cut = trace["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["reason"] == "throttled" || c["reason"] == "overloaded")
        .unwrap_or_else(|| panic!("no back-off in {trace}"));
    assert!(cut["to"].as_u64() < cut["from"].as_u64(), "{cut}");
    assert!(
        log.contains("concurrency: 429 Too Many Requests; backing off")
            && log.contains(&format!(
                "apf_priority_level=\"{}\"",
                fault_proxy::PRIORITY_LEVEL_UID
            )),
        "{log}"
    );
    let c = proxy.counters();
    assert!(
        c.faults.too_many_requests > 0 && c.faults.unavailable > 0,
        "{c:?}"
    );
    assert!(
        c.faults.dropped_before_forward > 0 && c.faults.dropped_after_forward > 0,
        "{c:?}"
    );
    assert!(
        summary["retries"].as_u64().unwrap() >= c.faults.total(),
        "every fault was retried: {summary}"
    );
    assert_eq!(summary["counts"]["failed"], Value::Null, "{summary}");

    let out = run(&["migrate", "verify", plan]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Second run: the journal says everything is done; the proxy sees no write.
    proxy.set_plan(FaultPlan::pass_through());
    proxy.reset_counters();
    let out = run(&["migrate", "apply", plan, "--yes", "-o", "json"]);
    assert!(out.status.success());
    assert_eq!(
        proxy.counters().writes_forwarded(),
        0,
        "{:?}",
        proxy.counters()
    );
}

//! Work handed over between two real clusters: CronJobs and a singleton are
//! created stopped in B by `migrate apply --suspend-*`, verify still passes,
//! and `abshift cutover suspend|resume` stops them in A and starts them in B,
//! restoring exactly what each held before (an already suspended CronJob too).

mod support;

use std::process::Output;

use serde_json::{Value, json};
use support::Env;

const NS: &str = "handover";

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", text(&out));
    out
}

fn get(env: &Env, context: &str, kind: &str, name: &str) -> Value {
    let out = ok(env.kubectl(context, &["-n", NS, "get", kind, name, "-o", "json"]));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What a hand-over may touch, as the cluster holds it.
fn state(env: &Env, context: &str) -> Value {
    let annotation = |o: &Value| o["metadata"]["annotations"]["abshift.io/handover"].clone();
    let cron = |name: &str| {
        let o = get(env, context, "cronjob", name);
        json!({"suspend": o["spec"]["suspend"], "record": annotation(&o)})
    };
    let deploy = |name: &str| {
        let o = get(env, context, "deployment", name);
        json!({"replicas": o["spec"]["replicas"], "record": annotation(&o)})
    };
    json!({
        "nightly": cron("nightly"),
        "paused": cron("paused"),
        "leader": deploy("leader"),
        "web": deploy("web"),
    })
}

fn seed(env: &Env) {
    let cron = |name: &str, suspend: bool| {
        json!({"apiVersion": "batch/v1beta1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"schedule": "0 1 * * *", "suspend": suspend,
                "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "job", "image": "registry.invalid/job:1"}]}}}}}})
    };
    let deploy = |name: &str, replicas: u32, strategy: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "strategy": {"type": strategy},
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "registry.invalid/app:1",
                        "readinessProbe": {"exec": {"command": ["true"]}}}]}}}})
    };
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        cron("nightly", false),
        cron("paused", true),
        deploy("leader", 1, "Recreate"),
        deploy("web", 2, "RollingUpdate"),
    ]});
    let path = env.dir.join("handover.json");
    std::fs::write(&path, serde_json::to_vec(&list).unwrap()).unwrap();
    ok(env.kubectl("paas-a", &["apply", "-f", path.to_str().unwrap()]));
}

#[test]
fn work_is_handed_over_and_every_previous_value_comes_back() {
    let Some(env) = support::env("cutover") else {
        return;
    };
    seed(env);
    let (plan_path, plan, _) = env.plan_file(&["--from", "paas-a", "--to", "paas-b", "-n", NS]);
    let p = plan_path.to_str().unwrap();
    let findings: Vec<(String, String)> = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"].as_str().unwrap().ends_with("-runs-twice"))
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["object"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        findings,
        [
            ("cronjob-runs-twice".to_string(), "nightly".to_string()),
            ("singleton-runs-twice".to_string(), "leader".to_string())
        ]
    );
    let a_before = state(env, "paas-a");

    // B gets the work stopped, each object recording A's value.
    ok(env.abshift(&[
        "migrate",
        "apply",
        p,
        "--yes",
        "--suspend-cronjobs",
        "--suspend-singletons",
    ]));
    let b = state(env, "paas-b");
    assert_eq!(b["nightly"]["suspend"], true);
    assert_eq!(
        b["nightly"]["record"],
        r#"{"field":"suspend","previous":false}"#
    );
    assert_eq!(b["paused"]["suspend"], true);
    assert_eq!(
        b["paused"]["record"],
        r#"{"field":"suspend","previous":true}"#
    );
    assert_eq!(b["leader"]["replicas"], 0);
    assert_eq!(b["web"]["replicas"], 2);
    assert_eq!(b["web"]["record"], Value::Null);
    // B holds what A holds, as it will be once resumed.
    ok(env.abshift(&["migrate", "verify", p]));

    // After the live switch: stop it in A (the plan's findings only) ...
    let dry = ok(env.abshift(&[
        "cutover",
        "suspend",
        "--context",
        "paas-a",
        "--plan",
        p,
        "--dry-run",
    ]));
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("would suspend"),
        "{}",
        text(&dry)
    );
    assert_eq!(state(env, "paas-a"), a_before, "a dry run changes nothing");
    let out = ok(env.abshift(&[
        "cutover",
        "suspend",
        "--context",
        "paas-a",
        "--plan",
        p,
        "-o",
        "json",
    ]));
    let changed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(changed.as_array().unwrap().len(), 2, "{changed}");
    let a = state(env, "paas-a");
    assert_eq!(a["nightly"]["suspend"], true);
    assert_eq!(a["leader"]["replicas"], 0);
    assert_eq!(a["paused"], a_before["paused"], "not a finding: untouched");
    // A second suspend keeps the first record.
    let again = ok(env.abshift(&["cutover", "suspend", "--context", "paas-a", "--plan", p]));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("kept"),
        "{}",
        text(&again)
    );
    assert_eq!(state(env, "paas-a"), a);
    // ... and start it in B.
    ok(env.abshift(&["cutover", "resume", "--context", "paas-b", "-n", NS]));
    let b = state(env, "paas-b");
    assert_eq!(b, a_before, "B runs exactly what A ran");
    // Still verified, with the work stopped in A.
    ok(env.abshift(&["migrate", "verify", p]));

    // Rolling back the hand-over restores A exactly, the suspended CronJob too.
    ok(env.abshift(&["cutover", "resume", "--context", "paas-a", "-n", NS]));
    assert_eq!(state(env, "paas-a"), a_before);
    let unknown = env.abshift(&[
        "cutover",
        "suspend",
        "--context",
        "paas-a",
        "--kinds",
        "pods",
    ]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
}

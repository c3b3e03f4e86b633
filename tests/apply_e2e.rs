//! `migrate apply` and `migrate verify` on two real control planes: the estate
//! into an empty B, idempotent re-runs, kill -9 and resume, refusals before any
//! write, and each --on-conflict policy. Tests share one cluster pair and run
//! one at a time; each works in its own namespaces.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::Env;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn setup() -> Option<(std::sync::MutexGuard<'static, ()>, &'static Env)> {
    static SEEDED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = support::env("apply")?;
    SEEDED.get_or_init(|| env.seed("paas-a", &support::estate_dir()));
    Some((guard, env))
}

fn plan_file(env: &Env, name: &str, args: &[&str]) -> String {
    let path = env.dir.join(format!("{name}.json"));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(env.dir.join(format!("{name}.json.journal")));
    let p = path.to_str().unwrap().to_string();
    let mut full = vec![
        "migrate", "plan", "--from", "paas-a", "--to", "paas-b", "-o", &p,
    ];
    full.extend_from_slice(args);
    let out = env.abshift(&full);
    assert!(
        out.status.success(),
        "plan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    p
}

/// Runs apply with `-o json` and returns (exit code, summary, stderr).
fn apply(env: &Env, plan: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["migrate", "apply", plan, "--yes", "-o", "json"];
    args.extend_from_slice(extra);
    let out = env.abshift(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), summary, stderr)
}

fn verify(env: &Env, plan: &str) -> (i32, Value) {
    let out = env.abshift(&["migrate", "verify", plan, "-o", "json"]);
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

fn count(summary: &Value, outcome: &str) -> u64 {
    summary["counts"][outcome].as_u64().unwrap_or(0)
}

fn kubectl_ok(env: &Env, context: &str, args: &[&str]) -> String {
    let out = env.kubectl(context, args);
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Names of the objects of one kind in one namespace of a cluster.
fn names(env: &Env, context: &str, kind: &str, ns: &str) -> Vec<String> {
    let text = kubectl_ok(env, context, &["get", kind, "-n", ns, "-o", "json"]);
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut n: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[test]
fn estate_applies_to_empty_b_verifies_and_reapplies_with_zero_writes() {
    let Some((_g, env)) = setup() else { return };
    let plan = plan_file(env, "estate", &["--exclude-namespace", "bulk,conflicts"]);
    let (code, s, stderr) = apply(env, &plan, &[]);
    assert_eq!(code, 0, "{stderr}\n{s}");
    assert!(count(&s, "created") >= 190, "{s}");
    assert_eq!(count(&s, "failed") + count(&s, "blocked"), 0);
    let (code, report) = verify(env, &plan);
    assert_eq!(code, 0, "{report}");
    assert!(report["matched"].as_u64().unwrap() >= 190);

    // Every migrated object carries abshift's marks; a custom resource made it across.
    let cm = kubectl_ok(
        env,
        "paas-b",
        &[
            "get",
            "configmaps",
            "-A",
            "-l",
            "abshift.io/migrated-from",
            "-o",
            "name",
        ],
    );
    assert!(cm.lines().count() >= 15);
    assert!(
        !names(
            env,
            "paas-b",
            "featureflagsets.apps.example.com",
            "payments"
        )
        .is_empty()
            || !kubectl_ok(
                env,
                "paas-b",
                &["get", "featureflagsets", "-A", "-o", "name"]
            )
            .is_empty()
    );

    // Second run with the journal: no writes at all.
    let (code, s, _) = apply(env, &plan, &[]);
    assert_eq!(code, 0);
    assert_eq!(s["writes"], 0, "{s}");
    // Without the journal, the same plan still changes nothing it does not need to:
    // server-side apply of identical content; and verify stays clean.
    std::fs::remove_file(format!("{plan}.journal")).unwrap();
    let (code, _, _) = apply(env, &plan, &[]);
    assert_eq!(code, 0);
    assert_eq!(verify(env, &plan).0, 0);
    // A fresh plan now finds everything unchanged (abshift's marks are not differences).
    let again = plan_file(
        env,
        "estate-again",
        &["--exclude-namespace", "bulk,conflicts"],
    );
    let p: Value = serde_json::from_str(&std::fs::read_to_string(&again).unwrap()).unwrap();
    assert_eq!(
        p["summary"]["byAction"].get("create"),
        None,
        "{}",
        p["summary"]
    );
}

#[test]
fn killed_at_five_points_resumes_without_duplicates() {
    let Some((_g, env)) = setup() else { return };
    // A namespace large enough that apply takes a while.
    kubectl_ok(env, "paas-a", &["create", "namespace", "bulk"]);
    let mut manifest = String::new();
    for i in 0..1500 {
        manifest.push_str(&format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: bulk-{i:04}, namespace: bulk}}\ndata: {{n: \"{i}\"}}\n"));
    }
    let file = env.dir.join("bulk.yaml");
    std::fs::write(&file, manifest).unwrap();
    kubectl_ok(
        env,
        "paas-a",
        &["apply", "--server-side", "-f", file.to_str().unwrap()],
    );
    let plan = plan_file(env, "bulk", &["-n", "bulk"]);
    let journal = format!("{plan}.journal");
    let lines = |p: &str| {
        std::fs::read_to_string(p)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    for (i, point) in [50usize, 300, 600, 900, 1200].iter().enumerate() {
        let mut child = Command::new(env!("CARGO_BIN_EXE_abshift"))
            .args(["migrate", "apply", &plan, "--yes", "--concurrency", "4"])
            .env("KUBECONFIG", &env.kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut finished = false;
        support::wait_until(
            &format!("journal past {point} (kill {})", i + 1),
            Duration::from_secs(120),
            || {
                if let Ok(Some(_)) = child.try_wait() {
                    finished = true;
                    return true;
                }
                lines(&journal) > *point
            },
        );
        let _ = child.kill(); // SIGKILL: no chance to clean up
        let _ = child.wait();
        assert!(
            !finished,
            "apply finished before kill point {point}; make the namespace bigger"
        );
    }
    let (code, s, stderr) = apply(env, &plan, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        s["resumed"].as_u64().unwrap() >= 1200,
        "resumed from the journal: {s}"
    );
    assert_eq!(verify(env, &plan).0, 0);
    let in_b = names(env, "paas-b", "configmaps", "bulk");
    let in_a = names(env, "paas-a", "configmaps", "bulk");
    assert_eq!(
        in_b, in_a,
        "B holds exactly A's ConfigMaps, none twice, none missing"
    );
}

#[test]
fn wrong_cluster_tampered_or_truncated_plans_are_refused_before_any_write() {
    let Some((_g, env)) = setup() else { return };
    kubectl_ok(env, "paas-a", &["create", "namespace", "refusals"]);
    kubectl_ok(
        env,
        "paas-a",
        &[
            "-n",
            "refusals",
            "create",
            "configmap",
            "c",
            "--from-literal=k=v",
        ],
    );
    let plan = plan_file(env, "refusals", &["-n", "refusals"]);
    let text = std::fs::read_to_string(&plan).unwrap();
    let absent = |env: &Env| {
        !kubectl_ok(env, "paas-b", &["get", "namespaces", "-o", "name"])
            .contains("namespace/refusals")
    };

    // Pointed at the wrong target (A itself): refused by fingerprint.
    let out = env.abshift(&[
        "migrate", "apply", &plan, "--yes", "--to", "paas-a", "--from", "paas-b",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("was made for target cluster") && err.contains("refusing to write"),
        "{err}"
    );
    // A plan whose recorded target is another cluster.
    let foreign = text.replace(&target_fp(&text), "00000000-0000-0000-0000-000000000000");
    let fp = env.dir.join("foreign.json");
    std::fs::write(&fp, &foreign).unwrap();
    let out = env.abshift(&["migrate", "apply", fp.to_str().unwrap(), "--yes"]);
    assert_ne!(out.status.code(), Some(0));
    // Tampered (checksum) and truncated plans.
    let tampered = env.dir.join("tampered.json");
    std::fs::write(&tampered, text.replace("\"k\": \"v\"", "\"k\": \"w\"")).unwrap();
    let out = env.abshift(&["migrate", "apply", tampered.to_str().unwrap(), "--yes"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("checksum"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truncated = env.dir.join("truncated.json");
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let out = env.abshift(&["migrate", "apply", truncated.to_str().unwrap(), "--yes"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid abshift plan"));
    // A changed source: the same plan applied "from" another cluster.
    let out = env.abshift(&[
        "migrate",
        "apply",
        &plan,
        "--yes",
        "--from",
        "paas-b-readonly",
        "--to",
        "paas-b",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("was made from source cluster"));
    // Without --yes and without a terminal: refused.
    let out = env.abshift(&["migrate", "apply", &plan]);
    assert_eq!(out.status.code(), Some(2));
    assert!(absent(env), "nothing may have been written to B");
    // And the source is only ever read: a read-only token for A is enough to apply.
    let (code, _, stderr) = apply(env, &plan, &["--from", "paas-a-readonly", "--to", "paas-b"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!absent(env));
}

fn target_fp(plan_text: &str) -> String {
    let v: Value = serde_json::from_str(plan_text).unwrap();
    v["target"]["fingerprint"].as_str().unwrap().to_string()
}

#[test]
fn on_conflict_fail_skip_and_overwrite() {
    let Some((_g, env)) = setup() else { return };
    for ctx in ["paas-a", "paas-b"] {
        kubectl_ok(env, ctx, &["create", "namespace", "conflicts"]);
    }
    kubectl_ok(
        env,
        "paas-a",
        &[
            "-n",
            "conflicts",
            "create",
            "configmap",
            "shared",
            "--from-literal=owner=team-a",
        ],
    );
    kubectl_ok(
        env,
        "paas-a",
        &[
            "-n",
            "conflicts",
            "create",
            "configmap",
            "only-in-a",
            "--from-literal=x=1",
        ],
    );
    // Someone created a different copy in B by hand.
    kubectl_ok(
        env,
        "paas-b",
        &[
            "-n",
            "conflicts",
            "create",
            "configmap",
            "shared",
            "--from-literal=owner=someone-else",
        ],
    );
    let value_in_b = |env: &Env| {
        kubectl_ok(
            env,
            "paas-b",
            &[
                "-n",
                "conflicts",
                "get",
                "configmap",
                "shared",
                "-o",
                "jsonpath={.data.owner}",
            ],
        )
    };

    let plan = plan_file(env, "conflicts", &["-n", "conflicts"]);
    let p: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let shared = p["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "shared")
        .unwrap();
    assert_eq!(shared["action"], "conflict");

    // fail (the default): that object fails, the rest is applied, exit 1.
    let (code, s, _) = apply(env, &plan, &[]);
    assert_eq!(code, 1);
    assert_eq!(count(&s, "failed"), 1, "{s}");
    assert_eq!(value_in_b(env), "someone-else");
    assert_eq!(
        names(env, "paas-b", "configmaps", "conflicts"),
        vec!["kube-root-ca.crt", "only-in-a", "shared"]
    );

    // skip: B's copy is kept, exit 0.
    let (code, s, _) = apply(env, &plan, &["--on-conflict", "skip"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(count(&s, "skipped"), 1);
    assert_eq!(value_in_b(env), "someone-else");

    // overwrite: A's content wins (journal says skipped, so start a new journal).
    std::fs::remove_file(format!("{plan}.journal")).unwrap();
    let (code, s, _) = apply(env, &plan, &["--on-conflict", "overwrite"]);
    assert_eq!(code, 0, "{s}");
    assert_eq!(value_in_b(env), "team-a");
    assert_eq!(verify(env, &plan).0, 0);
}

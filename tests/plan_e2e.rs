//! `migrate plan` against two real control planes: the sample estate in A,
//! B empty then seeded, a read-only token, exec credential plugins (as EKS
//! kubeconfigs use) with an AWS profile per side, an unavailable aggregated API.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use support::{Env, identity, manifest_id, manifests, ref_id, secret_values};

type Id = (String, String, String, String);

fn estate_ids() -> BTreeSet<Id> {
    manifests(&support::estate_dir())
        .iter()
        .map(manifest_id)
        .collect()
}

fn plan_ids(plan: &Value) -> Vec<Id> {
    plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(ref_id)
        .collect()
}

/// Objects the test environment itself creates in both clusters.
fn testenv_ids() -> BTreeSet<Id> {
    [
        identity(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            None,
            "abshift:readonly",
        ),
        identity(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            None,
            "abshift:readonly",
        ),
    ]
    .into()
}

/// Tests here share cluster A and some change it (an APIService) or B (seeding):
/// they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn seeded_env() -> Option<&'static Env> {
    static SEEDED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let env = support::env("plan")?;
    SEEDED.get_or_init(|| env.seed("paas-a", &support::estate_dir()));
    Some(env)
}

fn check_plan_invariants(plan: &Value) {
    // Every dependsOn edge points to a strictly earlier wave.
    let waves: HashMap<Id, u64> = plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (ref_id(o), o["wave"].as_u64().unwrap()))
        .collect();
    for o in plan["objects"].as_array().unwrap() {
        for d in o["dependsOn"].as_array().unwrap() {
            let dep = ref_id(d);
            assert!(
                waves[&dep] < o["wave"].as_u64().unwrap(),
                "{} depends on {:?} in a later or equal wave",
                o["name"],
                dep
            );
        }
        // Nothing a controller owns is planned.
        for r in o["manifest"]["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_ne!(
                r["controller"],
                Value::Bool(true),
                "controller-owned object planned: {}",
                o["name"]
            );
        }
    }
}

#[test]
fn estate_plans_exactly_once_then_unchanged_after_seeding_b() {
    let _serial = serial();
    let Some(env) = seeded_env() else { return };
    let estate = estate_ids();
    let (plan, stderr) = env.plan(&["--from", "paas-a", "--to", "paas-b"]);

    // Every object of the estate appears exactly once, and nothing else but the
    // test environment's own RBAC: no ReplicaSet, Pod, token Secret, Endpoints…
    let ids = plan_ids(&plan);
    let mut counts: BTreeMap<&Id, usize> = BTreeMap::new();
    for id in &ids {
        *counts.entry(id).or_default() += 1;
    }
    for id in &estate {
        assert_eq!(
            counts.get(id).copied().unwrap_or(0),
            1,
            "estate object {id:?} must be planned exactly once"
        );
    }
    let allowed: BTreeSet<Id> = estate.union(&testenv_ids()).cloned().collect();
    let extra: Vec<&Id> = ids.iter().filter(|id| !allowed.contains(*id)).collect();
    assert!(
        extra.is_empty(),
        "generated or unexpected objects planned: {extra:?}"
    );
    assert!(
        estate.len() >= 150,
        "the estate is realistic ({} objects)",
        estate.len()
    );

    check_plan_invariants(&plan);

    // Against an empty B everything is a create.
    for o in plan["objects"].as_array().unwrap() {
        let id = ref_id(o);
        if !testenv_ids().contains(&id) {
            assert_eq!(o["action"], "create", "{id:?}");
        }
    }
    // The summary names the totals on stderr.
    assert!(stderr.contains("TOTAL"), "{stderr}");

    // Skipped objects say why, and include what controllers made.
    let skipped: Vec<&Value> = plan["skipped"].as_array().unwrap().iter().collect();
    for rule in [
        "controller-owned",
        "sa-token-secret",
        "root-ca",
        "selector-endpoints",
        "statefulset-claim",
        "events",
    ] {
        assert!(
            skipped.iter().any(|s| s["rule"] == rule),
            "expected objects skipped by {rule}"
        );
    }
    assert!(
        skipped
            .iter()
            .all(|s| !s["reason"].as_str().unwrap().is_empty())
    );

    // Seed the same estate into B: now everything is unchanged.
    env.seed("paas-b", &support::estate_dir());
    let (plan, _) = env.plan(&["--from", "paas-a", "--to", "paas-b"]);
    let not_unchanged: Vec<String> = plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["action"] != "unchanged")
        .map(|o| {
            format!(
                "{} {}/{} {}",
                o["kind"], o["namespace"], o["name"], o["action"]
            )
        })
        .collect();
    assert!(
        not_unchanged.is_empty(),
        "expected all unchanged: {not_unchanged:?}"
    );
    assert_eq!(
        plan["summary"]["byAction"]["unchanged"].as_u64().unwrap() as usize,
        plan_ids(&plan).len()
    );
}

#[test]
fn no_secret_value_anywhere_in_the_plan() {
    let _serial = serial();
    let Some(env) = seeded_env() else { return };
    let values = secret_values();
    assert!(
        values.len() >= 20,
        "the estate has secret values to look for ({})",
        values.len()
    );
    let (plan, stderr) = env.plan(&["--from", "paas-a", "--to", "paas-b"]);
    let text = serde_json::to_string(&plan).unwrap();
    for v in &values {
        assert!(
            !text.contains(v.as_str()),
            "a secret value leaked into the plan"
        );
        assert!(
            !stderr.contains(v.as_str()),
            "a secret value leaked into the summary"
        );
    }
    let secrets: Vec<&Value> = plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "Secret")
        .collect();
    assert!(secrets.len() >= 10);
    for s in secrets {
        assert!(
            s["secretDigest"]
                .as_str()
                .unwrap()
                .starts_with("hmac-sha256:")
        );
        assert!(s["manifest"].get("data").is_none() && s["manifest"].get("stringData").is_none());
    }
}

#[test]
fn read_only_token_is_enough_to_plan() {
    let _serial = serial();
    let Some(env) = seeded_env() else { return };
    let (admin, _) = env.plan(&["--from", "paas-a", "--to", "paas-b"]);
    let (ro, _) = env.plan(&["--from", "paas-a-readonly", "--to", "paas-b-readonly"]);
    let a: BTreeSet<Id> = plan_ids(&admin).into_iter().collect();
    let r: BTreeSet<Id> = plan_ids(&ro).into_iter().collect();
    assert_eq!(a, r, "a get/list/watch token sees the same estate");
    // And the read-only user really cannot write: the server refuses.
    let out = env.kubectl(
        "paas-a-readonly",
        &["create", "namespace", "should-not-exist"],
    );
    assert!(!out.status.success());
}

/// A kubeconfig whose users `exec-a`/`exec-b` get their token from a plugin
/// script, as `aws eks get-token` does; the plugin logs the cluster it was
/// asked for and the AWS_PROFILE it saw.
fn exec_plugin_kubeconfig(env: &Env) -> (std::path::PathBuf, std::path::PathBuf) {
    let plugin = env.dir.join("token-plugin.sh");
    let log = env.dir.join("token-plugin.log");
    let _ = std::fs::remove_file(&log);
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\n# A stand-in for `aws eks get-token`: an ExecCredential with the cluster's token.\necho \"$1 ${{AWS_PROFILE:-none}}\" >> \"$ABSHIFT_PLUGIN_LOG\"\nprintf '{{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s\"}}}}' \"$(cat {}/$1/admin.token)\"\n",
            env.dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Written directly: `kubectl config set-credentials` would store the
    // plugin's path relative to the kubeconfig, which exec then looks up in PATH.
    let kubeconfig = env.dir.join("exec.kubeconfig");
    let mut doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&env.kubeconfig).unwrap()).unwrap();
    for cluster in ["paas-a", "paas-b"] {
        let user = format!("exec-{}", &cluster[5..]);
        let entry: serde_yaml_ng::Value = serde_yaml_ng::from_str(&format!(
            "name: {user}\nuser:\n  exec:\n    apiVersion: client.authentication.k8s.io/v1beta1\n    command: {}\n    args: [{cluster}]\n    env: [{{name: ABSHIFT_PLUGIN_LOG, value: {}}}]\n",
            plugin.display(),
            log.display()
        ))
        .unwrap();
        doc["users"].as_sequence_mut().unwrap().push(entry);
        let context: serde_yaml_ng::Value = serde_yaml_ng::from_str(&format!(
            "name: {cluster}-exec\ncontext: {{cluster: {cluster}, user: {user}}}\n"
        ))
        .unwrap();
        doc["contexts"].as_sequence_mut().unwrap().push(context);
    }
    std::fs::write(&kubeconfig, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    (kubeconfig, log)
}

#[test]
fn exec_credential_plugins_get_an_aws_profile_per_side() {
    let _serial = serial();
    let Some(env) = seeded_env() else { return };
    let (kubeconfig, log) = exec_plugin_kubeconfig(env);
    let run = |args: &[&str]| {
        std::process::Command::new(support::abshift_bin())
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    };
    let plan = env.dir.join("exec-plan.json");
    let out = run(&[
        "migrate",
        "plan",
        "--from",
        "paas-a-exec",
        "--to",
        "paas-b-exec",
        "--from-aws-profile",
        "account-a",
        "--to-aws-profile",
        "account-b",
        "-n",
        "shop-api",
        "-o",
        plan.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = std::fs::read_to_string(&log).unwrap();
    assert!(seen.lines().any(|l| l == "paas-a account-a"), "{seen}");
    assert!(seen.lines().any(|l| l == "paas-b account-b"), "{seen}");
    assert!(
        seen.lines()
            .all(|l| l == "paas-a account-a" || l == "paas-b account-b"),
        "each side's plugin sees its own profile only: {seen}"
    );
    // Without the flags the plugins run with the caller's environment.
    let out = run(&[
        "migrate",
        "plan",
        "--from",
        "paas-a-exec",
        "--to",
        "paas-b-exec",
        "-n",
        "shop-api",
        "-o",
        plan.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("paas-a none")
    );
    // A profile for a user that runs no plugin is refused, not ignored.
    let out = run(&[
        "migrate",
        "plan",
        "--from",
        "paas-a",
        "--to",
        "paas-b-exec",
        "--from-aws-profile",
        "account-a",
        "-o",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("runs no exec credential plugin"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unavailable_aggregated_api_is_a_warning_not_a_failure() {
    let _serial = serial();
    let Some(env) = seeded_env() else { return };
    let apiservice = r#"{"apiVersion":"apiregistration.k8s.io/v1","kind":"APIService","metadata":{"name":"v1beta1.metrics.k8s.io"},
      "spec":{"group":"metrics.k8s.io","version":"v1beta1","groupPriorityMinimum":100,"versionPriority":100,
              "insecureSkipTLSVerify":true,"service":{"namespace":"kube-system","name":"metrics-server"}}}"#;
    let path = env.dir.join("apiservice.json");
    std::fs::write(&path, apiservice).unwrap();
    let out = env.kubectl("paas-a", &["apply", "-f", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Wait until discovery lists the group (it then fails to serve it).
    support::wait_until(
        "metrics.k8s.io in discovery",
        std::time::Duration::from_secs(30),
        || {
            let o = env.kubectl("paas-a", &["get", "--raw", "/apis"]);
            String::from_utf8_lossy(&o.stdout).contains("metrics.k8s.io")
        },
    );
    let (plan, stderr) = env.plan(&["--from", "paas-a", "--to", "paas-b"]);
    let warned = plan["warnings"].as_array().unwrap().iter().any(|w| {
        w["message"]
            .as_str()
            .unwrap()
            .contains("metrics.k8s.io/v1beta1")
    });
    assert!(warned, "expected a warning about metrics.k8s.io: {stderr}");
    assert!(stderr.contains("metrics.k8s.io"));
    let _ = env.kubectl(
        "paas-a",
        &["delete", "apiservice", "v1beta1.metrics.k8s.io"],
    );
}

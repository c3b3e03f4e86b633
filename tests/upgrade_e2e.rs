//! The A/B *upgrade*: A and B at different Kubernetes versions, on real control
//! planes. Three pairs, one test each:
//!
//! - 1.20 → 1.20: the sample estate plus the old-API estate
//!   (`tests/fixtures/estate-old-api`) move with the versions A wrote them at,
//!   PodSecurityPolicy included, since B serves them all;
//! - 1.20 → 1.34: the same estate into a B that serves none of the removed
//!   versions: the plan converts each object to a version B serves, records
//!   what it read and which rules it applied, reports what cannot be carried
//!   over (PodSecurityPolicy, an empty PDB selector), and B ends up with the
//!   same objects;
//! - 1.34 → 1.34: the current estate (the sample estate at today's versions
//!   plus a v1 CRD) moves unchanged. The old-API fixtures cannot be seeded into
//!   a 1.34 A at all (it refuses every v1beta1 file), so this pair checks that
//!   nothing is converted when nothing needs to be.
//!
//! Each test runs plan, apply --dry-run, apply and verify with the CLI, then
//! reads B back with kubectl. Expectations that do not depend on each other
//! are collected and reported together (`Checks`), so one failing run names
//! everything that is missing; only a plan that cannot be made stops a test
//! early. The tests run one at a time (three pairs on two cores is plenty).

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Env, NEW_K8S, OLD_K8S};

const NS: &str = "legacy";
const CRD: &str = "backups.legacy.example.com";

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Collected expectations

/// Independent expectations of one test: each failure is recorded with what
/// was found, and `finish` fails the test listing all of them.
struct Checks {
    test: &'static str,
    failed: Vec<String>,
}

impl Checks {
    fn new(test: &'static str) -> Self {
        Checks {
            test,
            failed: Vec::new(),
        }
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) -> bool {
        if !ok {
            self.failed.push(what());
        }
        ok
    }

    fn fail(&mut self, what: String) {
        self.failed.push(what);
    }

    fn finish(self) {
        if !self.failed.is_empty() {
            let list: Vec<String> = self
                .failed
                .iter()
                .enumerate()
                .map(|(i, f)| format!("[{}] {f}", i + 1))
                .collect();
            panic!(
                "{}: {} expectation(s) failed:\n{}",
                self.test,
                self.failed.len(),
                list.join("\n")
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Small helpers

/// `a` is contained in `b`: every field of `a` is in `b` with an equal value,
/// recursively (what `migrate verify` means by "B holds A's object"); `null`
/// in `a` counts as absent, arrays compare element by element, numbers by
/// value. The error names the first path that differs.
fn contained(a: &Value, b: &Value, path: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Null, _) => Ok(()),
        (Value::Object(am), Value::Object(bm)) => {
            for (k, av) in am {
                if av.is_null() {
                    continue;
                }
                match bm.get(k) {
                    Some(bv) => contained(av, bv, &format!("{path}.{k}"))?,
                    None => return Err(format!("{path}.{k}: {av} is missing")),
                }
            }
            Ok(())
        }
        (Value::Array(aa), Value::Array(ba)) => {
            if aa.len() != ba.len() {
                return Err(format!("{path}: {} items, expected {}", ba.len(), aa.len()));
            }
            for (i, (av, bv)) in aa.iter().zip(ba).enumerate() {
                contained(av, bv, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(an), Value::Number(bn)) if an.as_f64() == bn.as_f64() => Ok(()),
        _ if a == b => Ok(()),
        _ => Err(format!("{path}: {b}, expected {a}")),
    }
}

/// The last lines of a command's output, for failure messages.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs an abshift command; records a failure (with its output) unless it exits 0.
fn run_ok(env: &Env, checks: &mut Checks, args: &[&str]) -> bool {
    let out = env.abshift(args);
    let ok = out.status.success();
    checks.check(ok, || {
        format!(
            "`abshift {}` exited {:?}, expected 0:\n--- stderr (tail) ---\n{}\n--- stdout (tail) ---\n{}",
            args.join(" "),
            out.status.code(),
            tail(&String::from_utf8_lossy(&out.stderr), 40),
            tail(&String::from_utf8_lossy(&out.stdout), 20),
        )
    });
    ok
}

/// `kubectl get ... -o json` in a context; Err carries kubectl's stderr.
fn get_json(env: &Env, context: &str, args: &[&str]) -> Result<Value, String> {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    let out = env.kubectl(context, &full);
    if !out.status.success() {
        return Err(format!(
            "kubectl --context {context} {}: {}",
            full.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("kubectl output is not JSON: {e}"))
}

/// Reads one object from a cluster into `checks`: None (recorded) when it fails.
fn read(env: &Env, checks: &mut Checks, context: &str, args: &[&str]) -> Option<Value> {
    match get_json(env, context, args) {
        Ok(v) => Some(v),
        Err(e) => {
            checks.fail(e);
            None
        }
    }
}

fn objects(plan: &Value) -> &Vec<Value> {
    plan["objects"].as_array().expect("plan has objects")
}

fn findings(plan: &Value) -> Vec<&Value> {
    plan["findings"].as_array().into_iter().flatten().collect()
}

/// The planned object of a kind (any group) with that namespace and name.
fn planned<'p>(plan: &'p Value, kind: &str, ns: Option<&str>, name: &str) -> Option<&'p Value> {
    objects(plan)
        .iter()
        .find(|o| o["kind"] == kind && o["namespace"].as_str() == ns && o["name"] == name)
}

/// Records a failure when the object is not planned.
fn must_plan<'p>(
    checks: &mut Checks,
    plan: &'p Value,
    kind: &str,
    ns: Option<&str>,
    name: &str,
) -> Option<&'p Value> {
    let o = planned(plan, kind, ns, name);
    checks.check(o.is_some(), || {
        format!(
            "{kind} {}/{name} is not among the planned objects",
            ns.unwrap_or("")
        )
    });
    o
}

fn label(o: &Value) -> String {
    format!(
        "{} {} {}/{}",
        o["apiVersion"].as_str().unwrap_or("?"),
        o["kind"].as_str().unwrap_or("?"),
        o["namespace"].as_str().unwrap_or(""),
        o["name"].as_str().unwrap_or("?")
    )
}

/// The rule ids a planned object records (`conversions`), empty when absent.
fn conversions(o: &Value) -> Vec<String> {
    o["conversions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c.as_str().unwrap_or("<not a string>").to_string())
        .collect()
}

/// A planned object converted from another apiVersion: written at `to`, both
/// in the entry and in its manifest, recording `readAs: from` and at least one
/// rule id.
fn check_converted(checks: &mut Checks, o: &Value, from: &str, to: &str) {
    let l = label(o);
    checks.check(
        o["apiVersion"] == to && o["manifest"]["apiVersion"] == to,
        || {
            format!(
                "{l}: planned at {} (manifest {}), expected {to}",
                o["apiVersion"], o["manifest"]["apiVersion"]
            )
        },
    );
    checks.check(o["readAs"] == from, || {
        format!(
            "{l}: readAs is {}, expected \"{from}\" (the version read from A)",
            o["readAs"]
        )
    });
    checks.check(!conversions(o).is_empty(), || {
        format!(
            "{l}: conversions is {}, expected the ids of the rules applied",
            o["conversions"]
        )
    });
}

/// A planned object that needs no version change: written at `at`, no `readAs`.
fn check_kept(checks: &mut Checks, o: &Value, at: &str) {
    let l = label(o);
    checks.check(
        o["apiVersion"] == at && o["manifest"]["apiVersion"] == at,
        || {
            format!(
                "{l}: planned at {}, expected {at} (B serves A's version)",
                o["apiVersion"]
            )
        },
    );
    checks.check(o.get("readAs").is_none(), || {
        format!(
            "{l}: readAs is {}, expected none (no version change)",
            o["readAs"]
        )
    });
}

/// Words of a text, split on everything but letters, digits, `-` and `.`, so
/// that `namespace/legacy` and "`legacy`" hold the word `legacy` and
/// `legacy-restricted` does not.
fn words(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// The finding's object is (kind, namespace, name).
fn finding_is_about(f: &Value, kind: &str, ns: Option<&str>, name: &str) -> bool {
    f["object"]["kind"] == kind
        && f["object"]["namespace"].as_str() == ns
        && f["object"]["name"] == name
}

fn finding_text(f: &Value) -> String {
    format!(
        "{} {} {}",
        f["message"].as_str().unwrap_or(""),
        f["why"].as_str().unwrap_or(""),
        f["action"].as_str().unwrap_or("")
    )
}

fn summarize_findings(plan: &Value) -> String {
    let list: Vec<String> = findings(plan)
        .iter()
        .map(|f| {
            format!(
                "  {} {} {}/{}: {}",
                f["severity"].as_str().unwrap_or("?"),
                f["rule"].as_str().unwrap_or("?"),
                f["object"]["namespace"].as_str().unwrap_or(""),
                f["object"]["name"].as_str().unwrap_or("-"),
                f["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    if list.is_empty() {
        "  (no findings)".to_string()
    } else {
        list.join("\n")
    }
}

/// The fixture's custom resources by name (spec only).
fn fixture_backups(file: &Path) -> Vec<(String, Value)> {
    support::manifests(file)
        .into_iter()
        .filter(|m| m["kind"] == "Backup")
        .map(|m| {
            (
                m["metadata"]["name"].as_str().unwrap().to_string(),
                m["spec"].clone(),
            )
        })
        .collect()
}

fn fixture(kind: &str, name: &str) -> Value {
    support::manifests(&support::old_api_estate_dir())
        .into_iter()
        .find(|m| m["kind"] == kind && m["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("fixture {kind} {name}"))
}

// ---------------------------------------------------------------------------
// One pair

/// Starts the pair (None: skipped), checks it runs the versions asked for,
/// and seeds A with `seed` (directories, in order).
fn pair(a: &str, b: &str, seed: &[&Path]) -> Option<&'static Env> {
    let env = support::env_versions("upgrade", a, b)?;
    assert_eq!(env.version("paas-a"), a, "harness: A's recorded version");
    assert_eq!(env.version("paas-b"), b, "harness: B's recorded version");
    assert_eq!(
        env.version("paas-a-readonly"),
        a,
        "harness: readonly context"
    );
    for dir in seed {
        env.seed("paas-a", dir);
    }
    Some(env)
}

/// Plans A → B and checks the plan names both clusters at their versions.
/// Returns the plan's path and content.
fn plan(env: &Env, a: &str, b: &str) -> (String, Value, String) {
    let (path, plan, stderr) = env.plan_file(&["--from", "paas-a", "--to", "paas-b"]);
    assert_eq!(
        plan["source"]["kubernetesVersion"],
        format!("v{a}"),
        "harness: A's version in the plan"
    );
    assert_eq!(
        plan["target"]["kubernetesVersion"],
        format!("v{b}"),
        "harness: B's version in the plan"
    );
    // The pair's directory goes when the test process ends: keep a copy of
    // the plan to read after a failure.
    let keep = support::root().join("target/upgrade-e2e");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::copy(&path, keep.join(format!("plan-{a}-{b}.json"))).unwrap();
    (path.to_str().unwrap().to_string(), plan, stderr)
}

/// Dry run, apply, verify: each must exit 0.
fn apply_and_verify(env: &Env, checks: &mut Checks, plan_path: &str) {
    run_ok(
        env,
        checks,
        &["migrate", "apply", plan_path, "--dry-run", "--yes"],
    );
    run_ok(env, checks, &["migrate", "apply", plan_path, "--yes"]);
    run_ok(env, checks, &["migrate", "verify", plan_path]);
}

/// B holds the Backup CRD, Established (with `structural`: no
/// `preserveUnknownFields: true`, which only a v1beta1-era B keeps), and both
/// custom resources with every nested field of `fixture_file`.
fn check_backups_in_b(env: &Env, checks: &mut Checks, fixture_file: &Path, structural: bool) {
    let established = |env: &Env| {
        get_json(env, "paas-b", &["crd", CRD]).is_ok_and(|crd| {
            crd["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        })
    };
    if !established(env) {
        // Apply waits for CRDs between waves; give a slow B a little longer
        // before calling it missing.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !established(env) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    if !checks.check(established(env), || {
        format!(
            "CRD {CRD} is not Established in B: {}",
            get_json(env, "paas-b", &["crd", CRD])
                .map(|c| c["status"].to_string())
                .unwrap_or_else(|e| e)
        )
    }) {
        return;
    }
    let Some(crd) = read(env, checks, "paas-b", &["crd", CRD]) else {
        return;
    };
    if structural {
        checks.check(crd["spec"]["preserveUnknownFields"] != true, || {
            format!("CRD {CRD} in B: preserveUnknownFields is true")
        });
    }
    for (name, spec) in fixture_backups(fixture_file) {
        let Some(cr) = read(
            env,
            checks,
            "paas-b",
            &["backups.v1.legacy.example.com", "-n", NS, &name],
        ) else {
            continue;
        };
        checks.check(cr["spec"] == spec, || {
            format!(
                "Backup {NS}/{name} in B: spec {}, expected (as in A) {spec}",
                cr["spec"]
            )
        });
    }
}

/// The CronJob in B has A's schedule and A's job template (as A serves them).
fn check_cronjob_in_b(env: &Env, checks: &mut Checks, a_resource: &str, b_resource: &str) {
    let (Some(a), Some(b)) = (
        read(
            env,
            checks,
            "paas-a",
            &[a_resource, "-n", NS, "nightly-report"],
        ),
        read(
            env,
            checks,
            "paas-b",
            &[b_resource, "-n", NS, "nightly-report"],
        ),
    ) else {
        return;
    };
    checks.check(b["spec"]["schedule"] == a["spec"]["schedule"], || {
        format!(
            "CronJob {NS}/nightly-report in B: schedule {}, A has {}",
            b["spec"]["schedule"], a["spec"]["schedule"]
        )
    });
    if let Err(e) = contained(
        &a["spec"]["jobTemplate"],
        &b["spec"]["jobTemplate"],
        "spec.jobTemplate",
    ) {
        checks.fail(format!(
            "CronJob {NS}/nightly-report in B differs from A: {e}"
        ));
    }
}

/// The HPA in B (read at `b_resource`) has both metrics and the behavior.
fn check_hpa_in_b(env: &Env, checks: &mut Checks, b_resource: &str) {
    let Some(hpa) = read(env, checks, "paas-b", &[b_resource, "-n", NS, "web"]) else {
        return;
    };
    check_hpa_spec(checks, &format!("HPA {NS}/web in B"), &hpa["spec"]);
}

/// Both metrics of the fixture (in any order: 1.20 stores the non-CPU metrics
/// in an annotation of its autoscaling/v1 storage and returns them first) and
/// its behavior.
fn check_hpa_spec(checks: &mut Checks, what: &str, spec: &Value) {
    let want = fixture("HorizontalPodAutoscaler", "web");
    let metrics = spec["metrics"].as_array().cloned().unwrap_or_default();
    checks.check(metrics.len() == 2, || {
        format!(
            "{what}: {} metric(s), expected 2: {}",
            metrics.len(),
            spec["metrics"]
        )
    });
    for m in want["spec"]["metrics"].as_array().unwrap() {
        checks.check(
            metrics.iter().any(|got| contained(m, got, "").is_ok()),
            || format!("{what}: metric {m} is missing: {}", spec["metrics"]),
        );
    }
    if let Err(e) = contained(
        &want["spec"]["behavior"],
        &spec["behavior"],
        "spec.behavior",
    ) {
        checks.fail(format!("{what}: behavior not kept: {e}"));
    }
}

/// The Ingress's backends in networking.k8s.io/v1 form, with a pathType each.
fn check_ingress_v1(checks: &mut Checks, what: &str, spec: &Value) {
    let want_default = json!({"service": {"name": "fallback", "port": {"number": 80}}});
    checks.check(spec["defaultBackend"] == want_default, || {
        format!(
            "{what}: defaultBackend {}, expected {want_default}",
            spec["defaultBackend"]
        )
    });
    let paths = spec["rules"][0]["http"]["paths"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let want = [
        (
            "/",
            json!({"service": {"name": "web", "port": {"number": 80}}}),
        ),
        (
            "/api",
            json!({"service": {"name": "api", "port": {"name": "http"}}}),
        ),
    ];
    checks.check(paths.len() == want.len(), || {
        format!(
            "{what}: {} paths, expected 2: {}",
            paths.len(),
            spec["rules"]
        )
    });
    for (path, backend) in want {
        let Some(p) = paths.iter().find(|p| p["path"] == path) else {
            checks.fail(format!("{what}: no path {path}: {}", spec["rules"]));
            continue;
        };
        checks.check(p["backend"] == backend, || {
            format!(
                "{what}: path {path} backend {}, expected {backend}",
                p["backend"]
            )
        });
        checks.check(
            p["pathType"].as_str().is_some_and(|t| !t.is_empty()),
            || format!("{what}: path {path} has no pathType: {p}"),
        );
    }
}

/// The webhook as v1 requires it: a sideEffects class v1 accepts, review
/// versions, and still failing open.
fn check_webhook_v1(checks: &mut Checks, what: &str, config: &Value) {
    let hooks = config["webhooks"].as_array().cloned().unwrap_or_default();
    checks.check(hooks.len() == 1, || {
        format!("{what}: {} webhooks, expected 1", hooks.len())
    });
    for h in &hooks {
        checks.check(
            h["sideEffects"] == "None" || h["sideEffects"] == "NoneOnDryRun",
            || {
                format!(
                    "{what}: sideEffects {}, expected None or NoneOnDryRun (v1 rejects Unknown)",
                    h["sideEffects"]
                )
            },
        );
        checks.check(h["failurePolicy"] == "Ignore", || {
            format!(
                "{what}: failurePolicy {}, expected Ignore",
                h["failurePolicy"]
            )
        });
        checks.check(
            h["admissionReviewVersions"]
                .as_array()
                .is_some_and(|v| !v.is_empty()),
            || {
                format!(
                    "{what}: admissionReviewVersions {}",
                    h["admissionReviewVersions"]
                )
            },
        );
        checks.check(
            h["namespaceSelector"]["matchLabels"]["abshift.io/legacy-webhook"] == "enforce",
            || {
                format!(
                    "{what}: namespaceSelector not kept: {}",
                    h["namespaceSelector"]
                )
            },
        );
    }
}

// ---------------------------------------------------------------------------
// The pairs

#[test]
fn same_version_old_to_old_keeps_api_versions() {
    let _serial = serial();
    let (a, b) = (OLD_K8S, OLD_K8S);
    let Some(env) = pair(
        a,
        b,
        &[&support::estate_dir_for(a), &support::old_api_estate_dir()],
    ) else {
        return;
    };
    let mut checks = Checks::new("1.20 -> 1.20");
    let (plan_path, plan, _) = plan(env, a, b);

    // Every old-API object is planned at the version A wrote it with: B serves it.
    for (kind, name, at) in [
        ("CronJob", "nightly-report", "batch/v1beta1"),
        ("PodDisruptionBudget", "web", "policy/v1beta1"),
        ("PodDisruptionBudget", "everything", "policy/v1beta1"),
        ("HorizontalPodAutoscaler", "web", "autoscaling/v2beta2"),
    ] {
        if let Some(o) = must_plan(&mut checks, &plan, kind, Some(NS), name) {
            check_kept(&mut checks, o, at);
        }
    }
    if let Some(o) = must_plan(
        &mut checks,
        &plan,
        "PodSecurityPolicy",
        None,
        "legacy-restricted",
    ) {
        check_kept(&mut checks, o, "policy/v1beta1");
    }
    if let Some(o) = must_plan(
        &mut checks,
        &plan,
        "HorizontalPodAutoscaler",
        Some(NS),
        "web",
    ) {
        check_hpa_spec(
            &mut checks,
            "planned HPA legacy/web",
            &o["manifest"]["spec"],
        );
    }
    if let Some(o) = must_plan(&mut checks, &plan, "Ingress", Some(NS), "legacy") {
        check_ingress_v1(&mut checks, &label(o), &o["manifest"]["spec"]);
    }
    must_plan(&mut checks, &plan, "CustomResourceDefinition", None, CRD);
    must_plan(
        &mut checks,
        &plan,
        "ValidatingWebhookConfiguration",
        None,
        "legacy-policy",
    );
    for name in ["orders-db", "uploads"] {
        must_plan(&mut checks, &plan, "Backup", Some(NS), name);
    }
    // B serves PodSecurityPolicy: nothing is lost, so no removal finding.
    let psp_removed: Vec<String> = findings(&plan)
        .iter()
        .filter(|f| f["rule"] == "pod-security-policy-removed")
        .map(|f| f.to_string())
        .collect();
    checks.check(psp_removed.is_empty(), || {
        format!(
            "B serves PodSecurityPolicy, yet pod-security-policy-removed findings: {psp_removed:?}"
        )
    });

    apply_and_verify(env, &mut checks, &plan_path);

    // B holds every old-API object, at A's versions.
    check_backups_in_b(
        env,
        &mut checks,
        &support::old_api_estate_dir().join("90-custom-resources.yaml"),
        false,
    );
    check_cronjob_in_b(
        env,
        &mut checks,
        "cronjobs.v1beta1.batch",
        "cronjobs.v1beta1.batch",
    );
    check_hpa_in_b(
        env,
        &mut checks,
        "horizontalpodautoscalers.v2beta2.autoscaling",
    );
    // A's copy, not the fixture: the server leaves out the `false` fields.
    let psp_args = ["podsecuritypolicies.v1beta1.policy", "legacy-restricted"];
    if let (Some(want), Some(psp)) = (
        read(env, &mut checks, "paas-a", &psp_args),
        read(env, &mut checks, "paas-b", &psp_args),
    ) {
        if let Err(e) = contained(&want["spec"], &psp["spec"], "spec") {
            checks.fail(format!("PodSecurityPolicy legacy-restricted in B: {e}"));
        }
    }
    if let Some(pdb) = read(
        env,
        &mut checks,
        "paas-b",
        &[
            "poddisruptionbudgets.v1beta1.policy",
            "-n",
            NS,
            "everything",
        ],
    ) {
        checks.check(pdb["spec"]["selector"] == json!({}), || {
            format!(
                "PDB {NS}/everything in B: selector {}, expected {{}} (v1beta1: selects nothing)",
                pdb["spec"]["selector"]
            )
        });
    }
    if let Some(ing) = read(
        env,
        &mut checks,
        "paas-b",
        &["ingresses.v1.networking.k8s.io", "-n", NS, "legacy"],
    ) {
        check_ingress_v1(&mut checks, "Ingress legacy/legacy in B", &ing["spec"]);
    }
    if let Some(wh) = read(
        env,
        &mut checks,
        "paas-b",
        &[
            "validatingwebhookconfigurations.v1.admissionregistration.k8s.io",
            "legacy-policy",
        ],
    ) {
        check_webhook_v1(
            &mut checks,
            "ValidatingWebhookConfiguration legacy-policy in B",
            &wh,
        );
    }
    checks.finish();
}

#[test]
fn upgrade_old_to_new_converts_removed_api_versions() {
    let _serial = serial();
    let (a, b) = (OLD_K8S, NEW_K8S);
    let Some(env) = pair(
        a,
        b,
        &[&support::estate_dir_for(a), &support::old_api_estate_dir()],
    ) else {
        return;
    };
    let mut checks = Checks::new("1.20 -> 1.34");
    let (plan_path, plan, _) = plan(env, a, b);

    // Nothing is planned at a version B no longer serves.
    let removed = [
        "apiextensions.k8s.io/v1beta1",
        "admissionregistration.k8s.io/v1beta1",
        "batch/v1beta1",
        "policy/v1beta1",
        "autoscaling/v2beta1",
        "autoscaling/v2beta2",
        "networking.k8s.io/v1beta1",
        "extensions/v1beta1",
    ];
    let at_removed: Vec<String> = objects(&plan)
        .iter()
        .filter(|o| removed.iter().any(|r| o["apiVersion"] == *r))
        .map(label)
        .collect();
    checks.check(at_removed.is_empty(), || {
        format!("planned at versions {b} does not serve: {at_removed:?}")
    });
    // Every object converted from another version says from which and how.
    for o in objects(&plan) {
        if o.get("readAs").is_some() {
            checks.check(
                o["readAs"] != o["apiVersion"] && !conversions(o).is_empty(),
                || {
                    format!(
                        "{}: readAs {} with conversions {}",
                        label(o),
                        o["readAs"],
                        o["conversions"]
                    )
                },
            );
        }
    }
    // The sample estate's CronJobs, PDBs and v2beta2 HPAs convert like the old-API estate's.
    for (kind, from, to) in [
        ("CronJob", "batch/v1beta1", "batch/v1"),
        ("PodDisruptionBudget", "policy/v1beta1", "policy/v1"),
    ] {
        let all: Vec<&Value> = objects(&plan)
            .iter()
            .filter(|o| o["kind"] == kind)
            .collect();
        checks.check(!all.is_empty(), || format!("no {kind} planned"));
        for o in all {
            check_converted(&mut checks, o, from, to);
        }
    }

    // The schemaless v1beta1 CRD: a schema per version, no preserveUnknownFields: true.
    if let Some(o) = must_plan(&mut checks, &plan, "CustomResourceDefinition", None, CRD) {
        let l = label(o);
        let spec = &o["manifest"]["spec"];
        checks.check(o["apiVersion"] == "apiextensions.k8s.io/v1", || {
            format!(
                "{l}: planned at {}, expected apiextensions.k8s.io/v1",
                o["apiVersion"]
            )
        });
        checks.check(spec["preserveUnknownFields"] != true, || {
            format!("{l}: manifest keeps preserveUnknownFields: true (v1 rejects it)")
        });
        let versions = spec["versions"].as_array().cloned().unwrap_or_default();
        checks.check(!versions.is_empty(), || format!("{l}: no spec.versions"));
        for v in &versions {
            checks.check(v["schema"]["openAPIV3Schema"].is_object(), || {
                format!(
                    "{l}: version {} has no schema.openAPIV3Schema (v1 requires one): {v}",
                    v["name"]
                )
            });
            checks.check(v["subresources"]["status"].is_object(), || {
                format!("{l}: version {} lost subresources.status", v["name"])
            });
            let cols: Vec<&str> = v["additionalPrinterColumns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["jsonPath"].as_str())
                .collect();
            checks.check(
                cols == [
                    ".spec.schedule",
                    ".spec.target.kind",
                    ".status.lastSuccess",
                    ".metadata.creationTimestamp",
                ],
                || format!("{l}: version {} printer columns {cols:?}", v["name"]),
            );
        }
        checks.check(!conversions(o).is_empty(), || {
            format!(
                "{l}: conversions is {}, expected the rule that gave it a schema",
                o["conversions"]
            )
        });
        checks.check(
            o.get("readAs").is_none()
                || o["readAs"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("apiextensions.k8s.io/")),
            || format!("{l}: readAs {}", o["readAs"]),
        );
    }

    // CronJob: batch/v1, same schedule and job template.
    if let Some(o) = must_plan(&mut checks, &plan, "CronJob", Some(NS), "nightly-report") {
        check_converted(&mut checks, o, "batch/v1beta1", "batch/v1");
        let want = fixture("CronJob", "nightly-report");
        if let Err(e) = contained(&want["spec"], &o["manifest"]["spec"], "spec") {
            checks.fail(format!(
                "{}: manifest differs from the fixture: {e}",
                label(o)
            ));
        }
    }
    // PDBs: policy/v1; the empty selector is a finding, the other is not.
    for name in ["web", "everything"] {
        if let Some(o) = must_plan(&mut checks, &plan, "PodDisruptionBudget", Some(NS), name) {
            check_converted(&mut checks, o, "policy/v1beta1", "policy/v1");
        }
    }
    let pdb_findings = |name: &str| -> Vec<&Value> {
        findings(&plan)
            .into_iter()
            .filter(|f| {
                f["rule"] == "pdb-empty-selector-meaning"
                    && finding_is_about(f, "PodDisruptionBudget", Some(NS), name)
            })
            .collect()
    };
    checks.check(pdb_findings("everything").len() == 1, || {
        format!(
            "expected one pdb-empty-selector-meaning finding for PodDisruptionBudget {NS}/everything; findings:\n{}",
            summarize_findings(&plan)
        )
    });
    checks.check(pdb_findings("web").is_empty(), || {
        format!(
            "PodDisruptionBudget {NS}/web has a selector, yet a pdb-empty-selector-meaning finding"
        )
    });
    // HPA: autoscaling/v2 with both metrics and the behavior.
    if let Some(o) = must_plan(
        &mut checks,
        &plan,
        "HorizontalPodAutoscaler",
        Some(NS),
        "web",
    ) {
        check_converted(&mut checks, o, "autoscaling/v2beta2", "autoscaling/v2");
        check_hpa_spec(
            &mut checks,
            &format!("planned {}", label(o)),
            &o["manifest"]["spec"],
        );
    }
    // Ingress: networking.k8s.io/v1 backends and a pathType per path.
    if let Some(o) = must_plan(&mut checks, &plan, "Ingress", Some(NS), "legacy") {
        let l = label(o);
        checks.check(o["apiVersion"] == "networking.k8s.io/v1", || {
            format!(
                "{l}: planned at {}, expected networking.k8s.io/v1",
                o["apiVersion"]
            )
        });
        checks.check(
            o.get("readAs").is_none()
                || o["readAs"] == "networking.k8s.io/v1beta1"
                || o["readAs"] == "extensions/v1beta1",
            || format!("{l}: readAs {}", o["readAs"]),
        );
        check_ingress_v1(&mut checks, &l, &o["manifest"]["spec"]);
    }
    // Webhook: admissionregistration v1 with a sideEffects class v1 accepts.
    if let Some(o) = must_plan(
        &mut checks,
        &plan,
        "ValidatingWebhookConfiguration",
        None,
        "legacy-policy",
    ) {
        let l = label(o);
        checks.check(o["apiVersion"] == "admissionregistration.k8s.io/v1", || {
            format!("{l}: planned at {}", o["apiVersion"])
        });
        checks.check(!conversions(o).is_empty(), || {
            format!(
                "{l}: conversions is {}, expected the rule that replaced sideEffects: Unknown",
                o["conversions"]
            )
        });
        check_webhook_v1(&mut checks, &l, &o["manifest"]);
    }
    // PodSecurityPolicy: not planned (B has no such kind), an error finding
    // instead, and a Pod Security Admission label suggested for `legacy`.
    let psps: Vec<String> = objects(&plan)
        .iter()
        .filter(|o| o["kind"] == "PodSecurityPolicy")
        .map(label)
        .collect();
    checks.check(psps.is_empty(), || {
        format!("PodSecurityPolicy planned although {b} does not serve it: {psps:?}")
    });
    let psp_error = findings(&plan).into_iter().any(|f| {
        f["rule"] == "pod-security-policy-removed"
            && f["severity"] == "error"
            && (f["object"]["name"] == "legacy-restricted"
                || finding_text(f).contains("legacy-restricted"))
    });
    checks.check(psp_error, || {
        format!(
            "expected an error finding pod-security-policy-removed naming PodSecurityPolicy legacy-restricted; findings:\n{}",
            summarize_findings(&plan)
        )
    });
    let psa_suggestion = findings(&plan).into_iter().any(|f| {
        let text = finding_text(f);
        let names_ns = finding_is_about(f, "Namespace", None, NS)
            || f["object"]["namespace"] == NS
            || words(&text).contains(NS);
        let suggests = ["privileged", "baseline", "restricted"]
            .iter()
            .any(|level| text.contains(&format!("pod-security.kubernetes.io/enforce={level}")));
        names_ns && suggests
    });
    checks.check(psa_suggestion, || {
        format!(
            "expected a finding naming namespace {NS} with a pod-security.kubernetes.io/enforce=<level> suggestion; findings:\n{}",
            summarize_findings(&plan)
        )
    });
    // The seccomp annotation does nothing from 1.27 on: the plan moves it to
    // the field, or says so.
    if let Some(o) = must_plan(&mut checks, &plan, "Deployment", Some(NS), "api") {
        let field =
            &o["manifest"]["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]["type"];
        let reported = findings(&plan).into_iter().any(|f| {
            finding_is_about(f, "Deployment", Some(NS), "api")
                && finding_text(f).to_lowercase().contains("seccomp")
        });
        checks.check(field == "RuntimeDefault" || reported, || {
            format!(
                "Deployment {NS}/api: the pod template's seccomp annotation (ignored by {b}) is neither \
                 securityContext.seccompProfile RuntimeDefault in the plan ({}) nor a finding",
                o["manifest"]["spec"]["template"]["spec"]["securityContext"]
            )
        });
    }

    apply_and_verify(env, &mut checks, &plan_path);

    // What B holds, read back at B's versions.
    check_backups_in_b(
        env,
        &mut checks,
        &support::old_api_estate_dir().join("90-custom-resources.yaml"),
        true,
    );
    check_cronjob_in_b(
        env,
        &mut checks,
        "cronjobs.v1beta1.batch",
        "cronjobs.v1.batch",
    );
    check_hpa_in_b(env, &mut checks, "horizontalpodautoscalers.v2.autoscaling");
    for name in ["web", "everything"] {
        read(
            env,
            &mut checks,
            "paas-b",
            &["poddisruptionbudgets.v1.policy", "-n", NS, name],
        );
    }
    if let Some(ing) = read(
        env,
        &mut checks,
        "paas-b",
        &["ingresses.v1.networking.k8s.io", "-n", NS, "legacy"],
    ) {
        check_ingress_v1(&mut checks, "Ingress legacy/legacy in B", &ing["spec"]);
    }
    if let Some(wh) = read(
        env,
        &mut checks,
        "paas-b",
        &[
            "validatingwebhookconfigurations.v1.admissionregistration.k8s.io",
            "legacy-policy",
        ],
    ) {
        check_webhook_v1(
            &mut checks,
            "ValidatingWebhookConfiguration legacy-policy in B",
            &wh,
        );
    }
    for name in ["web", "api"] {
        read(
            env,
            &mut checks,
            "paas-b",
            &["deployments.v1.apps", "-n", NS, name],
        );
    }
    checks.finish();
}

#[test]
fn same_version_new_to_new_converts_nothing() {
    let _serial = serial();
    let (a, b) = (NEW_K8S, NEW_K8S);
    let current = support::old_api_estate_dir().join("current");
    let mut checks = Checks::new("1.34 -> 1.34");
    // The v1 fixture's custom resources are the old-API fixture's, field for field.
    let old_crs = fixture_backups(&support::old_api_estate_dir().join("90-custom-resources.yaml"));
    let new_crs = fixture_backups(&current.join("90-custom-resources.yaml"));
    assert_eq!(
        old_crs, new_crs,
        "current/90-custom-resources.yaml must match ../90-custom-resources.yaml"
    );
    let Some(env) = pair(a, b, &[&support::estate_dir_for(a), &current]) else {
        return;
    };
    let (plan_path, plan, _) = plan(env, a, b);

    // Same versions on both sides: nothing read at one version and written at another.
    let converted: Vec<String> = objects(&plan)
        .iter()
        .filter(|o| o.get("readAs").is_some() || !conversions(o).is_empty())
        .map(|o| {
            format!(
                "{} (readAs {}, conversions {})",
                label(o),
                o["readAs"],
                o["conversions"]
            )
        })
        .collect();
    checks.check(converted.is_empty(), || {
        format!("{b} -> {b}: objects converted: {converted:?}")
    });
    for (kind, at) in [
        ("CronJob", "batch/v1"),
        ("PodDisruptionBudget", "policy/v1"),
        ("CustomResourceDefinition", "apiextensions.k8s.io/v1"),
    ] {
        let all: Vec<&Value> = objects(&plan)
            .iter()
            .filter(|o| o["kind"] == kind)
            .collect();
        checks.check(!all.is_empty(), || format!("no {kind} planned"));
        for o in all {
            check_kept(&mut checks, o, at);
        }
    }
    // The estate's v2beta2 HPAs were seeded as autoscaling/v2; the v1 one stays v1.
    for o in objects(&plan)
        .iter()
        .filter(|o| o["kind"] == "HorizontalPodAutoscaler")
    {
        checks.check(
            o["apiVersion"] == "autoscaling/v2" || o["apiVersion"] == "autoscaling/v1",
            || format!("{}: planned at {}", label(o), o["apiVersion"]),
        );
    }
    // The v1 CRD is planned as written: schema kept, preserveUnknownFields
    // false (v1 omits a false one when read, so it is compared apart).
    if let Some(o) = must_plan(&mut checks, &plan, "CustomResourceDefinition", None, CRD) {
        let mut want = support::manifests(&current.join("01-crd.yaml")).remove(0);
        let spec = want["spec"].as_object_mut().unwrap();
        assert_eq!(
            spec.remove("preserveUnknownFields"),
            Some(Value::Bool(false))
        );
        checks.check(
            o["manifest"]["spec"]["preserveUnknownFields"] != true,
            || format!("{}: preserveUnknownFields is true", label(o)),
        );
        if let Err(e) = contained(&want["spec"], &o["manifest"]["spec"], "spec") {
            checks.fail(format!(
                "{}: manifest differs from the fixture: {e}",
                label(o)
            ));
        }
    }
    let psp_removed = findings(&plan)
        .iter()
        .any(|f| f["rule"] == "pod-security-policy-removed");
    checks.check(!psp_removed, || {
        "a pod-security-policy-removed finding without any PodSecurityPolicy in A".to_string()
    });

    apply_and_verify(env, &mut checks, &plan_path);
    check_backups_in_b(
        env,
        &mut checks,
        &current.join("90-custom-resources.yaml"),
        true,
    );
    checks.finish();
}

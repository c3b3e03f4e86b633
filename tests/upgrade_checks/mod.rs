//! Helpers of the upgrade tests (tests/upgrade_e2e.rs): collected
//! expectations, plan and cluster read-backs, and the checks of each converted
//! kind, kept apart so the tests read as the three scenarios they are.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{self, Env};

pub(crate) const NS: &str = "legacy";
pub(crate) const CRD: &str = "backups.legacy.example.com";

pub(crate) static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Collected expectations

/// Independent expectations of one test: each failure is recorded with what
/// was found, and `finish` fails the test listing all of them.
pub(crate) struct Checks {
    pub(crate) test: &'static str,
    pub(crate) failed: Vec<String>,
}

impl Checks {
    pub(crate) fn new(test: &'static str) -> Self {
        Checks {
            test,
            failed: Vec::new(),
        }
    }

    pub(crate) fn check(&mut self, ok: bool, what: impl FnOnce() -> String) -> bool {
        if !ok {
            self.failed.push(what());
        }
        ok
    }

    pub(crate) fn fail(&mut self, what: String) {
        self.failed.push(what);
    }

    pub(crate) fn finish(self) {
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
pub(crate) fn contained(a: &Value, b: &Value, path: &str) -> Result<(), String> {
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
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs an abshift command; records a failure (with its output) unless it exits 0.
pub(crate) fn run_ok(env: &Env, checks: &mut Checks, args: &[&str]) -> bool {
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
pub(crate) fn get_json(env: &Env, context: &str, args: &[&str]) -> Result<Value, String> {
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
pub(crate) fn read(env: &Env, checks: &mut Checks, context: &str, args: &[&str]) -> Option<Value> {
    match get_json(env, context, args) {
        Ok(v) => Some(v),
        Err(e) => {
            checks.fail(e);
            None
        }
    }
}

pub(crate) fn objects(plan: &Value) -> &Vec<Value> {
    plan["objects"].as_array().expect("plan has objects")
}

pub(crate) fn findings(plan: &Value) -> Vec<&Value> {
    plan["findings"].as_array().into_iter().flatten().collect()
}

/// The planned object of a kind (any group) with that namespace and name.
pub(crate) fn planned<'p>(
    plan: &'p Value,
    kind: &str,
    ns: Option<&str>,
    name: &str,
) -> Option<&'p Value> {
    objects(plan)
        .iter()
        .find(|o| o["kind"] == kind && o["namespace"].as_str() == ns && o["name"] == name)
}

/// Records a failure when the object is not planned.
pub(crate) fn must_plan<'p>(
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

pub(crate) fn label(o: &Value) -> String {
    format!(
        "{} {} {}/{}",
        o["apiVersion"].as_str().unwrap_or("?"),
        o["kind"].as_str().unwrap_or("?"),
        o["namespace"].as_str().unwrap_or(""),
        o["name"].as_str().unwrap_or("?")
    )
}

/// The rule ids a planned object records (`conversions`), empty when absent.
pub(crate) fn conversions(o: &Value) -> Vec<String> {
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
pub(crate) fn check_converted(checks: &mut Checks, o: &Value, from: &str, to: &str) {
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
pub(crate) fn check_kept(checks: &mut Checks, o: &Value, at: &str) {
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
pub(crate) fn words(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// The finding's object is (kind, namespace, name).
pub(crate) fn finding_is_about(f: &Value, kind: &str, ns: Option<&str>, name: &str) -> bool {
    f["object"]["kind"] == kind
        && f["object"]["namespace"].as_str() == ns
        && f["object"]["name"] == name
}

pub(crate) fn finding_text(f: &Value) -> String {
    format!(
        "{} {} {}",
        f["message"].as_str().unwrap_or(""),
        f["why"].as_str().unwrap_or(""),
        f["action"].as_str().unwrap_or("")
    )
}

pub(crate) fn summarize_findings(plan: &Value) -> String {
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
pub(crate) fn fixture_backups(file: &Path) -> Vec<(String, Value)> {
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

pub(crate) fn fixture(kind: &str, name: &str) -> Value {
    support::manifests(&support::old_api_estate_dir())
        .into_iter()
        .find(|m| m["kind"] == kind && m["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("fixture {kind} {name}"))
}

// ---------------------------------------------------------------------------
// One pair

/// Starts the pair (None: skipped), checks it runs the versions asked for,
/// and seeds A with `seed` (directories, in order).
pub(crate) fn pair(a: &str, b: &str, seed: &[&Path]) -> Option<&'static Env> {
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
pub(crate) fn plan(env: &Env, a: &str, b: &str) -> (String, Value, String) {
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
pub(crate) fn apply_and_verify(env: &Env, checks: &mut Checks, plan_path: &str) {
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
pub(crate) fn check_backups_in_b(
    env: &Env,
    checks: &mut Checks,
    fixture_file: &Path,
    structural: bool,
) {
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
        // Apply waits for a CRD before its custom resources; give a slow B a little longer
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
pub(crate) fn check_cronjob_in_b(
    env: &Env,
    checks: &mut Checks,
    a_resource: &str,
    b_resource: &str,
) {
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
pub(crate) fn check_hpa_in_b(env: &Env, checks: &mut Checks, b_resource: &str) {
    let Some(hpa) = read(env, checks, "paas-b", &[b_resource, "-n", NS, "web"]) else {
        return;
    };
    check_hpa_spec(checks, &format!("HPA {NS}/web in B"), &hpa["spec"]);
}

/// Both metrics of the fixture (in any order: 1.20 stores the non-CPU metrics
/// in an annotation of its autoscaling/v1 storage and returns them first) and
/// its behavior.
pub(crate) fn check_hpa_spec(checks: &mut Checks, what: &str, spec: &Value) {
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
pub(crate) fn check_ingress_v1(checks: &mut Checks, what: &str, spec: &Value) {
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
pub(crate) fn check_webhook_v1(checks: &mut Checks, what: &str, config: &Value) {
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

/// The old-API estate's Ingress and webhook as B holds them, read at v1.
pub(crate) fn check_ingress_and_webhook_in_b(env: &Env, checks: &mut Checks) {
    if let Some(ing) = read(
        env,
        checks,
        "paas-b",
        &["ingresses.v1.networking.k8s.io", "-n", NS, "legacy"],
    ) {
        check_ingress_v1(checks, "Ingress legacy/legacy in B", &ing["spec"]);
    }
    if let Some(wh) = read(
        env,
        checks,
        "paas-b",
        &[
            "validatingwebhookconfigurations.v1.admissionregistration.k8s.io",
            "legacy-policy",
        ],
    ) {
        check_webhook_v1(
            checks,
            "ValidatingWebhookConfiguration legacy-policy in B",
            &wh,
        );
    }
}

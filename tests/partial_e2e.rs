//! Partial plans on two real control planes: one namespace, a stack spanning
//! three namespaces (by label and by stacks file), each planned with exactly its
//! cluster-scoped closure; a stack applied and verified, then a second stack
//! applied without touching the first.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::{Env, manifest_id, manifests, ref_id};

type Id = (String, String, String, String);

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn setup() -> Option<(std::sync::MutexGuard<'static, ()>, &'static Env)> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    static SEEDED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let env = support::env("partial")?;
    SEEDED.get_or_init(|| env.seed("paas-a", &support::estate_dir()));
    Some((guard, env))
}

/// Estate objects (from the fixture files) in these namespaces.
fn estate_in(namespaces: &[&str]) -> BTreeSet<Id> {
    manifests(&support::estate_dir())
        .iter()
        .filter(|m| {
            m["metadata"]["namespace"]
                .as_str()
                .is_some_and(|ns| namespaces.contains(&ns))
        })
        .map(manifest_id)
        .collect()
}

fn cluster_id(group: &str, kind: &str, name: &str) -> Id {
    (group.into(), kind.into(), String::new(), name.into())
}

fn planned(plan: &Value) -> BTreeMap<Id, Value> {
    plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (ref_id(o), o.clone()))
        .collect()
}

/// The plan holds exactly `selected` (no pulledInBy) and `pulled` (each with a
/// reason naming an object of the plan).
fn assert_exactly(plan: &Value, selected: &BTreeSet<Id>, pulled: &BTreeSet<Id>) {
    let objects = planned(plan);
    let got: BTreeSet<Id> = objects.keys().cloned().collect();
    let want: BTreeSet<Id> = selected.union(pulled).cloned().collect();
    assert_eq!(
        got.difference(&want).collect::<Vec<_>>(),
        Vec::<&Id>::new(),
        "planned but outside the selection and its closure"
    );
    assert_eq!(
        want.difference(&got).collect::<Vec<_>>(),
        Vec::<&Id>::new(),
        "selected or needed but not planned"
    );
    for (id, o) in &objects {
        let reasons = o["pulledInBy"].as_array().cloned().unwrap_or_default();
        if pulled.contains(id) {
            assert!(!reasons.is_empty(), "{id:?} has no pulledInBy");
            for r in &reasons {
                let by = ref_id(&r["by"]);
                assert!(
                    objects.contains_key(&by),
                    "{id:?} pulled in by {by:?}, not planned"
                );
                assert!(!r["reason"].as_str().unwrap().is_empty());
            }
        } else {
            assert!(
                reasons.is_empty(),
                "{id:?} is selected, not pulled in: {reasons:?}"
            );
        }
    }
}

fn ns_id(name: &str) -> Id {
    cluster_id("", "Namespace", name)
}

#[test]
fn one_namespace_plans_exactly_it_and_its_closure() {
    let Some((_g, env)) = setup() else { return };
    let (plan, _) = env.plan(&["--from", "paas-a", "--to", "paas-b", "-n", "shop-api"]);
    let mut selected = estate_in(&["shop-api"]);
    selected.insert(ns_id("shop-api"));
    let pulled: BTreeSet<Id> = [
        cluster_id(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "featureflagsets.apps.example.com",
        ),
        cluster_id(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "estate-namespace-viewer",
        ),
        cluster_id("scheduling.k8s.io", "PriorityClass", "estate-high"),
    ]
    .into();
    assert_exactly(&plan, &selected, &pulled);
    assert_eq!(
        plan["selection"]["namespaces"],
        serde_json::json!(["shop-api"])
    );
    // Skipped objects are those of the namespace only: nothing cluster-wide leaks in.
    for s in plan["skipped"].as_array().unwrap() {
        assert!(
            s["namespace"] == "shop-api" || s["namespace"].is_null(),
            "{s}"
        );
    }
}

fn shop_closure() -> BTreeSet<Id> {
    [
        cluster_id(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "featureflagsets.apps.example.com",
        ),
        cluster_id("networking.k8s.io", "IngressClass", "estate-nginx"),
        cluster_id(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "estate-namespace-viewer",
        ),
        cluster_id(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "featureflag-editor",
        ),
        cluster_id("scheduling.k8s.io", "PriorityClass", "estate-batch"),
        cluster_id("scheduling.k8s.io", "PriorityClass", "estate-high"),
        cluster_id("storage.k8s.io", "StorageClass", "estate-ssd"),
    ]
    .into()
}

#[test]
fn a_stack_spanning_three_namespaces_by_label_and_by_file() {
    let Some((_g, env)) = setup() else { return };
    let shop = ["shop-frontend", "shop-api", "shop-workers"];
    let mut selected = estate_in(&shop);
    selected.extend(shop.iter().map(|n| ns_id(n)));
    let (by_label, _) = env.plan(&["--from", "paas-a", "--to", "paas-b", "--stack", "shop"]);
    assert_exactly(&by_label, &selected, &shop_closure());
    assert_eq!(by_label["selection"]["stack"], "shop");

    let file = env.dir.join("stacks-test.yaml");
    std::fs::write(
        &file,
        "stacks:\n  storefront:\n    namespaces: [shop-frontend]\n    namespaceSelector: team=shop-backend\n",
    )
    .unwrap();
    let (by_file, _) = env.plan(&[
        "--from",
        "paas-a",
        "--to",
        "paas-b",
        "--stack",
        "storefront",
        "--stacks-file",
        file.to_str().unwrap(),
    ]);
    assert_exactly(&by_file, &selected, &shop_closure());
}

#[test]
fn a_label_selector_takes_matching_objects_and_pulls_in_their_namespace() {
    let Some((_g, env)) = setup() else { return };
    let (plan, _) = env.plan(&[
        "--from",
        "paas-a",
        "--to",
        "paas-b",
        "-n",
        "payments",
        "-l",
        "app.kubernetes.io/name=payments-api",
    ]);
    let selected: BTreeSet<Id> = manifests(&support::estate_dir())
        .iter()
        .filter(|m| {
            m["metadata"]["namespace"] == "payments"
                && m["metadata"]["labels"]["app.kubernetes.io/name"] == "payments-api"
        })
        .map(manifest_id)
        .collect();
    assert!(
        selected.len() >= 3,
        "fixture has labelled objects: {selected:?}"
    );
    let objects = planned(&plan);
    let pulled: BTreeSet<Id> = objects
        .keys()
        .filter(|id| !selected.contains(*id))
        .cloned()
        .collect();
    assert!(pulled.contains(&ns_id("payments")), "{pulled:?}");
    assert!(
        pulled.iter().all(|id| id.2.is_empty()),
        "only cluster-scoped objects are pulled in: {pulled:?}"
    );
    assert_exactly(&plan, &selected, &pulled);
}

fn write_plan(env: &Env, name: &str, args: &[&str]) -> String {
    let path = env.dir.join(format!("{name}.json"));
    let p = path.to_str().unwrap().to_string();
    let mut full = vec![
        "migrate", "plan", "--from", "paas-a", "--to", "paas-b", "-o", &p,
    ];
    full.extend_from_slice(args);
    let out = env.abshift(&full);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p
}

fn apply_ok(env: &Env, plan: &str) -> Value {
    let out = env.abshift(&["migrate", "apply", plan, "--yes", "-o", "json"]);
    assert!(
        out.status.success(),
        "apply {plan}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn verify_ok(env: &Env, plan: &str) -> Value {
    let out = env.abshift(&["migrate", "verify", plan, "-o", "json"]);
    assert!(
        out.status.success(),
        "verify {plan}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// resourceVersion in B of every object a plan holds, read with kubectl.
fn versions_in_b(env: &Env, plan_path: &str) -> BTreeMap<Id, String> {
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(plan_path).unwrap()).unwrap();
    let mut groups: BTreeMap<(String, Option<String>), ()> = BTreeMap::new();
    for o in plan["objects"].as_array().unwrap() {
        let (group, _) = o["apiVersion"]
            .as_str()
            .unwrap()
            .rsplit_once('/')
            .unwrap_or(("", ""));
        let resource = if group.is_empty() {
            o["resource"].as_str().unwrap().to_string()
        } else {
            format!("{}.{group}", o["resource"].as_str().unwrap())
        };
        groups.insert((resource, o["namespace"].as_str().map(str::to_string)), ());
    }
    let wanted: BTreeSet<Id> = planned(&plan).into_keys().collect();
    let mut out = BTreeMap::new();
    for (resource, ns) in groups.keys() {
        let mut args = vec!["get", resource.as_str(), "-o", "json"];
        if let Some(ns) = ns {
            args.extend(["-n", ns.as_str()]);
        }
        let o = env.kubectl("paas-b", &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let list: Value = serde_json::from_slice(&o.stdout).unwrap();
        for item in list["items"].as_array().unwrap() {
            let id = manifest_id(item);
            if wanted.contains(&id) {
                out.insert(
                    id,
                    item["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
        }
    }
    assert_eq!(out.len(), wanted.len(), "every planned object is in B");
    out
}

#[test]
fn a_stack_applies_and_verifies_then_a_second_stack_leaves_it_untouched() {
    let Some((_g, env)) = setup() else { return };
    let shop = write_plan(env, "stack-shop", &["--stack", "shop"]);
    let summary = apply_ok(env, &shop);
    assert_eq!(summary["counts"]["failed"].as_u64().unwrap_or(0), 0);
    let report = verify_ok(env, &shop);
    assert!(report["missing"].as_array().unwrap().is_empty());
    // Nothing outside the stack and its closure reached B.
    let o = env.kubectl("paas-b", &["get", "namespace", "payments", "consul"]);
    assert!(!o.status.success(), "payments/consul must not exist in B");
    let before = versions_in_b(env, &shop);

    let stacks = support::root().join("plans/stacks.yaml");
    let platform = write_plan(
        env,
        "stack-platform",
        &[
            "--stack",
            "platform",
            "--stacks-file",
            stacks.to_str().unwrap(),
        ],
    );
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&platform).unwrap()).unwrap();
    let nss: Vec<&str> = plan["selection"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(nss, ["consul", "platform-tools"]);
    // What the first stack already moved is unchanged, not rewritten.
    for o in plan["objects"].as_array().unwrap() {
        if o["name"] == "featureflagsets.apps.example.com" || o["name"] == "estate-batch" {
            assert_eq!(o["action"], "unchanged", "{}", o["name"]);
        }
    }
    apply_ok(env, &platform);
    verify_ok(env, &platform);
    verify_ok(env, &shop);
    let after = versions_in_b(env, &shop);
    assert_eq!(
        before, after,
        "the second stack rewrote objects of the first"
    );
}

#[test]
fn unknown_stacks_bad_files_and_bad_selectors_are_refused_without_a_plan() {
    let Some((_g, env)) = setup() else { return };
    let out_path = env.dir.join("refused.json");
    let o = out_path.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "migrate", "plan", "--from", "paas-a", "--to", "paas-b", "-o", o,
        ];
        args.extend_from_slice(extra);
        let out = env.abshift(&args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let stacks = support::root().join("plans/stacks.yaml");
    let (code, err) = run(&["--stack", "nope", "--stacks-file", stacks.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("stack 'nope'") && err.contains("platform, shop"),
        "{err}"
    );
    let bad = env.dir.join("bad-stacks.yaml");
    std::fs::write(&bad, "stacks:\n  x: {namespaces: [a], colour: red}\n").unwrap();
    let (code, err) = run(&["--stack", "x", "--stacks-file", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("colour") && err.contains("bad-stacks.yaml"),
        "{err}"
    );
    let (code, err) = run(&["-l", "app in (web"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("label selector"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!out_path.exists(), "no plan is written on error");
}

/// The preflight fixtures, applied to a real 1.20 API server and planned through
/// the real planner (normalisation included): every `bad-*` object gets its
/// file's finding, no `good-*` object does. The `outside-*` Secrets exist in A
/// but a label keeps them out of the selection.
#[test]
fn preflight_fixtures_on_a_real_cluster_fire_their_rules() {
    let Some((_g, env)) = setup() else { return };
    let dir = support::root().join("tests/fixtures/preflight");
    env.seed("paas-a", &dir);
    let mut namespaces = BTreeSet::new();
    for m in manifests(&dir) {
        if m["kind"] == "Namespace" {
            namespaces.insert(m["metadata"]["name"].as_str().unwrap().to_string());
        }
    }
    for name in ["outside-shared-tls", "outside-wildcard-cert"] {
        let o = env.kubectl(
            "paas-a",
            &[
                "-n",
                "pf-outside",
                "create",
                "secret",
                "generic",
                name,
                "--from-literal=k=v",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = env.kubectl(
            "paas-a",
            &[
                "-n",
                "pf-outside",
                "label",
                "secret",
                name,
                "fixture.abshift.io/outside=true",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let ns_list = namespaces.iter().cloned().collect::<Vec<_>>().join(",");
    let (plan, _) = env.plan(&[
        "--from",
        "paas-a",
        "--to",
        "paas-b",
        "-n",
        &ns_list,
        "-l",
        "!fixture.abshift.io/outside",
    ]);
    let findings = plan["findings"].as_array().unwrap();
    // Cluster-scoped fixtures (a hostPath PersistentVolume) are judged in a whole-estate plan.
    let (whole, _) = env.plan(&["--from", "paas-a", "--to", "paas-b"]);
    let whole_findings = whole["findings"].as_array().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "{files:?}");
    for file in files {
        let rule = file.file_stem().unwrap().to_str().unwrap().to_string();
        for m in manifests(&file) {
            let name = m["metadata"]["name"].as_str().unwrap();
            let judged = if m["metadata"]["namespace"].is_null() {
                whole_findings
            } else {
                findings
            };
            let fired = judged.iter().any(|f| {
                f["rule"] == rule.as_str()
                    && f["object"]["name"] == name
                    && f["object"]["kind"] == m["kind"]
            });
            if name.starts_with("bad-") {
                assert!(fired, "{rule}: no finding for {} {name}", m["kind"]);
            } else if name.starts_with("good-") {
                assert!(!fired, "{rule}: finding for {} {name}", m["kind"]);
            }
        }
    }
}

//! No silent incompleteness, on two real clusters: each way a green run could
//! hide a gap between A and B (a kind B will not list, a discovery failure, a
//! key removed in A, an object new in A, odd names, journal faults, two applies
//! at once, a skip later overwritten) is shown to fail loudly or to be fixed.

#[path = "fault_proxy/mod.rs"]
mod fault_proxy;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Env;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn env() -> Option<&'static Env> {
    support::env("gaps")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// abshift with a given kubeconfig.
fn abshift_with(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(support::abshift_bin())
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("abshift runs")
}

/// Applies JSON documents to a context with kubectl.
fn kube_apply(env: &Env, context: &str, docs: &[Value]) {
    let path = env.dir.join(format!("apply-{}.json", std::process::id()));
    let list = json!({"apiVersion": "v1", "kind": "List", "items": docs});
    std::fs::write(&path, serde_json::to_vec(&list).unwrap()).unwrap();
    let out = env.kubectl(context, &["apply", "-f", path.to_str().unwrap()]);
    assert!(out.status.success(), "kubectl apply: {}", text(&out));
}

fn kubectl_ok(env: &Env, context: &str, args: &[&str]) -> String {
    let out = env.kubectl(context, args);
    assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn get_json(env: &Env, context: &str, args: &[&str]) -> Value {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&kubectl_ok(env, context, &full)).unwrap()
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn config_map(ns: &str, name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns}, "data": data})
}

fn plan_path(env: &Env, name: &str) -> PathBuf {
    let p = env.dir.join(format!("gaps-{name}.json"));
    let _ = std::fs::remove_file(&p);
    let mut journal = p.as_os_str().to_owned();
    journal.push(".journal");
    let _ = std::fs::remove_file(PathBuf::from(journal));
    p
}

fn plan(env: &Env, path: &Path, args: &[&str]) -> Value {
    let mut full = vec![
        "migrate",
        "plan",
        "--from",
        "paas-a",
        "--to",
        "paas-b",
        "-o",
        path.to_str().unwrap(),
    ];
    full.extend_from_slice(args);
    let out = env.abshift(&full);
    assert!(out.status.success(), "plan: {}", text(&out));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn apply(env: &Env, path: &Path, args: &[&str]) -> (Output, Value) {
    let mut full = vec![
        "migrate",
        "apply",
        path.to_str().unwrap(),
        "--yes",
        "-o",
        "json",
    ];
    full.extend_from_slice(args);
    let out = env.abshift(&full);
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, summary)
}

fn verify(env: &Env, path: &Path, output: &str) -> Output {
    env.abshift(&["migrate", "verify", path.to_str().unwrap(), "-o", output])
}

fn object<'a>(plan: &'a Value, kind: &str, name: &str) -> &'a Value {
    plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == kind && o["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} not in the plan"))
}

fn count(summary: &Value, outcome: &str) -> u64 {
    summary["counts"][outcome].as_u64().unwrap_or(0)
}

/// Plans namespace `ns` of A into context `to` twice: first as given, which
/// must stop (exit 1, no plan file) and name the gap; then with
/// `--skip-unavailable name` (and `extra` flags), which must succeed. Returns
/// the refusal's stderr, the second run's output and the plan it wrote.
fn plan_over_a_gap(
    env: &Env,
    kubeconfig: &Path,
    to: &str,
    ns: &str,
    name: &str,
    extra: &[&str],
) -> (String, Output, Value) {
    let plan_file = plan_path(env, ns);
    let p = plan_file.to_str().unwrap();
    let base = [
        "migrate", "plan", "--from", "paas-a", "--to", to, "-n", ns, "-o", p,
    ];
    let refused = abshift_with(kubeconfig, &base);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(!plan_file.exists(), "no plan is written over a gap");
    let mut named = base.to_vec();
    named.extend_from_slice(&["--skip-unavailable", name]);
    named.extend_from_slice(extra);
    let out = abshift_with(kubeconfig, &named);
    assert!(out.status.success(), "{}", text(&out));
    let plan = serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    (
        String::from_utf8_lossy(&refused.stderr).to_string(),
        out,
        plan,
    )
}

#[test]
fn b_credentials_that_cannot_list_a_kind_stop_the_plan_unless_named() {
    let _serial = serial();
    let Some(env) = env() else { return };
    kube_apply(
        env,
        "paas-a",
        &[
            namespace("gaps-rbac"),
            config_map("gaps-rbac", "owned-elsewhere", json!({"k": "a"})),
        ],
    );
    // B: a token that may create, read and change everything, and list
    // everything but ConfigMaps.
    let listable = kubectl_ok(
        env,
        "paas-b",
        &["api-resources", "--verbs=list", "-o", "name"],
    );
    let mut rules = vec![json!({"apiGroups": ["*"], "resources": ["*"],
        "verbs": ["get", "watch", "create", "update", "patch", "delete"]})];
    for name in listable.lines().filter(|n| *n != "configmaps") {
        let (resource, group) = name.split_once('.').unwrap_or((name, ""));
        rules.push(json!({"apiGroups": [group], "resources": [resource], "verbs": ["list"]}));
    }
    kube_apply(
        env,
        "paas-b",
        &[
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "no-cm-list", "namespace": "kube-system"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "abshift-test:no-cm-list"}, "rules": rules}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "abshift-test:no-cm-list"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "abshift-test:no-cm-list"},
                "subjects": [{"kind": "ServiceAccount", "name": "no-cm-list", "namespace": "kube-system"}]}),
        ],
    );
    let token = kubectl_ok(
        env,
        "paas-b",
        &["create", "token", "no-cm-list", "-n", "kube-system"],
    );
    let kubeconfig = env.dir.join("no-cm-list.kubeconfig");
    std::fs::copy(&env.kubeconfig, &kubeconfig).unwrap();
    let kc = kubeconfig.to_str().unwrap();
    for args in [
        vec![
            "config",
            "--kubeconfig",
            kc,
            "set-credentials",
            "no-cm-list",
            "--token",
            token.trim(),
        ],
        vec![
            "config",
            "--kubeconfig",
            kc,
            "set-context",
            "paas-b-no-cm-list",
            "--cluster",
            "paas-b",
            "--user",
            "no-cm-list",
        ],
    ] {
        let out = Command::new("kubectl").args(&args).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    // The token really is refused the list, and allowed the rest.
    let denied = Command::new("kubectl")
        .args([
            "--kubeconfig",
            kc,
            "--context",
            "paas-b-no-cm-list",
            "get",
            "configmaps",
            "-A",
        ])
        .output()
        .unwrap();
    assert!(!denied.status.success(), "{}", text(&denied));

    // Named on purpose: the plan records it and the report shows it.
    let report = env.dir.join("gaps-rbac.md");
    let r = report.to_str().unwrap();
    let (stderr, out, plan) = plan_over_a_gap(
        env,
        &kubeconfig,
        "paas-b-no-cm-list",
        "gaps-rbac",
        "configmaps",
        &["--report", r],
    );
    assert!(
        stderr.contains("listing configmaps") && stderr.contains("--skip-unavailable configmaps"),
        "the error names the kind, the cluster and the way out: {stderr}"
    );
    assert!(stderr.contains("paas-b-no-cm-list"), "{stderr}");
    let gaps = plan["unavailable"].as_array().expect("gaps recorded");
    assert!(
        gaps.iter().any(|g| g["cluster"] == "B"
            && g["resource"] == "configmaps"
            && g["allowedBy"] == "--skip-unavailable configmaps"),
        "{gaps:?}"
    );
    assert_eq!(plan["selection"]["skipUnavailable"], json!(["configmaps"]));
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("Left out") && md.contains("configmaps"), "{md}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("LEFT OUT"));
}

#[test]
fn a_discovery_failure_on_b_stops_the_plan_unless_named() {
    let _serial = serial();
    let Some(env) = env() else { return };
    kube_apply(env, "paas-a", &[namespace("gaps-disco")]);
    let upstream = fault_proxy::paas_b_upstream(&env.dir).unwrap();
    let faults = fault_proxy::FaultPlan::pass_through()
        .all_requests()
        .for_paths_containing("/apis/batch/v1")
        .every(1, fault_proxy::Fault::Unavailable);
    let proxy = fault_proxy::FaultProxy::start(&env.dir, &upstream, faults).unwrap();
    let kubeconfig = env.dir.join("gaps-disco.kubeconfig");
    fault_proxy::kubeconfig_via_proxy(&env.kubeconfig, &kubeconfig, proxy.url()).unwrap();
    let (stderr, _, plan) = plan_over_a_gap(env, &kubeconfig, "paas-b", "gaps-disco", "batch", &[]);
    assert!(
        stderr.contains("discovery of API group batch/v1 failed")
            && stderr.contains("--skip-unavailable batch/v1"),
        "{stderr}"
    );
    assert!(proxy.counters().faults.unavailable > 0);
    assert!(
        plan["unavailable"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["read"] == "discovery" && g["group"] == "batch" && g["cluster"] == "B"),
        "{}",
        plan["unavailable"]
    );
}

#[test]
fn a_key_removed_in_a_is_removed_from_b_and_verify_names_it_until_then() {
    let _serial = serial();
    let Some(env) = env() else { return };
    let ns = "gaps-removal";
    kube_apply(
        env,
        "paas-a",
        &[
            namespace(ns),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": ns, "labels": {"app": "shop", "tier": "web"}},
                "data": {"mode": "fast", "legacy": "1"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": ns},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1",
                            "env": [{"name": "KEEP", "value": "1"}, {"name": "DEBUG", "value": "1"}]}]}}}}),
        ],
    );
    let first = plan_path(env, "removal-1");
    plan(env, &first, &["-n", ns]);
    let (out, _) = apply(env, &first, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let out = verify(env, &first, "json");
    assert!(out.status.success(), "{}", text(&out));
    // A plan right after the apply finds nothing to do: B's defaults are not
    // mistaken for fields A dropped.
    let again = plan_path(env, "removal-again");
    let p = plan(env, &again, &["-n", ns]);
    assert!(
        p["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["action"] == "unchanged"),
        "{}",
        p["summary"]
    );

    kubectl_ok(
        env,
        "paas-a",
        &[
            "-n",
            ns,
            "patch",
            "configmap",
            "settings",
            "--type",
            "json",
            "-p",
            r#"[{"op":"remove","path":"/data/legacy"},{"op":"remove","path":"/metadata/labels/tier"}]"#,
        ],
    );
    kubectl_ok(
        env,
        "paas-a",
        &[
            "-n",
            ns,
            "patch",
            "deployment",
            "web",
            "--type",
            "json",
            "-p",
            r#"[{"op":"remove","path":"/spec/template/spec/containers/0/env/1"}]"#,
        ],
    );

    // Verify with the plan applied: B still has the fields; it fails naming them.
    let out = verify(env, &first, "json");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let problem = |name: &str| {
        report["mismatched"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["object"]["name"] == name)
            .map(|m| m["problem"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{name} not reported: {report}"))
    };
    let settings = problem("settings");
    assert!(
        settings.contains("data.legacy") && settings.contains("metadata.labels.tier"),
        "{settings}"
    );
    assert!(
        problem("web").contains("env[name=DEBUG]"),
        "{}",
        problem("web")
    );

    // A new plan updates and removes them.
    let second = plan_path(env, "removal-2");
    let p = plan(env, &second, &["-n", ns]);
    let cm = object(&p, "ConfigMap", "settings");
    assert_eq!(cm["action"], "update");
    let removes: Vec<&str> = cm["removes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(removes.contains(&"data.legacy"), "{removes:?}");
    let (out, _) = apply(env, &second, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let b = get_json(env, "paas-b", &["-n", ns, "configmap", "settings"]);
    assert!(b["data"].get("legacy").is_none(), "{b}");
    assert!(b["metadata"]["labels"].get("tier").is_none(), "{b}");
    assert_eq!(b["data"]["mode"], "fast");
    let d = get_json(env, "paas-b", &["-n", ns, "deployment", "web"]);
    let envs = &d["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(envs, &json!([{"name": "KEEP", "value": "1"}]), "{d}");
    let out = verify(env, &second, "text");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn objects_new_in_a_or_gone_from_it_fail_verify_with_their_own_exit_code() {
    let _serial = serial();
    let Some(env) = env() else { return };
    let ns = "gaps-scope";
    kube_apply(
        env,
        "paas-a",
        &[
            namespace(ns),
            config_map(ns, "stays", json!({"k": "1"})),
            config_map(ns, "goes", json!({"k": "2"})),
        ],
    );
    let path = plan_path(env, "scope");
    plan(env, &path, &["-n", ns]);
    let (out, _) = apply(env, &path, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(verify(env, &path, "json").status.success());

    kube_apply(
        env,
        "paas-a",
        &[config_map(ns, "arrived", json!({"k": "3"}))],
    );
    kubectl_ok(env, "paas-a", &["-n", ns, "delete", "configmap", "goes"]);
    let out = verify(env, &path, "json");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names = |field: &str| -> Vec<String> {
        report[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("newInSource"), ["arrived"]);
    assert_eq!(names("goneFromSource"), ["goes"]);
    let out = verify(env, &path, "text");
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("re-plan"), "{stdout}");
}

#[test]
fn odd_names_survive_every_verb() {
    let _serial = serial();
    let Some(env) = env() else { return };
    let ns = "gaps-odd";
    let roles = ["odd name?#x", "ünïcödé röle", "ctl\u{1b}[31mred"];
    let mut docs = vec![namespace(ns)];
    for (i, role) in roles.iter().enumerate() {
        docs.push(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": role, "labels": {"set": "odd"}},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
        );
        docs.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": format!("bind {i}?#ü"), "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]}));
    }
    kube_apply(env, "paas-a", &docs);
    let first = plan_path(env, "odd-1");
    let p = plan(env, &first, &["-n", ns]);
    for role in roles {
        assert_eq!(object(&p, "ClusterRole", role)["action"], "create");
    }
    // Dry run (POST and apply with dryRun), then the real writes.
    let (out, summary) = apply(env, &first, &["--dry-run"]);
    assert!(out.status.success(), "{}\n{summary}", text(&out));
    let (out, summary) = apply(env, &first, &[]);
    assert!(out.status.success(), "{}\n{summary}", text(&out));
    assert_eq!(count(&summary, "created"), 7, "{summary}");
    let out = verify(env, &first, "json");
    assert!(out.status.success(), "{}", text(&out));

    // Changed in A: B is read and written at the odd names again.
    for role in roles {
        kubectl_ok(
            env,
            "paas-a",
            &[
                "patch",
                "clusterrole",
                role,
                "--type",
                "json",
                "-p",
                r#"[{"op":"add","path":"/rules/0/verbs/-","value":"list"},{"op":"remove","path":"/metadata/labels/set"}]"#,
            ],
        );
    }
    let out = verify(env, &first, "text");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        !shown.contains('\u{1b}'),
        "a name reached the terminal unescaped: {shown}"
    );
    assert!(shown.contains("ctl\\u{1b}[31mred"), "{shown}");

    let second = plan_path(env, "odd-2");
    let p = plan(
        env,
        &second,
        &[
            "-n",
            ns,
            "--report",
            env.dir.join("gaps-odd.md").to_str().unwrap(),
        ],
    );
    for role in roles {
        assert_eq!(object(&p, "ClusterRole", role)["action"], "update");
    }
    let md = std::fs::read_to_string(env.dir.join("gaps-odd.md")).unwrap();
    assert!(
        !md.contains('\u{1b}'),
        "a name reached the report unescaped"
    );
    let (out, summary) = apply(env, &second, &[]);
    assert!(out.status.success(), "{}\n{summary}", text(&out));
    assert_eq!(count(&summary, "updated"), 3, "{summary}");
    let b = get_json(env, "paas-b", &["clusterrole", "odd name?#x"]);
    assert_eq!(b["rules"][0]["verbs"], json!(["get", "list"]));
    assert!(b["metadata"]["labels"].get("set").is_none(), "{b}");
    let out = verify(env, &second, "json");
    assert!(out.status.success(), "{}", text(&out));
}

/// A plan of `n` ConfigMaps in a new namespace of A.
fn many_config_maps(env: &Env, ns: &str, n: usize) -> PathBuf {
    let mut docs = vec![namespace(ns)];
    docs.extend((0..n).map(|i| config_map(ns, &format!("cm-{i:04}"), json!({"i": i.to_string()}))));
    kube_apply(env, "paas-a", &docs);
    let path = plan_path(env, ns);
    plan(env, &path, &["-n", ns]);
    path
}

fn journal_of(plan: &Path) -> PathBuf {
    let mut j = plan.as_os_str().to_owned();
    j.push(".journal");
    PathBuf::from(j)
}

#[test]
fn a_journal_that_cannot_be_written_stops_the_run_and_a_torn_tail_is_tolerated() {
    let _serial = serial();
    let Some(env) = env() else { return };
    let path = many_config_maps(env, "gaps-journal", 200);
    // The journal may grow to 2 KiB: the file system refuses the rest (EFBIG).
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"trap "" XFSZ; ulimit -f 2; exec "$0" "$@""#)
        .arg(support::abshift_bin())
        .args([
            "migrate",
            "apply",
            path.to_str().unwrap(),
            "--yes",
            "-o",
            "json",
        ])
        .env("KUBECONFIG", &env.kubeconfig)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("the summary is printed");
    let stopped = summary["stopped"]
        .as_str()
        .expect("the summary says why it stopped");
    assert!(stopped.contains("cannot write journal"), "{stopped}");
    assert!(
        count(&summary, "blocked") > 0,
        "writes went on after the journal failed: {summary}"
    );
    assert!(count(&summary, "created") < 201, "{summary}");
    let journal = std::fs::read(journal_of(&path)).unwrap();
    assert!(journal.len() <= 2048);

    // The next run resumes from what the journal holds, torn tail and all.
    let (out, summary) = apply(env, &path, &[]);
    assert!(out.status.success(), "{}\n{summary}", text(&out));
    assert!(summary["resumed"].as_u64().unwrap() > 0, "{summary}");
    let journal = std::fs::read_to_string(journal_of(&path)).unwrap();
    for line in journal.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    assert!(verify(env, &path, "json").status.success());
}

#[test]
fn a_second_apply_of_the_same_plan_is_refused_while_the_first_runs() {
    let _serial = serial();
    let Some(env) = env() else { return };
    let path = many_config_maps(env, "gaps-lock", 300);
    let mut first = Command::new(support::abshift_bin())
        .args([
            "migrate",
            "apply",
            path.to_str().unwrap(),
            "--yes",
            "--concurrency",
            "1",
            "-o",
            "json",
        ])
        .env("KUBECONFIG", &env.kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first run is writing (its journal has entries).
    let journal = journal_of(&path);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let lines = std::fs::read_to_string(&journal)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines > 2 {
            break;
        }
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first apply ended before it was seen writing"
        );
        assert!(
            Instant::now() < deadline,
            "the first apply never started writing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let (second, _) = apply(env, &path, &[]);
    let still_running = first.try_wait().unwrap().is_none();
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another `abshift migrate apply` of this plan is running"),
        "{stderr}"
    );
    assert!(still_running, "the check must have raced a running apply");
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(verify(env, &path, "json").status.success());
}

#[test]
fn a_skipped_conflict_is_not_journaled_as_done() {
    let _serial = serial();
    let Some(env) = env() else { return };
    let ns = "gaps-skip";
    kube_apply(
        env,
        "paas-a",
        &[
            namespace(ns),
            config_map(ns, "shared", json!({"x": "from-a"})),
        ],
    );
    kube_apply(
        env,
        "paas-b",
        &[
            namespace(ns),
            config_map(ns, "shared", json!({"x": "from-b"})),
        ],
    );
    let path = plan_path(env, "skip");
    let p = plan(env, &path, &["-n", ns]);
    assert_eq!(object(&p, "ConfigMap", "shared")["action"], "conflict");
    let (out, summary) = apply(env, &path, &["--on-conflict", "skip"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(count(&summary, "skipped"), 1, "{summary}");
    let b = get_json(env, "paas-b", &["-n", ns, "configmap", "shared"]);
    assert_eq!(b["data"]["x"], "from-b");
    // The same plan, now overwriting: the skip did not count as done.
    let (out, summary) = apply(env, &path, &["--on-conflict", "overwrite"]);
    assert!(out.status.success(), "{}\n{summary}", text(&out));
    assert_eq!(count(&summary, "updated"), 1, "{summary}");
    let b = get_json(env, "paas-b", &["-n", ns, "configmap", "shared"]);
    assert_eq!(b["data"]["x"], "from-a");
}

/// A Secret rotated in A after the plan was made is refused (drifted), never
/// copied silently, and the run exits 1; the other Secrets of its namespace
/// (read from A a wave ahead, during the Namespace's wave) reach B with A's
/// values, and no value appears in the output. `--allow-drift` then copies
/// the rotated value.
#[test]
fn a_secret_rotated_after_the_plan_is_refused_until_drift_is_allowed() {
    use base64::Engine;
    let _serial = serial();
    let Some(env) = env() else { return };
    let ns = "gaps-rotated";
    let secret = |name: &str, value: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": ns},
            "stringData": {"password": value}})
    };
    kube_apply(
        env,
        "paas-a",
        &[
            namespace(ns),
            secret("kept", "kept-value-0c7e"),
            secret("rotated", "before-rotation-91d2"),
            secret("other", "other-value-5ab8"),
        ],
    );
    let path = plan_path(env, "rotated");
    let planned = plan(env, &path, &["-n", ns]);
    assert!(
        object(&planned, "Secret", "rotated")["wave"].as_u64()
            > object(&planned, "Namespace", ns)["wave"].as_u64(),
        "the Secrets come in a wave after their Namespace's"
    );
    kube_apply(env, "paas-a", &[secret("rotated", "after-rotation-3f60")]);

    let in_b = |name: &str| {
        let out = env.kubectl(
            "paas-b",
            &[
                "-n",
                ns,
                "get",
                "secret",
                name,
                "-o",
                "jsonpath={.data.password}",
            ],
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).to_string())
    };
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    let (out, summary) = apply(env, &path, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(count(&summary, "drifted"), 1, "{summary}");
    assert_eq!(count(&summary, "created"), 3, "{summary}");
    let problem = &summary["problems"][0];
    assert_eq!(problem["object"]["name"], "rotated", "{summary}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("--allow-drift"),
        "{summary}"
    );
    for value in [
        "before-rotation",
        "after-rotation",
        "kept-value",
        "other-value",
    ] {
        assert!(
            !text(&out).contains(value),
            "a Secret value in the output: {}",
            text(&out)
        );
    }
    assert_eq!(in_b("kept"), Some(b64("kept-value-0c7e")));
    assert_eq!(in_b("other"), Some(b64("other-value-5ab8")));
    assert_eq!(
        in_b("rotated"),
        None,
        "a drifted Secret must not be written"
    );

    let (out, summary) = apply(env, &path, &["--allow-drift"]);
    assert!(out.status.success(), "{}", text(&out));
    // The Namespace and the other two come from the journal, not written again.
    assert_eq!(count(&summary, "created"), 4, "{summary}");
    assert_eq!(summary["resumed"], 3, "{summary}");
    assert_eq!(in_b("rotated"), Some(b64("after-rotation-3f60")));
}

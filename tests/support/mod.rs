//! Test harness: real control planes started by `scripts/testenv.sh`, torn
//! down when the test process exits. `env(name)` is the one pair of a test
//! binary (both sides at [`OLD_K8S`]); `env_versions(name, a, b)` starts a pair
//! per (name, A version, B version), so one binary can hold several. Under
//! `CI=true` a cluster that cannot start fails the test instead of skipping it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The Kubernetes version the sample estate is written for, and the version of
/// both sides of `env(name)`.
pub const OLD_K8S: &str = "1.20.2";
/// The newest Kubernetes version the tests run a side at (binaries built by
/// `K8S_VERSION=1.34.4 scripts/build-k8s.sh`, on etcd 3.5 from
/// `scripts/build-etcd.sh`; `scripts/test.sh` builds both).
pub const NEW_K8S: &str = "1.34.4";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Env {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
}

static ENV: OnceLock<Option<Env>> = OnceLock::new();

/// The cluster pair of this test binary, both sides at [`OLD_K8S`], started on
/// first use in `target/testenv/<name>`; `None` (skip) when it cannot start
/// outside CI.
pub fn env(name: &str) -> Option<&'static Env> {
    ENV.get_or_init(|| start(&root().join("target/testenv").join(name), OLD_K8S, OLD_K8S))
        .as_ref()
}

/// A cluster pair with A at version `a` and B at `b` (`1.N.P`), started on
/// first use in `target/testenv/<name>-<a>-<b>`; `None` (skip) when it cannot
/// start outside CI. Each (name, a, b) is started once per test binary, and
/// pairs with different keys start independently of each other.
pub fn env_versions(name: &str, a: &str, b: &str) -> Option<&'static Env> {
    type Slot = &'static OnceLock<Option<Env>>;
    /// (name, A version, B version).
    type Key = (String, String, String);
    static PAIRS: OnceLock<Mutex<HashMap<Key, Slot>>> = OnceLock::new();
    let key = (name.to_string(), a.to_string(), b.to_string());
    // The map lock is held only to find the slot, not while a pair starts.
    let slot: Slot = *PAIRS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_insert_with(|| Box::leak(Box::new(OnceLock::new())));
    slot.get_or_init(|| {
        let dir = root()
            .join("target/testenv")
            .join(format!("{name}-{a}-{b}"));
        start(&dir, a, b)
    })
    .as_ref()
}

fn testenv(dir: &Path, action: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/testenv.sh"))
        .arg(action)
        .env("ABSHIFT_TESTENV", dir)
        .stdin(Stdio::null());
    cmd
}

fn start(dir: &Path, a: &str, b: &str) -> Option<Env> {
    // Leftovers of an interrupted run hold state tests do not expect: start clean.
    let _ = testenv(dir, "down").status();
    let status = testenv(dir, "up")
        .env("ABSHIFT_A_VERSION", a)
        .env("ABSHIFT_B_VERSION", b)
        .env("ABSHIFT_TESTENV_OWNER_PID", std::process::id().to_string())
        .status();
    match status {
        Ok(s) if s.success() => Some(Env {
            kubeconfig: dir.join("kubeconfig"),
            dir: dir.to_path_buf(),
        }),
        other => {
            let why = format!(
                "test clusters (A {a}, B {b}) could not start ({other:?}); see {}",
                dir.display()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{why}");
            }
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

impl Env {
    /// The Kubernetes version (`1.N.P`) a context's cluster runs, as
    /// `scripts/testenv.sh` recorded it (`paas-a` and `paas-a-readonly` are
    /// the same cluster).
    pub fn version(&self, context: &str) -> String {
        let cluster = context.strip_suffix("-readonly").unwrap_or(context);
        let path = self.dir.join(cluster).join("version");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_string()
    }

    pub fn abshift(&self, args: &[&str]) -> Output {
        Command::new(abshift_bin())
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("abshift runs")
    }

    pub fn kubectl(&self, context: &str, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--context")
            .arg(context)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::null())
            .output()
            .expect("kubectl runs")
    }

    /// Seeds a manifest directory into a context with the repo's seeding script.
    pub fn seed(&self, context: &str, dir: &Path) {
        let out = Command::new("bash")
            .arg(root().join("scripts/seed-estate.sh"))
            .arg(context)
            .arg(dir)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::null())
            .output()
            .expect("seed script runs");
        assert!(
            out.status.success(),
            "seeding {context} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `migrate plan` and returns the parsed plan plus stderr.
    pub fn plan(&self, args: &[&str]) -> (Value, String) {
        let (_, plan, stderr) = self.plan_file(args);
        (plan, stderr)
    }

    /// Runs `migrate plan` into a new file of this env's directory and returns
    /// its path (for `migrate apply`/`verify`), the parsed plan and stderr.
    pub fn plan_file(&self, args: &[&str]) -> (PathBuf, Value, String) {
        let out_path = self.dir.join(format!("plan-{}.json", unique()));
        let mut full = vec!["migrate", "plan"];
        full.extend_from_slice(args);
        let p = out_path.to_str().unwrap().to_string();
        full.extend_from_slice(&["-o", &p]);
        let out = self.abshift(&full);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "plan failed: {stderr}");
        let text = std::fs::read_to_string(&out_path).expect("plan written");
        (
            out_path,
            serde_json::from_str(&text).expect("plan is JSON"),
            stderr,
        )
    }
}

/// The abshift binary `Env::abshift` runs: this build's, or the one named by
/// `ABSHIFT_TEST_BIN`, to run the same tests against another build (to see
/// which expectations a change meets, for instance).
pub fn abshift_bin() -> PathBuf {
    std::env::var_os("ABSHIFT_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_abshift")))
}

fn unique() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Polls `f` until it returns true or the deadline passes.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every document of every YAML file in a directory (or of one file).
pub fn manifests(dir: &Path) -> Vec<Value> {
    use serde::Deserialize;
    let mut files: Vec<PathBuf> = if dir.is_file() {
        vec![dir.to_path_buf()]
    } else {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect()
    };
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v = Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            if !v.is_null() {
                out.push(v);
            }
        }
    }
    out
}

/// (group, kind, namespace, name) — the identity tests compare objects by.
pub fn identity(
    api_version: &str,
    kind: &str,
    ns: Option<&str>,
    name: &str,
) -> (String, String, String, String) {
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    (
        group.to_string(),
        kind.to_string(),
        ns.unwrap_or("").to_string(),
        name.to_string(),
    )
}

/// The identity of a manifest (`metadata.namespace`/`metadata.name`).
pub fn manifest_id(m: &Value) -> (String, String, String, String) {
    identity(
        m["apiVersion"].as_str().unwrap(),
        m["kind"].as_str().unwrap(),
        m["metadata"]["namespace"].as_str(),
        m["metadata"]["name"].as_str().unwrap(),
    )
}

/// The identity of a plan entry or reference (`namespace`/`name` at the top).
pub fn ref_id(o: &Value) -> (String, String, String, String) {
    identity(
        o["apiVersion"].as_str().unwrap(),
        o["kind"].as_str().unwrap(),
        o["namespace"].as_str(),
        o["name"].as_str().unwrap(),
    )
}

pub fn estate_dir() -> PathBuf {
    root().join("tests/fixtures/estate")
}

/// The old-API estate (`tests/fixtures/estate-old-api`): namespace `legacy`
/// written with the API versions Kubernetes 1.22 and 1.25 removed.
pub fn old_api_estate_dir() -> PathBuf {
    root().join("tests/fixtures/estate-old-api")
}

/// Minor number of a `1.N.P` version.
pub fn minor(version: &str) -> u32 {
    version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("version {version:?} is not of the form 1.N.P"))
}

/// The sample estate for a cluster at `version`. Up to 1.24 that is
/// [`estate_dir`] itself. 1.25 stopped serving `batch/v1beta1` CronJobs and
/// `policy/v1beta1` PodDisruptionBudgets, 1.26 `autoscaling/v2beta2`; from 1.25
/// on this is a copy (in `target/testenv/estate-current-api`) with those
/// objects at `batch/v1`, `policy/v1` and `autoscaling/v2`. For the estate's
/// documents those versions have the same fields, so only the `apiVersion`
/// line changes (every estate PDB has a non-empty selector, whose meaning
/// policy/v1 keeps).
pub fn estate_dir_for(version: &str) -> PathBuf {
    if minor(version) < 25 {
        return estate_dir();
    }
    const BUMPS: &[(&str, &str)] = &[
        ("apiVersion: batch/v1beta1", "apiVersion: batch/v1"),
        ("apiVersion: policy/v1beta1", "apiVersion: policy/v1"),
        (
            "apiVersion: autoscaling/v2beta2",
            "apiVersion: autoscaling/v2",
        ),
    ];
    let out = root().join("target/testenv/estate-current-api");
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(estate_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let rewritten: Vec<&str> = text
            .lines()
            .map(|line| {
                BUMPS
                    .iter()
                    .find(|(old, _)| line.trim_end() == *old)
                    .map_or(line, |(_, new)| *new)
            })
            .collect();
        // Tests of one binary may run this at once: each file is written whole
        // and renamed into place, and every writer writes the same content.
        let name = path.file_name().unwrap();
        let tmp = out.join(format!(".{}.{}", name.to_string_lossy(), unique()));
        std::fs::write(&tmp, rewritten.join("\n") + "\n").unwrap();
        std::fs::rename(&tmp, out.join(name)).unwrap();
    }
    out
}

/// Every secret value of the estate, in clear and base64, long enough to be
/// unambiguous when searched for.
pub fn secret_values() -> Vec<String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = std::collections::BTreeSet::new();
    for m in manifests(&estate_dir())
        .iter()
        .filter(|m| m["kind"] == "Secret")
    {
        for (_, v) in m["data"].as_object().into_iter().flatten() {
            let enc = v.as_str().unwrap().to_string();
            let dec = String::from_utf8(b64.decode(&enc).unwrap()).unwrap();
            out.insert(enc);
            out.insert(dec);
        }
        for (_, v) in m["stringData"].as_object().into_iter().flatten() {
            let clear = v.as_str().unwrap().to_string();
            out.insert(b64.encode(&clear));
            out.insert(clear);
        }
    }
    out.into_iter().filter(|v| v.len() >= 8).collect()
}

//! Test harness: real control planes started by `scripts/testenv.sh`, one pair
//! per test binary, torn down when the test process exits. Under `CI=true` a
//! cluster that cannot start fails the test instead of skipping it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Env {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
}

static ENV: OnceLock<Option<Env>> = OnceLock::new();

/// The cluster pair of this test binary, started on first use; `None` (skip)
/// when it cannot start outside CI.
pub fn env(name: &str) -> Option<&'static Env> {
    ENV.get_or_init(|| start(name)).as_ref()
}

fn start(name: &str) -> Option<Env> {
    let dir = root().join("target").join("testenv").join(name);
    // Leftovers of an interrupted run hold state tests do not expect: start clean.
    let _ = Command::new("bash")
        .arg(root().join("scripts/testenv.sh"))
        .arg("down")
        .env("ABSHIFT_TESTENV", &dir)
        .stdin(Stdio::null())
        .status();
    let status = Command::new("bash")
        .arg(root().join("scripts/testenv.sh"))
        .arg("up")
        .env("ABSHIFT_TESTENV", &dir)
        .env("ABSHIFT_TESTENV_OWNER_PID", std::process::id().to_string())
        .stdin(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Some(Env {
            kubeconfig: dir.join("kubeconfig"),
            dir,
        }),
        other => {
            let why = format!(
                "test clusters could not start ({other:?}); see {}",
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
    pub fn abshift(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_abshift"))
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
        let out_path = self.dir.join(format!("plan-{}.json", unique()));
        let mut full = vec!["migrate", "plan"];
        full.extend_from_slice(args);
        let p = out_path.to_str().unwrap().to_string();
        full.extend_from_slice(&["-o", &p]);
        let out = self.abshift(&full);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "plan failed: {stderr}");
        let text = std::fs::read_to_string(&out_path).expect("plan written");
        (serde_json::from_str(&text).expect("plan is JSON"), stderr)
    }
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

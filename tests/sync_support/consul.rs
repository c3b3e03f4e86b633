//! Real Consul servers for tests, built from the Consul Go module by
//! `scripts/build-consul.sh` (cached by version): one single-node server per
//! datacenter on loopback ports, data in a tempdir (so a restart keeps it),
//! optional ACLs, and the KV calls the tests need. Killed on drop.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The management token of servers started with ACLs.
pub const ROOT_TOKEN: &str = "00000000-0000-4000-8000-0000000000aa";

pub struct Consul {
    child: Option<Child>,
    pub url: String,
    pub datacenter: String,
    ports: [u16; 4],
    acl: bool,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for Consul {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The consul binary, built once per machine by the repo's script.
pub(crate) fn consul_bin() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new("bash")
            .arg(root.join("scripts/build-consul.sh"))
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run scripts/build-consul.sh: {e}"))?;
        if !out.status.success() {
            return Err("scripts/build-consul.sh failed (see its output above)".into());
        }
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(PathBuf::from(dir).join("consul"))
    })
    .clone()
}

/// Starts a single-node Consul server of datacenter `dc` on loopback, its data
/// under `dir`, configured by `hcl`, logging to `log`: the plain and the TLS
/// test servers differ only in their `hcl`.
pub(crate) fn spawn_agent(
    bin: &Path,
    dc: &str,
    dir: &Path,
    hcl: &str,
    log: std::fs::File,
) -> Result<Child, String> {
    Command::new(bin)
        .args(["agent", "-server", "-bootstrap-expect", "1", "-node"])
        .arg(format!("node-{dc}"))
        .args(["-datacenter", dc, "-data-dir"])
        .arg(dir.join("data"))
        .args([
            "-bind",
            "127.0.0.1",
            "-client",
            "127.0.0.1",
            "-advertise",
            "127.0.0.1",
        ])
        .args(["-hcl", hcl, "-log-level", "warn"])
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))
}

impl Consul {
    /// A single-node server of datacenter `dc`; with `acl`, default-deny ACLs
    /// and [`ROOT_TOKEN`] as the management token.
    pub async fn start(dc: &str, acl: bool) -> Result<Consul, String> {
        let bin = consul_bin()?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let ports = [free_port(), free_port(), free_port(), free_port()];
        let mut c = Consul {
            child: None,
            url: format!("http://127.0.0.1:{}", ports[0]),
            datacenter: dc.to_string(),
            ports,
            acl,
            dir,
            http: reqwest::Client::new(),
        };
        c.spawn(&bin)?;
        c.wait_ready(Duration::from_secs(60)).await?;
        Ok(c)
    }

    fn spawn(&mut self, bin: &Path) -> Result<(), String> {
        let [http, lan, wan, server] = self.ports;
        let mut hcl = format!(
            "ports {{ http = {http}, dns = -1, grpc = -1, grpc_tls = -1, serf_lan = {lan}, serf_wan = {wan}, server = {server} }}\n\
             performance {{ raft_multiplier = 1 }}\n"
        );
        if self.acl {
            hcl.push_str(&format!(
                "acl {{ enabled = true, default_policy = \"deny\", tokens {{ initial_management = \"{ROOT_TOKEN}\" }} }}\n"
            ));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("consul.log"))
            .map_err(|e| e.to_string())?;
        self.child = Some(spawn_agent(
            bin,
            &self.datacenter,
            self.dir.path(),
            &hcl,
            log,
        )?);
        Ok(())
    }

    /// Waits until the server has a leader and answers a KV read.
    async fn wait_ready(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                let log =
                    std::fs::read_to_string(self.dir.path().join("consul.log")).unwrap_or_default();
                return Err(format!("consul exited ({status}): {log}"));
            }
            let leader = self
                .http
                .get(format!("{}/v1/status/leader", self.url))
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if let Ok(r) = leader
                && let Ok(text) = r.text().await
                && text.trim().trim_matches('"').contains(':')
            {
                let kv = self
                    .req(reqwest::Method::GET, "/v1/kv/?keys")
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await;
                if kv.is_ok_and(|r| r.status().is_success() || r.status() == 404) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "consul at {} has no leader within {within:?}",
                    self.url
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server (SIGKILL: its leader is gone at once) and starts it
    /// again on the same ports and data: what a leader crash looks like.
    pub async fn restart(&mut self) -> Result<(), String> {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn(&consul_bin()?)?;
        self.wait_ready(Duration::from_secs(60)).await
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.url));
        if self.acl {
            r.header("X-Consul-Token", ROOT_TOKEN)
        } else {
            r
        }
    }

    async fn ok(&self, r: reqwest::RequestBuilder) -> Value {
        let resp = r.send().await.expect("consul answers");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "consul {}: {status} {text}", self.url);
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn put(&self, key: &str, value: &[u8], flags: u64) {
        let r = self
            .req(reqwest::Method::PUT, &format!("/v1/kv/{key}?flags={flags}"))
            .body(value.to_vec());
        assert_eq!(self.ok(r).await, Value::Bool(true));
    }

    pub async fn delete(&self, key: &str) {
        self.ok(self.req(reqwest::Method::DELETE, &format!("/v1/kv/{key}")))
            .await;
    }

    pub async fn delete_tree(&self, prefix: &str) {
        self.ok(self.req(reqwest::Method::DELETE, &format!("/v1/kv/{prefix}?recurse")))
            .await;
    }

    /// Creates a session and writes `key` holding it (a lock).
    pub async fn lock(&self, key: &str, value: &[u8]) -> String {
        let s = self
            .ok(self
                .req(reqwest::Method::PUT, "/v1/session/create")
                .json(&json!({"Name": "test-lock", "TTL": "300s"})))
            .await;
        let id = s["ID"].as_str().expect("session id").to_string();
        let r = self
            .req(reqwest::Method::PUT, &format!("/v1/kv/{key}?acquire={id}"))
            .body(value.to_vec());
        assert_eq!(self.ok(r).await, Value::Bool(true));
        id
    }

    /// Every key under `prefix` with its value and flags (and session, if any).
    pub async fn dump(&self, prefix: &str) -> BTreeMap<String, (Vec<u8>, u64, Option<String>)> {
        let resp = self
            .req(reqwest::Method::GET, &format!("/v1/kv/{prefix}?recurse"))
            .send()
            .await
            .expect("consul answers");
        if resp.status() == 404 {
            return BTreeMap::new();
        }
        let entries: Value = resp.json().await.expect("kv json");
        entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let value = e["Value"]
                    .as_str()
                    .map(|v| base64::engine::general_purpose::STANDARD.decode(v).unwrap())
                    .unwrap_or_default();
                (
                    e["Key"].as_str().unwrap().to_string(),
                    (
                        value,
                        e["Flags"].as_u64().unwrap_or(0),
                        e["Session"].as_str().map(str::to_string),
                    ),
                )
            })
            .collect()
    }

    /// A token allowed to read (only) keys under `prefix`.
    pub async fn read_only_token(&self, prefix: &str) -> String {
        let policy = self
            .ok(self
                .req(reqwest::Method::PUT, "/v1/acl/policy")
                .json(&json!({
                    "Name": format!("read-{}", prefix.replace('/', "-")),
                    "Rules": format!("key_prefix \"{prefix}\" {{ policy = \"read\" }}"),
                })))
            .await;
        let token = self
            .ok(self
                .req(reqwest::Method::PUT, "/v1/acl/token")
                .json(&json!({
                    "Policies": [{"ID": policy["ID"]}],
                })))
            .await;
        token["SecretID"]
            .as_str()
            .expect("token secret")
            .to_string()
    }
}

/// Two servers, datacenters dc-a and dc-b, or None (skip) outside CI when
/// Consul cannot be built or started.
pub async fn pair(acl: bool) -> Option<(Consul, Consul)> {
    let r = async {
        Ok::<_, String>((
            Consul::start("dc-a", acl).await?,
            Consul::start("dc-b", acl).await?,
        ))
    }
    .await;
    match r {
        Ok(p) => Some(p),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("Consul is required under CI=true but could not start: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: Consul could not start: {e}");
            None
        }
    }
}

//! TLS test fixtures for `abshift sync`: a CA, a server certificate for 127.0.0.1 and a
//! client certificate made with `openssl` in a tempdir, and real etcd and Consul servers
//! serving only TLS on loopback (client certificates required), polled ready, killed on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::consul::{consul_bin, spawn_agent};

/// A throwaway PKI: `ca` signed the server and client certificates; `other_ca` signed nothing.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }
    pub fn other_ca(&self) -> PathBuf {
        self.path("other-ca.pem")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.path("server.pem")
    }
    pub fn server_key(&self) -> PathBuf {
        self.path("server.key")
    }
    pub fn client_cert(&self) -> PathBuf {
        self.path("client.pem")
    }
    pub fn client_key(&self) -> PathBuf {
        self.path("client.key")
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("pki file")
    }

    /// Generates everything with `openssl` (EC P-256: fast, and what etcd and Consul take).
    pub fn generate() -> Result<Pki, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let pki = Pki { dir };
        let ossl = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(pki.dir.path())
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run openssl: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "openssl {} failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        let key = |name: &str| {
            ossl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                name,
            ])
        };
        for (name, cn) in [("ca", "abshift test CA"), ("other-ca", "unrelated CA")] {
            key(&format!("{name}.key"))?;
            ossl(&[
                "req",
                "-x509",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                &format!("/CN={cn}"),
                "-days",
                "2",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-out",
                &format!("{name}.pem"),
            ])?;
        }
        // The server certificate also serves as etcd's and Consul's own client certificate.
        let exts = [
            (
                "server",
                "127.0.0.1",
                "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:server.dc-a.consul,DNS:server.dc-b.consul\n",
            ),
            ("client", "abshift", "extendedKeyUsage=clientAuth\n"),
        ];
        for (name, cn, ext) in exts {
            key(&format!("{name}.key"))?;
            std::fs::write(
                pki.path(&format!("{name}.ext")),
                format!(
                    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n{ext}"
                ),
            )
            .map_err(|e| e.to_string())?;
            ossl(&[
                "req",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                &format!("/CN={cn}"),
                "-out",
                &format!("{name}.csr"),
            ])?;
            ossl(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ])?;
        }
        Ok(pki)
    }

    /// An etcd client trusting the CA and presenting the client certificate.
    pub fn etcd_options(&self) -> etcd_client::ConnectOptions {
        etcd_client::ConnectOptions::new().with_tls(
            etcd_client::TlsOptions::new()
                .ca_certificate(etcd_client::Certificate::from_pem(self.read("ca.pem")))
                .identity(etcd_client::Identity::from_pem(
                    self.read("client.pem"),
                    self.read("client.key"),
                )),
        )
    }

    /// An HTTP client trusting only the CA and presenting the client certificate.
    pub fn http_client(&self) -> reqwest::Client {
        let mut id = self.read("client.pem");
        id.extend_from_slice(&self.read("client.key"));
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.read("ca.pem")).unwrap())
            .identity(reqwest::Identity::from_pem(&id).unwrap())
            .build()
            .unwrap()
    }
}

/// Under CI=true a fixture that cannot be made fails the test; elsewhere it is skipped.
pub fn required<T>(what: &str, r: Result<T, String>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{what} is required under CI=true but could not start: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: {what} could not start: {e}");
            None
        }
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn last_lines(path: &Path, n: usize) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<_> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A child process killed (by its own pid) and reaped on drop.
struct Owned(Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// etcd serving clients over https only, requiring a client certificate signed by the CA
/// (`--client-cert-auth`); peers stay on plain loopback.
pub struct TlsEtcd {
    _child: Owned,
    pub url: String,
    _dir: tempfile::TempDir,
}

/// Debian's etcd (3.4) from PATH, or the version `ABSHIFT_TEST_ETCD_VERSION` names, built
/// and cached by `scripts/build-etcd.sh`.
fn etcd_bin() -> Result<PathBuf, String> {
    if let Some(version) = std::env::var("ABSHIFT_TEST_ETCD_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
    {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new("bash")
            .arg(root.join("scripts/build-etcd.sh"))
            .env("ETCD_VERSION", &version)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run scripts/build-etcd.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/build-etcd.sh could not build etcd {version}"
            ));
        }
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        return Ok(PathBuf::from(dir).join("etcd"));
    }
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join("etcd"))
        .find(|p| p.is_file())
        .ok_or_else(|| "no `etcd` binary on PATH (apt-get install etcd-server)".to_string())
}

impl TlsEtcd {
    pub async fn start(pki: &Pki) -> Result<TlsEtcd, String> {
        let bin = etcd_bin()?;
        let mut last_err = String::new();
        // A port picked free can be taken before etcd binds it: try a few times.
        for _ in 0..3 {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let (cp, pp) = (free_port()?, free_port()?);
            let client = format!("https://127.0.0.1:{cp}");
            let peer = format!("http://127.0.0.1:{pp}");
            let log_path = dir.path().join("etcd.log");
            let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
            let child = Command::new(&bin)
                .args(["--name", "t", "--data-dir"])
                .arg(dir.path().join("data"))
                .args([
                    "--listen-client-urls",
                    &client,
                    "--advertise-client-urls",
                    &client,
                ])
                .args([
                    "--listen-peer-urls",
                    &peer,
                    "--initial-advertise-peer-urls",
                    &peer,
                ])
                .args(["--initial-cluster", &format!("t={peer}")])
                .args(["--initial-cluster-state", "new", "--log-level", "error"])
                .arg("--cert-file")
                .arg(pki.server_cert())
                .arg("--key-file")
                .arg(pki.server_key())
                .arg("--trusted-ca-file")
                .arg(pki.ca())
                .arg("--client-cert-auth")
                .stdout(Stdio::null())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
            let mut etcd = TlsEtcd {
                _child: Owned(child),
                url: client,
                _dir: dir,
            };
            match etcd.wait_healthy(pki, &log_path).await {
                Ok(()) => return Ok(etcd),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    async fn wait_healthy(&mut self, pki: &Pki, log: &Path) -> Result<(), String> {
        let within = Duration::from_secs(20);
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self._child.0.try_wait() {
                return Err(format!("etcd exited ({status}): {}", last_lines(log, 3)));
            }
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), async {
                let mut c = self.client_with(pki.etcd_options()).await?;
                c.status().await
            })
            .await
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "etcd at {} not healthy within {within:?}: {}",
                    self.url,
                    last_lines(log, 3)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn client_with(
        &self,
        opts: etcd_client::ConnectOptions,
    ) -> Result<etcd_client::Client, etcd_client::Error> {
        etcd_client::Client::connect([self.url.as_str()], Some(opts)).await
    }

    /// A client with the CA and the client certificate.
    pub async fn client(&self, pki: &Pki) -> etcd_client::Client {
        self.client_with(pki.etcd_options())
            .await
            .expect("connect to the TLS etcd")
    }
}

/// A single-node Consul server (built by `scripts/build-consul.sh`) with its HTTP API on
/// https only, requiring client certificates (`verify_incoming`).
pub struct TlsConsul {
    _child: Owned,
    pub url: String,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl TlsConsul {
    pub async fn start(dc: &str, pki: &Pki) -> Result<TlsConsul, String> {
        let bin = consul_bin()?;
        let mut last_err = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let [https, lan, wan, server] =
                [free_port()?, free_port()?, free_port()?, free_port()?];
            // Consul 1.14's `tls` stanza; internal RPC verifies too, so the server's own
            // RPC connections present the server certificate.
            let hcl = format!(
                "ports {{ http = -1, https = {https}, dns = -1, grpc = -1, grpc_tls = -1, serf_lan = {lan}, serf_wan = {wan}, server = {server} }}\n\
                 performance {{ raft_multiplier = 1 }}\n\
                 tls {{\n  defaults {{\n    ca_file = {ca:?}\n    cert_file = {cert:?}\n    key_file = {key:?}\n    verify_incoming = true\n    verify_outgoing = true\n  }}\n}}\n",
                ca = pki.ca().display().to_string(),
                cert = pki.server_cert().display().to_string(),
                key = pki.server_key().display().to_string(),
            );
            let log_path = dir.path().join("consul.log");
            let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
            let child = spawn_agent(&bin, dc, dir.path(), &hcl, log)?;
            let mut c = TlsConsul {
                _child: Owned(child),
                url: format!("https://127.0.0.1:{https}"),
                _dir: dir,
                http: pki.http_client(),
            };
            match c.wait_ready(&log_path).await {
                Ok(()) => return Ok(c),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// Waits until the server has a leader and answers a KV read, over TLS.
    async fn wait_ready(&mut self, log: &Path) -> Result<(), String> {
        let within = Duration::from_secs(60);
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self._child.0.try_wait() {
                return Err(format!("consul exited ({status}): {}", last_lines(log, 5)));
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
                    .http
                    .get(format!("{}/v1/kv/?keys", self.url))
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await;
                if kv.is_ok_and(|r| r.status().is_success() || r.status() == 404) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "consul at {} has no leader within {within:?}: {}",
                    self.url,
                    last_lines(log, 5)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn put(&self, key: &str, value: &str) {
        let r = self
            .http
            .put(format!("{}/v1/kv/{key}", self.url))
            .body(value.to_string())
            .send()
            .await
            .expect("consul answers over TLS");
        assert!(r.status().is_success(), "PUT {key}: {}", r.status());
    }

    /// The raw value of `key`, None when it does not exist.
    pub async fn get(&self, key: &str) -> Option<String> {
        let r = self
            .http
            .get(format!("{}/v1/kv/{key}?raw", self.url))
            .send()
            .await
            .expect("consul answers over TLS");
        if r.status() == 404 {
            return None;
        }
        assert!(r.status().is_success(), "GET {key}: {}", r.status());
        Some(r.text().await.unwrap())
    }
}

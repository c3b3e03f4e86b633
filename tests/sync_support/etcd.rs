//! Real etcd servers for tests: loopback-only client and peer URLs, data in a tempdir,
//! health polled against a deadline, killed on drop. Debian's etcd (3.4) by default;
//! `ABSHIFT_TEST_ETCD_VERSION=3.5.x` runs the same tests on that version, built by
//! `scripts/build-etcd.sh`. Under CI=true a missing or broken etcd fails the test;
//! elsewhere the test is skipped with the reason printed.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Etcd {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Etcd {
    async fn try_start() -> Result<Etcd, String> {
        let bin = which_etcd().ok_or(
            "no `etcd` binary (apt-get install etcd-server, or scripts/build-etcd.sh for ABSHIFT_TEST_ETCD_VERSION)",
        )?;
        let mut last_err = String::new();
        // A port picked free can be taken before etcd binds it: try a few times.
        for _ in 0..3 {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let (cp, pp) = (
                free_port().map_err(|e| e.to_string())?,
                free_port().map_err(|e| e.to_string())?,
            );
            let client = format!("http://127.0.0.1:{cp}");
            let peer = format!("http://127.0.0.1:{pp}");
            let log =
                std::fs::File::create(dir.path().join("etcd.log")).map_err(|e| e.to_string())?;
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
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("cannot run {bin}: {e}"))?;
            let mut etcd = Etcd {
                child,
                url: client,
                _dir: dir,
            };
            match etcd.wait_healthy(Duration::from_secs(20)).await {
                Ok(()) => return Ok(etcd),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    async fn wait_healthy(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log =
                    std::fs::read_to_string(self._dir.path().join("etcd.log")).unwrap_or_default();
                return Err(format!(
                    "etcd exited ({status}): {}",
                    log.lines().last().unwrap_or("")
                ));
            }
            let probe = async {
                let mut c = etcd_client::Client::connect([self.url.as_str()], None).await?;
                c.status().await
            };
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), probe).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "etcd at {} not healthy within {within:?}",
                    self.url
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn client(&self) -> etcd_client::Client {
        etcd_client::Client::connect([self.url.as_str()], None)
            .await
            .expect("connect to test etcd")
    }
}

/// The etcd binary: the version `ABSHIFT_TEST_ETCD_VERSION` names (built and
/// cached by the repo's script), else the one on PATH (Debian's 3.4).
fn which_etcd() -> Option<String> {
    if let Ok(version) = std::env::var("ABSHIFT_TEST_ETCD_VERSION") {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new("bash")
            .arg(root.join("scripts/build-etcd.sh"))
            .env("ETCD_VERSION", &version)
            .stderr(Stdio::inherit())
            .output()
            .ok()?;
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        return out.status.success().then(|| format!("{dir}/etcd"));
    }
    let path = std::env::var("PATH").ok()?;
    path.split(':')
        .map(|d| format!("{d}/etcd"))
        .find(|p| std::path::Path::new(p).is_file())
}

/// Two servers, A and B, or None (skip) outside CI when etcd cannot start.
pub async fn pair() -> Option<(Etcd, Etcd)> {
    let r = async { Ok::<_, String>((Etcd::try_start().await?, Etcd::try_start().await?)) }.await;
    match r {
        Ok(p) => Some(p),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("etcd is required under CI=true but could not start: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: etcd could not start: {e}");
            None
        }
    }
}

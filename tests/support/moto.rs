//! A real moto server for integration tests: started once per test binary on a
//! free loopback port through `scripts/moto.sh`, health-polled with a deadline,
//! reset before every test, and gone when the test process exits (the script
//! serves only while we hold its stdin). Under `CI=true` a moto that cannot
//! start fails the test; elsewhere the test is skipped with the reason.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";

struct Server {
    port: u16,
    _child: Child,
    /// Closing this pipe (process exit) stops moto.
    _stdin: ChildStdin,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

/// One test's exclusive use of the (freshly reset) moto server.
pub struct Moto {
    pub port: u16,
    _serial: MutexGuard<'static, ()>,
}

impl Moto {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/moto.sh")
}

fn start() -> Result<Server, String> {
    let mut last = String::new();
    // A port found free can be taken before moto binds it: try a few.
    for _ in 0..3 {
        let port = free_port().map_err(|e| format!("no free loopback port: {e}"))?;
        let mut child = Command::new("bash")
            .arg(script())
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                last = format!(
                    "moto exited ({status}): {}",
                    err.lines().last().unwrap_or("")
                );
                break;
            }
            if post(port, "/moto-api/reset").is_ok() {
                // Keep moto's request log from filling the pipe and blocking it.
                if let Some(mut e) = child.stderr.take() {
                    thread::spawn(move || {
                        let _ = std::io::copy(&mut e, &mut std::io::sink());
                    });
                }
                return Ok(Server {
                    port,
                    _child: child,
                    _stdin: stdin,
                });
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                last = "moto did not answer within 30s".into();
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    Err(last)
}

/// The moto server, reset; `None` (after printing why) when it cannot start
/// outside CI. Panics under `CI=true`.
pub fn moto() -> Option<Moto> {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    match SERVER.get_or_init(start) {
        Ok(server) => {
            post(server.port, "/moto-api/reset").expect("moto reset");
            Some(Moto {
                port: server.port,
                _serial: serial,
            })
        }
        Err(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("moto server cannot start under CI: {why}");
            }
            // Straight to the process's stderr: the harness captures eprintln!
            // of passing tests, and a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: moto server cannot start ({why}); pip install 'moto[server]'"
            );
            None
        }
    }
}

/// A bare HTTP POST to loopback; Ok when the answer is 200.
pub fn post(port: u16, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    if out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200") {
        Ok(out)
    } else {
        Err(out.lines().next().unwrap_or("no answer").to_string())
    }
}

/// A loopback HTTP proxy in front of moto that holds back every request whose
/// body contains `needle` until [`Gate::open`]: how a test freezes a real
/// `abshift` process at a chosen step, with no sleeps.
pub struct Gate {
    pub port: u16,
    state: Arc<(Mutex<GateState>, Condvar)>,
}

#[derive(Default)]
struct GateState {
    open: bool,
    held: usize,
}

impl Gate {
    pub fn new(upstream: u16, needle: &'static str) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind gate");
        let port = listener.local_addr().unwrap().port();
        let state: Arc<(Mutex<GateState>, Condvar)> = Arc::default();
        let st = state.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let st = st.clone();
                thread::spawn(move || {
                    let _ = serve(conn, upstream, needle, &st);
                });
            }
        });
        Gate { port, state }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Blocks until a request is being held, or the deadline passes.
    pub fn wait_held(&self, timeout: Duration) -> bool {
        let (m, cv) = &*self.state;
        let g = m.lock().unwrap();
        let (g, _) = cv
            .wait_timeout_while(g, timeout, |s| s.held == 0 && !s.open)
            .unwrap();
        g.held > 0
    }

    pub fn open(&self) {
        let (m, cv) = &*self.state;
        m.lock().unwrap().open = true;
        cv.notify_all();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.open();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request per client connection, forwarded on a fresh upstream
/// connection that moto closes after answering; the client's connection is
/// closed too, which it sees from the answer's `Connection: close`.
fn serve(
    mut client: TcpStream,
    upstream: u16,
    needle: &str,
    state: &(Mutex<GateState>, Condvar),
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    {
        let mut chunk = [0u8; 16384];
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let n = client.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let n = client.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let request: Vec<u8> = buf.drain(..head_end + len).collect();
        if find(&request, needle.as_bytes()).is_some() {
            let (m, cv) = state;
            let mut g = m.lock().unwrap();
            g.held += 1;
            cv.notify_all();
            while !g.open {
                g = cv.wait(g).unwrap();
            }
        }
        // Ask moto to close after answering, so the answer ends at EOF.
        let head = String::from_utf8_lossy(&request[..head_end]);
        let mut rewritten: String = head
            .split("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .filter(|l| !l.is_empty())
            .map(|l| format!("{l}\r\n"))
            .collect();
        rewritten.push_str("Connection: close\r\n\r\n");
        let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
        up.write_all(rewritten.as_bytes())?;
        up.write_all(&request[head_end..])?;
        let mut answer = Vec::new();
        up.read_to_end(&mut answer)?;
        client.write_all(&answer)?;
        client.shutdown(Shutdown::Both)?;
    }
    Ok(())
}

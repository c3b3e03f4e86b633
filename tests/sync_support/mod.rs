//! Shared helpers for the sync integration tests: real etcd and Consul servers
//! on loopback, the Consul KV emulator (for faults a real server cannot be made
//! to show), and running the abshift binary.
#![allow(dead_code)]

pub mod consul;
pub mod consul_emulator;
pub mod etcd;
pub mod tls;

use std::process::{Command, Stdio};

/// The built binary, with logs kept quiet unless a test wants them.
pub fn abshift() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_abshift"));
    c.env_remove("CONSUL_HTTP_TOKEN")
        .env_remove("CONSUL_HTTP_TOKEN_FILE")
        .stdin(Stdio::null());
    c
}

/// SIGTERM to a child we started (by its pid only).
pub fn terminate(child: &std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// Waits for a child with a deadline; kills it and panics if it overstays.
pub fn wait_exit(
    child: &mut std::process::Child,
    within: std::time::Duration,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("abshift did not exit within {within:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Output bytes as text, for messages and `contains` checks.
pub fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// Owned arguments from string slices.
pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Runs the binary to the end without blocking the async runtime.
pub async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || abshift().args(&args).output().expect("run abshift"))
        .await
        .unwrap()
}

/// SIGTERM to a following sync, which must then stop cleanly within `within`.
pub async fn stop(mut child: std::process::Child, within: std::time::Duration) {
    terminate(&child);
    let st = tokio::task::spawn_blocking(move || wait_exit(&mut child, within))
        .await
        .unwrap();
    assert!(st.success(), "clean stop expected, got {st}");
}

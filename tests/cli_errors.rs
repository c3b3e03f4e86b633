//! Bad input gets one clear line, a non-zero exit, and no plan file.

mod support;

use std::process::Output;

use support::Env;

fn one_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected a one-line error, got:\n{stderr}");
    lines[0].to_string()
}

/// Runs a plan that must fail, and checks that no plan file was written.
fn failing_plan(env: &Env, kubeconfig: Option<&std::path::Path>, args: &[&str]) -> (i32, String) {
    let out_path = env.dir.join(format!(
        "must-not-exist-{}.json",
        args.join("_").replace(['/', ' '], "")
    ));
    let mut full = vec!["migrate", "plan"];
    full.extend_from_slice(args);
    let p = out_path.to_str().unwrap().to_string();
    full.extend_from_slice(&["-o", &p]);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_abshift"));
    cmd.args(&full)
        .env("KUBECONFIG", kubeconfig.unwrap_or(&env.kubeconfig));
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(!out_path.exists(), "no plan file may be written on error");
    (out.status.code().unwrap(), one_line(&out))
}

/// A copy of the test kubeconfig with one substitution.
fn kubeconfig_with(env: &Env, name: &str, from: &str, to: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&env.kubeconfig).unwrap();
    assert!(text.contains(from), "kubeconfig has {from}");
    let path = env.dir.join(name);
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn unknown_context_names_it_and_lists_the_known_ones() {
    let Some(env) = support::env("errors") else {
        return;
    };
    let (code, line) = failing_plan(env, None, &["--from", "paas-x", "--to", "paas-b"]);
    assert_eq!(code, 1);
    assert!(
        line.contains("context 'paas-x' not found")
            && line.contains("paas-a, paas-a-readonly, paas-b"),
        "{line}"
    );
}

#[test]
fn unreachable_server_names_the_cluster_and_address() {
    let Some(env) = support::env("errors") else {
        return;
    };
    let text = std::fs::read_to_string(&env.kubeconfig).unwrap();
    let server_b = text
        .lines()
        .filter(|l| l.contains("server: https://127.0.0.1:"))
        .nth(1)
        .unwrap()
        .trim()
        .trim_start_matches("server: ")
        .to_string();
    let dead = format!("https://127.0.0.1:{}", free_port());
    let kc = kubeconfig_with(env, "dead-b.kubeconfig", &server_b, &dead);
    let (code, line) = failing_plan(env, Some(&kc), &["--from", "paas-a", "--to", "paas-b"]);
    assert_eq!(code, 1);
    assert!(
        line.contains("cannot reach cluster 'paas-b'") && line.contains(&dead),
        "{line}"
    );
}

#[test]
fn invalid_token_is_reported_as_401_with_the_context() {
    let Some(env) = support::env("errors") else {
        return;
    };
    let token = std::fs::read_to_string(env.dir.join("paas-a/admin.token")).unwrap();
    let kc = kubeconfig_with(
        env,
        "bad-token.kubeconfig",
        token.trim(),
        "0000000000000000deadbeef00000000",
    );
    let (code, line) = failing_plan(env, Some(&kc), &["--from", "paas-a", "--to", "paas-b"]);
    assert_eq!(code, 1);
    assert!(line.contains("'paas-a'") && line.contains("401"), "{line}");
}

#[test]
fn same_context_or_same_cluster_is_refused() {
    let Some(env) = support::env("errors") else {
        return;
    };
    let (code, line) = failing_plan(env, None, &["--from", "paas-a", "--to", "paas-a"]);
    assert_eq!(code, 2, "{line}");
    assert!(
        line.contains("same") || line.contains("both name"),
        "{line}"
    );
    // Two contexts, one cluster: caught by the fingerprint.
    let (code, line) = failing_plan(env, None, &["--from", "paas-a", "--to", "paas-a-readonly"]);
    assert_eq!(code, 1);
    assert!(line.contains("same cluster"), "{line}");
}

#[test]
fn missing_target_exits_2_and_a_missing_plan_is_named() {
    let Some(env) = support::env("errors") else {
        return;
    };
    let (code, line) = failing_plan(env, None, &["--from", "paas-a"]);
    assert_eq!(code, 2);
    assert!(line.contains("--to"), "{line}");
    let out = env.abshift(&["report", "nothing.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        one_line(&out).contains("cannot read plan nothing.json"),
        "{}",
        one_line(&out)
    );
}

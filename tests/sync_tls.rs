//! `abshift sync` against stores that speak only TLS and want client certificates, and
//! etcd with users and passwords: real etcd and Consul servers on loopback with a CA and
//! certificates this test makes. Wrong or missing material must fail in one clear line.

#[path = "sync_support/mod.rs"]
mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions};
use support::tls::{Pki, TlsConsul, TlsEtcd, required};
use support::{terminate, wait_exit};

/// The binary without any TLS or login setting from the caller's environment.
fn abshift() -> Command {
    let mut c = support::abshift();
    for var in [
        "ETCDCTL_CACERT",
        "ETCDCTL_CERT",
        "ETCDCTL_KEY",
        "ETCDCTL_USER",
        "ETCDCTL_PASSWORD",
        "ABSHIFT_TO_ETCD_PASSWORD",
        "CONSUL_CACERT",
        "CONSUL_CLIENT_CERT",
        "CONSUL_CLIENT_KEY",
        "RUST_LOG",
    ] {
        c.env_remove(var);
    }
    c
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run abshift"))
        .await
        .unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

fn p(path: std::path::PathBuf) -> String {
    path.display().to_string()
}

/// A failure with exit code `code` and one error line holding every one of `wanted`.
fn fails(o: &Output, code: i32, wanted: &[&str]) -> String {
    let err = text(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {err}",
        text(&o.stdout)
    );
    let lines: Vec<_> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {err}");
    for w in wanted {
        assert!(lines[0].contains(w), "{w:?} missing from: {err}");
    }
    err
}

fn succeeds(o: &Output) {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

async fn dump(c: &mut Client, prefix: &str) -> Vec<(String, String)> {
    c.get(prefix, Some(GetOptions::new().with_prefix()))
        .await
        .expect("range")
        .kvs()
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(kv.key()).into_owned(),
                String::from_utf8_lossy(kv.value()).into_owned(),
            )
        })
        .collect()
}

/// Two TLS etcd servers and their PKI, or None (skipped) outside CI.
async fn etcd_pair() -> Option<(Pki, TlsEtcd, TlsEtcd)> {
    let pki = required("openssl (test certificates)", Pki::generate())?;
    let servers =
        async { Ok::<_, String>((TlsEtcd::start(&pki).await?, TlsEtcd::start(&pki).await?)) }.await;
    let (a, b) = required("etcd with TLS", servers)?;
    Some((pki, a, b))
}

/// `--from-* --to-*` TLS flags for etcd with the right CA and the client certificate.
fn etcd_tls_flags(pki: &Pki, side: &str) -> Vec<String> {
    vec![
        format!("--{side}-cacert"),
        p(pki.ca()),
        format!("--{side}-cert"),
        p(pki.client_cert()),
        format!("--{side}-key"),
        p(pki.client_key()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_over_tls_with_a_ca_and_client_certificates() {
    let Some((pki, a, b)) = etcd_pair().await else {
        return;
    };
    let (mut ca, mut cb) = (a.client(&pki).await, b.client(&pki).await);
    for i in 0..50 {
        ca.put(format!("app/k{i:03}"), format!("v{i}"), None)
            .await
            .unwrap();
    }
    cb.put("app/stale", "only in B", None).await.unwrap();

    // The copy: A's TLS settings from the command line, B's too.
    let mut cmd = abshift();
    cmd.args([
        "sync", "etcd", "--from", &a.url, "--to", &b.url, "--prefix", "app",
    ])
    .args(etcd_tls_flags(&pki, "from"))
    .args(etcd_tls_flags(&pki, "to"));
    let o = run(cmd).await;
    succeeds(&o);
    assert!(
        text(&o.stdout).contains("50 key(s) written, 1 deleted"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(dump(&mut ca, "app/").await, dump(&mut cb, "app/").await);

    // Verify, with A's settings from etcdctl's environment variables.
    let mut cmd = abshift();
    cmd.args([
        "sync", "verify", "etcd", "--from", &a.url, "--to", &b.url, "--prefix", "app",
    ])
    .env("ETCDCTL_CACERT", pki.ca())
    .env("ETCDCTL_CERT", pki.client_cert())
    .env("ETCDCTL_KEY", pki.client_key())
    .args(etcd_tls_flags(&pki, "to"));
    let o = run(cmd).await;
    succeeds(&o);
    assert!(
        text(&o.stdout).contains("equal: 50 key(s)"),
        "{}",
        text(&o.stdout)
    );

    // Follow over TLS: the watch stream carries a put and a delete made in A.
    let dir = tempfile::tempdir().unwrap();
    let mut follow = abshift();
    follow
        .args(["sync", "etcd", "--follow", "--from", &a.url, "--to", &b.url])
        .args(["--prefix", "app", "--checkpoint"])
        .arg(dir.path().join("cp.json"))
        .args(etcd_tls_flags(&pki, "from"))
        .args(etcd_tls_flags(&pki, "to"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("follow.log")).unwrap());
    let mut child = follow.spawn().expect("spawn abshift");
    ca.put("app/new", "after the copy", None).await.unwrap();
    ca.delete("app/k000", None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while dump(&mut ca, "app/").await != dump(&mut cb, "app/").await {
        assert!(
            Instant::now() < deadline,
            "B did not follow A over TLS: {}",
            std::fs::read_to_string(dir.path().join("follow.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    terminate(&child);
    let st = tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(st.success(), "clean stop expected, got {st}");

    // No client certificate for A: A refuses the handshake; the message names A, its URL
    // and the flags to set.
    let mut cmd = abshift();
    cmd.args([
        "sync", "etcd", "--from", &a.url, "--to", &b.url, "--prefix", "app",
    ])
    .args(["--from-cacert", &p(pki.ca())])
    .args(etcd_tls_flags(&pki, "to"));
    let o = run(cmd).await;
    fails(
        &o,
        1,
        &["store A", &a.url, "client certificate", "--from-cert"],
    );

    // The wrong CA for A: A's certificate is not trusted.
    let mut cmd = abshift();
    cmd.args([
        "sync", "etcd", "--from", &a.url, "--to", &b.url, "--prefix", "app",
    ])
    .args(["--from-cacert", &p(pki.other_ca())])
    .args(["--from-cert", &p(pki.client_cert())])
    .args(["--from-key", &p(pki.client_key())])
    .args(etcd_tls_flags(&pki, "to"));
    let o = run(cmd).await;
    fails(
        &o,
        1,
        &["store A", &a.url, "UnknownIssuer", "--from-cacert"],
    );

    // No CA for B at all: the system's CAs do not know the test CA.
    let mut cmd = abshift();
    cmd.args([
        "sync", "etcd", "--from", &a.url, "--to", &b.url, "--prefix", "app",
    ])
    .args(etcd_tls_flags(&pki, "from"))
    .args(["--to-cert", &p(pki.client_cert())])
    .args(["--to-key", &p(pki.client_key())]);
    let o = run(cmd).await;
    fails(&o, 1, &["store B", &b.url, "UnknownIssuer", "--to-cacert"]);

    // Plain http:// to a TLS-only server: says what it may be.
    let plain = a.url.replace("https://", "http://");
    let mut cmd = abshift();
    cmd.args([
        "sync", "etcd", "--from", &plain, "--to", &b.url, "--prefix", "app",
    ])
    .args(etcd_tls_flags(&pki, "to"));
    let o = run(cmd).await;
    fails(&o, 1, &["store A", &plain, "https://"]);

    // Usage errors, before anything is contacted (exit 2).
    let mut cmd = abshift();
    cmd.args(["sync", "etcd", "--from", &plain, "--to", &b.url])
        .env("ETCDCTL_CACERT", pki.ca())
        .args(etcd_tls_flags(&pki, "to"));
    fails(&run(cmd).await, 2, &["ETCDCTL_CACERT", "https://"]);
    let mut cmd = abshift();
    cmd.args(["sync", "etcd", "--from", &a.url, "--to", &b.url])
        .args(["--from-cert", &p(pki.client_cert())]);
    fails(&run(cmd).await, 2, &["--from-cert", "--from-key"]);
    let mut cmd = abshift();
    cmd.args(["sync", "etcd", "--from", &a.url, "--to", &b.url])
        .args(["--from-cacert", &p(pki.client_key())]);
    let err = fails(
        &run(cmd).await,
        2,
        &["--from-cacert", "client.key", "no PEM certificate"],
    );
    assert!(
        !err.contains("PRIVATE KEY-----\n"),
        "key material in: {err}"
    );

    // Nothing above touched B but the copy and the follow.
    assert_eq!(dump(&mut ca, "app/").await, dump(&mut cb, "app/").await);
}

/// Turns on etcd's authentication with a `root` user holding `password`.
async fn enable_auth(c: &mut Client, password: &str) {
    c.user_add("root", password, None).await.expect("user add");
    c.role_add("root").await.expect("role add");
    c.user_grant_role("root", "root").await.expect("grant");
    c.auth_enable().await.expect("auth enable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_user_and_password_from_a_file_or_the_environment() {
    let Some((pki, a, b)) = etcd_pair().await else {
        return;
    };
    const A_PW: &str = "a-pw-Zq81x";
    const B_PW: &str = "b-pw-Lm02y";
    const WRONG_PW: &str = "wrong-pw-Hk55v";
    {
        let mut ca = a.client(&pki).await;
        for i in 0..20 {
            ca.put(format!("cfg/k{i:02}"), format!("v{i}"), None)
                .await
                .unwrap();
        }
        enable_auth(&mut ca, A_PW).await;
        enable_auth(&mut b.client(&pki).await, B_PW).await;
    }
    let login = |pw: &str| pki.etcd_options().with_user("root", pw);
    let mut ca = a.client_with(login(A_PW)).await.expect("root on A");
    let mut cb = b.client_with(login(B_PW)).await.expect("root on B");
    let dir = tempfile::tempdir().unwrap();
    let (a_file, wrong_file) = (dir.path().join("a.pw"), dir.path().join("wrong.pw"));
    std::fs::write(&a_file, format!("{A_PW}\n")).unwrap();
    std::fs::write(&wrong_file, format!("{WRONG_PW}\n")).unwrap();
    let no_secret = |o: &Output| {
        let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
        for pw in [A_PW, B_PW, WRONG_PW] {
            assert!(!all.contains(pw), "a password reached the output: {all}");
        }
    };
    let base = |cmd: &mut Command, what: &[&str]| {
        cmd.args(["sync"])
            .args(what)
            .args(["--from", &a.url, "--to", &b.url, "--prefix", "cfg"])
            .args(etcd_tls_flags(&pki, "from"))
            .args(etcd_tls_flags(&pki, "to"));
    };

    // A's password from a file, B's from the environment; at full log verbosity.
    let mut cmd = abshift();
    base(&mut cmd, &["-vvv", "etcd"]);
    cmd.args([
        "--from-user",
        "root",
        "--from-password-file",
        &p(a_file.clone()),
    ])
    .args(["--to-user", "root"])
    .env("ABSHIFT_TO_ETCD_PASSWORD", B_PW);
    let o = run(cmd).await;
    no_secret(&o);
    succeeds(&o);
    assert_eq!(dump(&mut ca, "cfg/").await, dump(&mut cb, "cfg/").await);
    assert_eq!(dump(&mut cb, "cfg/").await.len(), 20);

    // A's user and password from etcdctl's variables (verify).
    let mut cmd = abshift();
    base(&mut cmd, &["verify", "etcd"]);
    cmd.env("ETCDCTL_USER", "root")
        .env("ETCDCTL_PASSWORD", A_PW)
        .args(["--to-user", "root"])
        .env("ABSHIFT_TO_ETCD_PASSWORD", B_PW);
    let o = run(cmd).await;
    no_secret(&o);
    succeeds(&o);
    assert!(
        text(&o.stdout).contains("equal: 20 key(s)"),
        "{}",
        text(&o.stdout)
    );

    // A wrong password for A: refused, in one line naming A's URL and the flags.
    let mut cmd = abshift();
    base(&mut cmd, &["-vv", "etcd"]);
    cmd.args([
        "--from-user",
        "root",
        "--from-password-file",
        &p(wrong_file),
    ])
    .args(["--to-user", "root"])
    .env("ABSHIFT_TO_ETCD_PASSWORD", B_PW);
    let o = run(cmd).await;
    no_secret(&o);
    fails(
        &o,
        1,
        &["store A", &a.url, "refused the credentials", "--from-user"],
    );

    // A wrong password for B given as etcdctl's USER:PASSWORD form.
    let mut cmd = abshift();
    base(&mut cmd, &["etcd"]);
    cmd.args([
        "--from-user",
        "root",
        "--from-password-file",
        &p(a_file.clone()),
    ])
    .args(["--to-user", &format!("root:{WRONG_PW}")]);
    let o = run(cmd).await;
    no_secret(&o);
    fails(
        &o,
        1,
        &["store B", &b.url, "refused the credentials", "--to-user"],
    );

    // No user for B, which has authentication on: refused (the client certificate's
    // name is not a user there).
    let mut cmd = abshift();
    base(&mut cmd, &["etcd"]);
    cmd.args([
        "--from-user",
        "root",
        "--from-password-file",
        &p(a_file.clone()),
    ]);
    let o = run(cmd).await;
    no_secret(&o);
    fails(&o, 1, &[&b.url, "refused the credentials"]);

    // A user without a password anywhere: a usage error saying where one may come from.
    let mut cmd = abshift();
    base(&mut cmd, &["etcd"]);
    cmd.args(["--from-user", "root"]);
    fails(
        &run(cmd).await,
        2,
        &["--from-user", "--from-password-file", "ETCDCTL_PASSWORD"],
    );

    // B still holds exactly A's keys.
    assert_eq!(dump(&mut ca, "cfg/").await, dump(&mut cb, "cfg/").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_over_https_with_a_ca_and_client_certificates() {
    let Some(pki) = required("openssl (test certificates)", Pki::generate()) else {
        return;
    };
    let servers = async {
        Ok::<_, String>((
            TlsConsul::start("dc-a", &pki).await?,
            TlsConsul::start("dc-b", &pki).await?,
        ))
    }
    .await;
    let Some((a, b)) = required("Consul with TLS", servers) else {
        return;
    };
    for i in 0..20 {
        a.put(&format!("svc/k{i:02}"), &format!("v{i}")).await;
    }
    b.put("svc/stale", "only in B").await;
    let flags = |side: &str| {
        vec![
            format!("--{side}-ca-file"),
            p(pki.ca()),
            format!("--{side}-client-cert"),
            p(pki.client_cert()),
            format!("--{side}-client-key"),
            p(pki.client_key()),
        ]
    };

    let mut cmd = abshift();
    cmd.args([
        "sync", "consul", "--from", &a.url, "--to", &b.url, "--prefix", "svc",
    ])
    .args(flags("from"))
    .args(flags("to"));
    let o = run(cmd).await;
    succeeds(&o);
    assert!(
        text(&o.stdout).contains("20 key(s) written, 1 deleted"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(b.get("svc/k07").await.as_deref(), Some("v7"));
    assert_eq!(b.get("svc/stale").await, None);

    // Verify with A's settings from Consul's own environment variables.
    let mut cmd = abshift();
    cmd.args([
        "sync", "verify", "consul", "--from", &a.url, "--to", &b.url, "--prefix", "svc",
    ])
    .env("CONSUL_CACERT", pki.ca())
    .env("CONSUL_CLIENT_CERT", pki.client_cert())
    .env("CONSUL_CLIENT_KEY", pki.client_key())
    .args(flags("to"));
    let o = run(cmd).await;
    succeeds(&o);
    assert!(
        text(&o.stdout).contains("equal: 20 key(s)"),
        "{}",
        text(&o.stdout)
    );

    // Follow over https: blocking queries carry a change made in A.
    let dir = tempfile::tempdir().unwrap();
    let mut follow = abshift();
    follow
        .args(["sync", "consul", "--follow", "--wait", "2"])
        .args([
            "--from",
            &a.url,
            "--to",
            &b.url,
            "--prefix",
            "svc",
            "--checkpoint",
        ])
        .arg(dir.path().join("cp.json"))
        .args(flags("from"))
        .args(flags("to"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("follow.log")).unwrap());
    let mut child = follow.spawn().expect("spawn abshift");
    a.put("svc/new", "after the copy").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.get("svc/new").await.as_deref() != Some("after the copy") {
        assert!(
            Instant::now() < deadline,
            "B did not follow A over https: {}",
            std::fs::read_to_string(dir.path().join("follow.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    terminate(&child);
    let st = tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(st.success(), "clean stop expected, got {st}");

    // No client certificate for A: refused, one line naming A's URL and the flags.
    let mut cmd = abshift();
    cmd.args([
        "sync", "consul", "--from", &a.url, "--to", &b.url, "--prefix", "svc",
    ])
    .args(["--from-ca-file", &p(pki.ca())])
    .args(flags("to"));
    fails(
        &run(cmd).await,
        1,
        &[
            "store A",
            &a.url,
            "client certificate",
            "--from-client-cert",
        ],
    );

    // No client certificate for B.
    let mut cmd = abshift();
    cmd.args([
        "sync", "consul", "--from", &a.url, "--to", &b.url, "--prefix", "svc",
    ])
    .args(flags("from"))
    .args(["--to-ca-file", &p(pki.ca())]);
    fails(
        &run(cmd).await,
        1,
        &["store B", &b.url, "client certificate", "--to-client-cert"],
    );

    // The wrong CA for A.
    let mut cmd = abshift();
    cmd.args([
        "sync", "consul", "--from", &a.url, "--to", &b.url, "--prefix", "svc",
    ])
    .env("CONSUL_CACERT", pki.other_ca())
    .env("CONSUL_CLIENT_CERT", pki.client_cert())
    .env("CONSUL_CLIENT_KEY", pki.client_key())
    .args(flags("to"));
    fails(
        &run(cmd).await,
        1,
        &["store A", &a.url, "UnknownIssuer", "--from-ca-file"],
    );

    // A CA file for an http:// address is a usage error.
    let plain = a.url.replace("https://", "http://");
    let mut cmd = abshift();
    cmd.args(["sync", "consul", "--from", &plain, "--to", &b.url])
        .env("CONSUL_CACERT", pki.ca())
        .args(flags("to"));
    fails(&run(cmd).await, 2, &["CONSUL_CACERT", "https://"]);

    assert_eq!(b.get("svc/new").await.as_deref(), Some("after the copy"));
}

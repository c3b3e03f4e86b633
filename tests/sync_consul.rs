//! The Consul adapter against the Consul KV emulator: the emulator's own semantics first,
//! then copy, follow, suspect reads, an index going backwards, tokens and bad input.

#[path = "sync_support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use support::consul_emulator::Emulator;
use support::{abshift, args, run, stop, text};

fn follow(a: &Emulator, b: &Emulator, extra: &[&str], cp: &Path, log: &Path) -> Child {
    abshift()
        .args([
            "sync",
            "consul",
            "--follow",
            "--wait",
            "1",
            "--progress-interval",
            "1",
        ])
        .args(["--from", &a.url, "--to", &b.url, "--checkpoint"])
        .arg(cp)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawn abshift")
}

/// B's keys under `dest` equal A's under `src` (rewritten), values and flags included.
fn same(a: &Emulator, b: &Emulator, src: &str, dest: &str) -> bool {
    let da: Vec<_> = a
        .dump()
        .into_iter()
        .filter(|(k, _)| k.starts_with(src))
        .map(|(k, v)| (format!("{dest}{}", &k[src.len()..]), v))
        .collect();
    let db: Vec<_> = b
        .dump()
        .into_iter()
        .filter(|(k, _)| k.starts_with(dest))
        .collect();
    da == db
}

fn log_has(path: &Path, needle: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|l| l.contains(needle))
}

async fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_follows_consul_semantics() {
    let e = Emulator::start().await;
    let http = reqwest::Client::new();
    let idx = |r: &reqwest::Response| -> u64 {
        r.headers()["X-Consul-Index"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    // Empty recursive read: 404 that still carries an index.
    let r = http
        .get(format!("{}/v1/kv/app?recurse", e.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let i0 = idx(&r);
    assert!(i0 > 0);
    // Writes bump the index; an identical write does not.
    let put = |k: &str, v: &str| {
        http.put(format!("{}/v1/kv/{k}?flags=7", e.url))
            .body(v.to_string())
            .send()
    };
    assert_eq!(
        put("app/a", "1").await.unwrap().text().await.unwrap(),
        "true"
    );
    let i1 = e.index();
    put("app/a", "1").await.unwrap();
    assert_eq!(e.index(), i1);
    let r = http
        .get(format!("{}/v1/kv/app?recurse", e.url))
        .send()
        .await
        .unwrap();
    assert_eq!(idx(&r), i1);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body[0]["Flags"], 7);
    assert_eq!(body[0]["Value"], "MQ==");
    // Blocking query: returns when the prefix changes, with a higher index.
    let started = Instant::now();
    let blocked = http
        .get(format!("{}/v1/kv/app?recurse&index={i1}&wait=5s", e.url))
        .send();
    let writer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        e.delete("app/a");
    };
    let (r, _) = tokio::join!(blocked, writer);
    let r = r.unwrap();
    assert!(idx(&r) > i1 && started.elapsed() < Duration::from_secs(4));
    assert_eq!(r.status(), 404, "the delete leaves the prefix empty");
    // A blocking query with nothing happening answers after `wait` with the same index.
    let i2 = idx(&r);
    let started = Instant::now();
    let r = http
        .get(format!("{}/v1/kv/app?recurse&index={i2}&wait=300ms", e.url))
        .send()
        .await
        .unwrap();
    assert_eq!(idx(&r), i2);
    assert!(started.elapsed() >= Duration::from_millis(300));
    // cas=0 only creates.
    let r = http
        .put(format!("{}/v1/kv/app/b?cas=0", e.url))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
    let r = http
        .put(format!("{}/v1/kv/app/b?cas=0", e.url))
        .body("y")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "false");
    // Transactions: at most 64 operations, all or nothing.
    let ops: Vec<_> = (0..65)
        .map(|i| serde_json::json!({"KV": {"Verb": "set", "Key": format!("t/{i}"), "Value": "eA=="}}))
        .collect();
    let r = http
        .put(format!("{}/v1/txn", e.url))
        .json(&ops)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let ops = serde_json::json!([
        {"KV": {"Verb": "set", "Key": "t/1", "Value": "eA=="}},
        {"KV": {"Verb": "cas", "Key": "app/b", "Value": "eA==", "Index": 1}},
    ]);
    let r = http
        .put(format!("{}/v1/txn", e.url))
        .json(&ops)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(
        !e.dump().contains_key("t/1"),
        "a failed transaction must not apply anything"
    );
    // ACLs: no token or a wrong one is a 403; a narrow token gets a filtered listing.
    e.set_acl(&[("root", ""), ("narrow", "app/")]);
    let r = http
        .get(format!("{}/v1/kv/?recurse", e.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .get(format!("{}/v1/kv/?recurse", e.url))
        .header("X-Consul-Token", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    e.put("other/x", b"1", 0);
    let r = http
        .get(format!("{}/v1/kv/?recurse", e.url))
        .header("X-Consul-Token", "narrow")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["X-Consul-Results-Filtered-By-ACLs"], "true");
    // Snapshot restore: the index goes backwards.
    e.restore(&[("app/a", b"old", 0)], 5);
    let r = http
        .get(format!("{}/v1/kv/app?recurse", e.url))
        .header("X-Consul-Token", "root")
        .send()
        .await
        .unwrap();
    assert!(idx(&r) < i2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_with_flags_sessions_dest_prefix_and_verify() {
    let (a, b) = (Emulator::start().await, Emulator::start().await);
    for i in 0..150 {
        a.put(
            &format!("global/svc/{i:03}"),
            format!("value {i}").as_bytes(),
            i,
        );
    }
    a.put("global", b"root key", 3);
    a.put("global/empty", b"", 9);
    a.put("globalization/x", b"not in scope", 0);
    a.lock("global/leader", b"node-1", "4f3b-session");
    b.put("mirror/global/stale", b"old", 0);
    b.put("mirror/globalization/keep", b"not in scope", 0);

    let o = run(args(&[
        "sync",
        "consul",
        "--from",
        &a.url,
        "--to",
        &b.url,
        "--prefix",
        "global",
        "--dest-prefix",
        "mirror/global",
    ]))
    .await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("global/leader") && err.contains("session"),
        "{err}"
    );
    let db = b.dump();
    assert_eq!(db["mirror/global/svc/007"], (b"value 7".to_vec(), 7));
    assert_eq!(db["mirror/global"], (b"root key".to_vec(), 3));
    assert_eq!(db["mirror/global/empty"], (Vec::new(), 9));
    assert!(!db.contains_key("mirror/global/stale"));
    assert!(
        !db.contains_key("mirror/global/leader"),
        "a session key was copied"
    );
    assert!(!db.keys().any(|k| k.starts_with("mirror/globalization/x")));
    assert!(db.contains_key("mirror/globalization/keep"));
    let (largest, txns) = b.txn_stats();
    assert!(
        largest <= 64 && txns >= 3,
        "batched in txns of at most 64: {largest} {txns}"
    );

    let v = run(args(&[
        "sync",
        "verify",
        "consul",
        "--from",
        &a.url,
        "--to",
        &b.url,
        "--prefix",
        "global",
        "--dest-prefix",
        "mirror/global",
    ]))
    .await;
    assert!(v.status.success(), "{}{}", text(&v.stdout), text(&v.stderr));
    // A changed flag is a difference.
    b.put("mirror/global/svc/001", b"value 1", 99);
    let v = run(args(&[
        "sync",
        "verify",
        "consul",
        "--from",
        &a.url,
        "--to",
        &b.url,
        "--prefix",
        "global",
        "--dest-prefix",
        "mirror/global",
    ]))
    .await;
    assert_eq!(v.status.code(), Some(1));
    assert!(text(&v.stdout).contains("differs:   global/svc/001"));
    assert!(!text(&v.stdout).contains("value 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_holds_deletes_through_an_election_and_resumes_from_checkpoint() {
    let (a, b) = (Emulator::start().await, Emulator::start().await);
    for i in 0..40 {
        a.put(&format!("cfg/{i:02}"), b"v", 0);
    }
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp.json");
    let child = follow(
        &a,
        &b,
        &["--prefix", "cfg/"],
        &cp,
        &dir.path().join("1.log"),
    );
    wait_until("initial copy", Duration::from_secs(20), || {
        same(&a, &b, "cfg/", "cfg/")
    })
    .await;
    a.put("cfg/new", b"n", 5);
    a.delete("cfg/00");
    a.put("cfg/01", b"changed", 1);
    wait_until("follow", Duration::from_secs(10), || {
        same(&a, &b, "cfg/", "cfg/")
    })
    .await;

    // An election: reads come back empty and leaderless. Nothing may be deleted in B.
    let before = b.dump().len();
    a.set_election(true);
    a.put("cfg/02", b"during election", 0);
    // The sync has seen the empty leaderless listing once its consistent re-read failed.
    let log1 = dir.path().join("1.log");
    wait_until(
        "the suspect read to be held",
        Duration::from_secs(10),
        || log_has(&log1, "No cluster leader"),
    )
    .await;
    assert_eq!(
        b.dump().len(),
        before,
        "keys deleted in B on a suspect read"
    );
    a.set_election(false);
    wait_until("recovery", Duration::from_secs(20), || {
        same(&a, &b, "cfg/", "cfg/")
    })
    .await;
    stop(child, Duration::from_secs(15)).await;
    assert!(cp.exists());
    let log1 = std::fs::read_to_string(dir.path().join("1.log")).unwrap();
    assert!(
        log1.contains("No cluster leader"),
        "the suspect read was not noticed: {log1}"
    );

    // While stopped: a delete and a put in A. The restart resumes and sees both.
    a.delete("cfg/03");
    a.put("cfg/later", b"l", 0);
    let log = dir.path().join("2.log");
    let child = follow(&a, &b, &["--prefix", "cfg/"], &cp, &log);
    wait_until("resume", Duration::from_secs(20), || {
        same(&a, &b, "cfg/", "cfg/")
    })
    .await;
    stop(child, Duration::from_secs(15)).await;
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("resuming from checkpoint"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_going_backwards_forces_a_full_reconcile() {
    let (a, b) = (Emulator::start().await, Emulator::start().await);
    for i in 0..20 {
        a.put(&format!("k/{i:02}"), b"v", 0);
    }
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp.json");
    let log = dir.path().join("f.log");
    let child = follow(&a, &b, &["--prefix", "k/"], &cp, &log);
    wait_until("initial copy", Duration::from_secs(20), || {
        same(&a, &b, "k/", "k/")
    })
    .await;
    // Restore an older snapshot: fewer keys, other values, and a lower index that a
    // client trusting "ModifyIndex > last index" would never pick up.
    a.restore(
        &[("k/00", b"restored", 0), ("k/99", b"only in snapshot", 0)],
        3,
    );
    wait_until("reconcile", Duration::from_secs(20), || {
        same(&a, &b, "k/", "k/")
    })
    .await;
    stop(child, Duration::from_secs(15)).await;
    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        log.contains("went backwards") && log.contains("full re-copy"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_suspect_reads_and_bad_input() {
    let (a, b) = (Emulator::start().await, Emulator::start().await);
    a.put("app/x", b"1", 0);
    a.put("other/y", b"2", 0);
    b.put("app/keep", b"b's", 0);
    a.set_acl(&[("ta", ""), ("narrow", "app/")]);
    b.set_acl(&[("tb", "")]);
    let one_line = |o: &Output, code: i32, needle: &str| {
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
        assert!(err.contains(needle), "{err}");
    };
    // Wrong token for A: 403, one line, B untouched.
    let o = run(args(&[
        "sync",
        "consul",
        "--from",
        &a.url,
        "--to",
        &b.url,
        "--prefix",
        "app",
        "--from-token",
        "wrong",
        "--to-token",
        "tb",
    ]))
    .await;
    one_line(&o, 1, "refused the credentials");
    // Right tokens, but A's token cannot see everything under the prefix: refuse.
    let o = run(args(&[
        "sync",
        "consul",
        "--from",
        &a.url,
        "--to",
        &b.url,
        "--from-token",
        "narrow",
        "--to-token",
        "tb",
    ]))
    .await;
    one_line(&o, 1, "filtered by ACLs");
    // A prefix that matches nothing.
    let o = run(args(&[
        "sync",
        "consul",
        "--from",
        &a.url,
        "--to",
        &b.url,
        "--prefix",
        "nothing-here",
        "--from-token",
        "ta",
        "--to-token",
        "tb",
    ]))
    .await;
    one_line(&o, 1, "matches nothing");
    // Unreachable.
    let o = run(args(&[
        "sync",
        "consul",
        "--from",
        "http://127.0.0.1:9",
        "--to",
        &b.url,
        "--prefix",
        "app",
    ]))
    .await;
    one_line(&o, 1, "cannot reach http://127.0.0.1:9");
    assert_eq!(
        b.dump()["app/keep"].0,
        b"b's".to_vec(),
        "B changed on an error"
    );
    // Tokens from the environment; dry run lists, changes nothing.
    let o = tokio::task::spawn_blocking({
        let (au, bu) = (a.url.clone(), b.url.clone());
        move || {
            abshift()
                .args(["sync", "consul", "--dry-run", "--from", &au, "--to", &bu])
                .args(["--prefix", "app", "--to-token", "tb"])
                .env("CONSUL_HTTP_TOKEN", "ta")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("+ app/x") && out.contains("- app/keep"),
        "{out}"
    );
    assert!(b.dump().contains_key("app/keep"));
    // A corrupt checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp.json");
    std::fs::write(&cp, "garbage").unwrap();
    let o = run(args(&[
        "sync",
        "consul",
        "--follow",
        "--from",
        &a.url,
        "--to",
        &b.url,
        "--prefix",
        "app",
        "--from-token",
        "ta",
        "--to-token",
        "tb",
        "--checkpoint",
        cp.to_str().unwrap(),
    ]))
    .await;
    one_line(&o, 1, "is corrupt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_holds_an_emptied_prefix_unless_allow_empty() {
    let (a, b) = (Emulator::start().await, Emulator::start().await);
    for i in 0..10 {
        a.put(&format!("e/{i:02}"), b"v", 0);
    }
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp.json");
    let log = dir.path().join("1.log");
    let child = follow(&a, &b, &["--prefix", "e/"], &cp, &log);
    wait_until("initial copy", Duration::from_secs(20), || {
        same(&a, &b, "e/", "e/")
    })
    .await;
    // A's prefix emptied in one go, as a healthy leader confirms: the initial copy would
    // refuse this without --allow-empty, so following must not act on it either.
    let r = reqwest::Client::new()
        .delete(format!("{}/v1/kv/e/?recurse", a.url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert!(a.dump().keys().all(|k| !k.starts_with("e/")));
    wait_until(
        "the mass deletion to be held",
        Duration::from_secs(10),
        || log_has(&log, "held back"),
    )
    .await;
    assert!(log_has(&log, "--allow-empty"));
    assert_eq!(
        b.dump().keys().filter(|k| k.starts_with("e/")).count(),
        10,
        "B's prefix emptied without --allow-empty"
    );
    stop(child, Duration::from_secs(15)).await;

    // With --allow-empty the resumed sync passes the deletion on.
    let log = dir.path().join("2.log");
    let child = follow(&a, &b, &["--prefix", "e/", "--allow-empty"], &cp, &log);
    wait_until(
        "the prefix to be emptied in B",
        Duration::from_secs(20),
        || b.dump().keys().all(|k| !k.starts_with("e/")),
    )
    .await;
    stop(child, Duration::from_secs(15)).await;
    assert!(log_has(&log, "resuming from checkpoint"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_is_refused_when_the_excludes_change() {
    let (a, b) = (Emulator::start().await, Emulator::start().await);
    a.put("app/x", b"1", 0);
    a.put("app/secret/pw", b"2", 0);
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp.json");
    let cps = cp.to_str().unwrap();
    let base = [
        "sync", "consul", "--from", &a.url, "--to", &b.url, "--prefix", "app",
    ];
    let mut first = args(&base);
    first.extend(args(&["--exclude", "app/secret", "--checkpoint", cps]));
    let o = run(first).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!b.dump().contains_key("app/secret/pw"));
    // Resuming without the exclude would skip the reconcile and never copy app/secret/pw.
    let mut again = args(&base);
    again.extend(args(&["--follow", "--checkpoint", cps]));
    let o = run(again).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(
        err.contains("different sync (excludes") && err.contains("--exclude app/secret"),
        "{err}"
    );
    // The same set, given twice over, is the same sync.
    let mut same = args(&base);
    same.extend(args(&[
        "--exclude",
        "app/secret",
        "--exclude",
        "app/secret",
        "--checkpoint",
        cps,
    ]));
    let o = run(same).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
}

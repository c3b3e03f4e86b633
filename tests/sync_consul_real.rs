//! `abshift sync consul` against real Consul servers (built from the Consul Go
//! module, one datacenter each, on loopback): copy with flags and sessions,
//! follow through puts, deletes and deleted trees, checkpoint resume, a leader
//! crash in A during follow, and a read-only ACL token on A read from a file.
//! The emulator (`sync_consul.rs`) keeps the faults a real server cannot show.

#[path = "sync_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::consul::{Consul, ROOT_TOKEN, pair};
use support::{abshift, args, run, stop, text};

type Dump = BTreeMap<String, (Vec<u8>, u64, Option<String>)>;

fn follow(a: &Consul, b: &Consul, extra: &[&str], cp: &Path, log: &Path) -> Child {
    abshift()
        .args([
            "sync",
            "consul",
            "--follow",
            "--wait",
            "2",
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

/// Keys, values and flags (sessions are A's own: not compared).
fn content(d: Dump) -> BTreeMap<String, (Vec<u8>, u64)> {
    d.into_iter().map(|(k, (v, f, _))| (k, (v, f))).collect()
}

async fn same(a: &Consul, b: &Consul, prefix: &str) -> bool {
    content(a.dump(prefix).await) == content(b.dump(prefix).await)
}

async fn converge(what: &str, a: &Consul, b: &Consul, prefix: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while !same(a, b, prefix).await {
        assert!(
            Instant::now() < deadline,
            "{what}: B did not converge with A within {within:?}\nA: {:?}\nB: {:?}",
            a.dump(prefix).await.keys().collect::<Vec<_>>(),
            b.dump(prefix).await.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_with_flags_sessions_dest_prefix_and_verify() {
    let Some((a, b)) = pair(false).await else {
        return;
    };
    for i in 0..150u64 {
        a.put(
            &format!("global/svc/{i:03}"),
            format!("value {i}").as_bytes(),
            i,
        )
        .await;
    }
    a.put("global", b"root key", 3).await;
    a.put("global/empty", b"", 9).await;
    a.put("globalization/x", b"not in scope", 0).await;
    a.lock("global/leader", b"node-1").await;
    b.put("mirror/global/stale", b"old", 0).await;
    // B's own lock (B's session) inside the copied prefix: B's business, kept.
    b.lock("mirror/global/b-leader", b"node-b").await;
    b.put("mirror/globalization/keep", b"not in scope", 0).await;
    let scope = [
        "--from",
        &a.url,
        "--to",
        &b.url,
        "--prefix",
        "global",
        "--dest-prefix",
        "mirror/global",
    ];
    let mut copy = vec!["sync", "consul"];
    copy.extend_from_slice(&scope);
    let o = run(args(&copy)).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("global/leader") && err.contains("session"),
        "{err}"
    );
    let db = content(b.dump("").await);
    assert_eq!(db["mirror/global/svc/007"], (b"value 7".to_vec(), 7));
    assert_eq!(db["mirror/global"], (b"root key".to_vec(), 3));
    assert_eq!(db["mirror/global/empty"], (Vec::new(), 9));
    assert!(!db.contains_key("mirror/global/stale"));
    assert!(
        !db.contains_key("mirror/global/leader"),
        "a session key was copied"
    );
    let locked = b.dump("mirror/global/b-leader").await;
    assert!(
        locked["mirror/global/b-leader"].2.is_some(),
        "B's own lock was deleted or released: {locked:?}"
    );
    assert!(!db.contains_key("mirror/globalization/x"));
    assert!(db.contains_key("mirror/globalization/keep"));

    let mut verify = vec!["sync", "verify", "consul"];
    verify.extend_from_slice(&scope);
    let v = run(args(&verify)).await;
    assert!(v.status.success(), "{}{}", text(&v.stdout), text(&v.stderr));
    b.put("mirror/global/svc/001", b"value 1", 99).await;
    let v = run(args(&verify)).await;
    assert_eq!(v.status.code(), Some(1));
    assert!(text(&v.stdout).contains("differs:   global/svc/001"));
    assert!(!text(&v.stdout).contains("value 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_carries_puts_deletes_and_deleted_trees_and_resumes_from_checkpoint() {
    let Some((a, b)) = pair(false).await else {
        return;
    };
    for i in 0..40 {
        a.put(&format!("cfg/{i:02}"), b"v", 0).await;
        a.put(&format!("cfg/tree/{i:02}"), b"t", 1).await;
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
    converge("initial copy", &a, &b, "cfg/", Duration::from_secs(30)).await;
    a.put("cfg/new", b"n", 5).await;
    a.delete("cfg/00").await;
    a.put("cfg/01", b"changed", 1).await;
    a.delete_tree("cfg/tree/").await;
    converge("follow", &a, &b, "cfg/", Duration::from_secs(20)).await;
    assert!(
        b.dump("cfg/tree/").await.is_empty(),
        "a deleted tree stays deleted"
    );
    stop(child, Duration::from_secs(20)).await;
    assert!(cp.exists());

    // While stopped: a delete and a put in A. The restart resumes and sees both.
    a.delete("cfg/03").await;
    a.put("cfg/later", b"l", 0).await;
    let log = dir.path().join("2.log");
    let child = follow(&a, &b, &["--prefix", "cfg/"], &cp, &log);
    converge("resume", &a, &b, "cfg/", Duration::from_secs(30)).await;
    stop(child, Duration::from_secs(20)).await;
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("resuming from checkpoint"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_crash_in_a_during_follow_loses_and_resurrects_nothing() {
    let Some((mut a, b)) = pair(false).await else {
        return;
    };
    for i in 0..30 {
        a.put(&format!("app/{i:02}"), b"v", 0).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp.json");
    let child = follow(
        &a,
        &b,
        &["--prefix", "app/"],
        &cp,
        &dir.path().join("f.log"),
    );
    converge("initial copy", &a, &b, "app/", Duration::from_secs(30)).await;
    a.delete("app/00").await;
    a.put("app/01", b"before the crash", 0).await;
    converge("before the crash", &a, &b, "app/", Duration::from_secs(20)).await;

    // A's only server dies (SIGKILL) and comes back on the same data: a new
    // election; reads fail or come back leaderless meanwhile.
    let keys_before = b.dump("app/").await.len();
    a.restart().await.expect("A restarts");
    assert_eq!(
        b.dump("app/").await.len(),
        keys_before,
        "B lost keys during A's election"
    );
    a.put("app/after", b"after the crash", 0).await;
    a.delete("app/02").await;
    converge("after the crash", &a, &b, "app/", Duration::from_secs(60)).await;
    let db = content(b.dump("app/").await);
    assert!(
        !db.contains_key("app/00"),
        "a key deleted before the crash came back"
    );
    assert!(!db.contains_key("app/02"));
    assert_eq!(db["app/01"].0, b"before the crash");
    stop(child, Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_token_on_a_from_a_file_is_enough() {
    let Some((a, b)) = pair(true).await else {
        return;
    };
    a.put("team/x", b"1", 0).await;
    a.put("team/y", b"2", 7).await;
    a.put("other/z", b"3", 0).await;
    let ro = a.read_only_token("team/").await;
    // The token really is read-only.
    let denied = reqwest::Client::new()
        .put(format!("{}/v1/kv/team/x", a.url))
        .header("X-Consul-Token", &ro)
        .body("w")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let dir = tempfile::tempdir().unwrap();
    let (ro_file, root_file) = (dir.path().join("a.token"), dir.path().join("b.token"));
    std::fs::write(&ro_file, format!("{ro}\n")).unwrap();
    std::fs::write(&root_file, ROOT_TOKEN).unwrap();
    let o = abshift()
        .args([
            "sync", "consul", "--from", &a.url, "--to", &b.url, "--prefix", "team/",
        ])
        .args(["--to-token-file", root_file.to_str().unwrap()])
        .env("CONSUL_HTTP_TOKEN_FILE", &ro_file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(same(&a, &b, "team/").await);
    assert!(!text(&o.stderr).contains(&ro), "a token reached the log");
    // Without A's token a real Consul does not refuse: it hides the keys (the
    // emulator answered 403). abshift refuses to call that an empty prefix,
    // and says the token may be why.
    let o = abshift()
        .args([
            "sync", "consul", "--from", &a.url, "--to", &b.url, "--prefix", "team/",
        ])
        .args(["--to-token-file", root_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("matches nothing") && text(&o.stderr).contains("token"),
        "{}",
        text(&o.stderr)
    );
    assert!(b.dump("team/").await.len() == 2, "nothing was deleted in B");
    // An unreadable token file is a usage error naming it.
    let o = abshift()
        .args([
            "sync", "consul", "--from", &a.url, "--to", &b.url, "--prefix", "team/",
        ])
        .args(["--from-token-file", "/nonexistent/a.token"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("/nonexistent/a.token"));
}

//! `abshift sync etcd` against two real etcd servers: full copy, follow under concurrent
//! writes and deletes, restart from a checkpoint, compaction, bounded load, bad input.

#[path = "sync_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions};
use support::etcd::{self, Etcd};
use support::{abshift, terminate, wait_exit};

async fn dump(c: &mut Client, prefix: &str) -> BTreeMap<String, String> {
    let r = c
        .get(prefix, Some(GetOptions::new().with_prefix()))
        .await
        .expect("range");
    r.kvs()
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(kv.key()).into_owned(),
                String::from_utf8_lossy(kv.value()).into_owned(),
            )
        })
        .collect()
}

/// Polls until B's prefix equals A's (no sleeping as synchronisation: a deadline).
async fn wait_equal(a: &Etcd, b: &Etcd, prefix: &str, within: Duration) {
    let (mut ca, mut cb) = (a.client().await, b.client().await);
    let deadline = Instant::now() + within;
    loop {
        let (da, db) = (dump(&mut ca, prefix).await, dump(&mut cb, prefix).await);
        if da == db {
            return;
        }
        if Instant::now() > deadline {
            let lost: Vec<_> = da.keys().filter(|k| !db.contains_key(*k)).take(5).collect();
            let extra: Vec<_> = db.keys().filter(|k| !da.contains_key(*k)).take(5).collect();
            let differ = da
                .iter()
                .filter(|(k, v)| db.get(*k).is_some_and(|w| w != *v))
                .count();
            panic!(
                "B never caught up with A: {} vs {} keys, lost {lost:?}, resurrected {extra:?}, {differ} differ",
                da.len(),
                db.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn run(args: &[&str]) -> Output {
    abshift().args(args).output().expect("run abshift")
}

fn verify(a: &Etcd, b: &Etcd, prefix: &str) -> Output {
    run(&[
        "sync", "verify", "etcd", "--from", &a.url, "--to", &b.url, "--prefix", prefix,
    ])
}

fn follow(a: &Etcd, b: &Etcd, prefix: &str, cp: &Path, log: &Path) -> Child {
    abshift()
        .args(["sync", "etcd", "--follow", "--progress-interval", "1"])
        .args([
            "--from",
            &a.url,
            "--to",
            &b.url,
            "--prefix",
            prefix,
            "--checkpoint",
        ])
        .arg(cp)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawn abshift")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

async fn seed(c: &mut Client, prefix: &str, n: usize) {
    for i in 0..n {
        c.put(format!("{prefix}{i:05}"), format!("v{i}"), None)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_copy_dry_run_and_verify() {
    let Some((a, b)) = etcd::pair().await else {
        return;
    };
    let (mut ca, mut cb) = (a.client().await, b.client().await);
    // The etcd these tests ran on: Debian's 3.4, or the version asked for.
    let served = ca.status().await.unwrap().version().to_string();
    match std::env::var("ABSHIFT_TEST_ETCD_VERSION") {
        Ok(want) => assert_eq!(served, want),
        Err(_) => assert!(served.starts_with("3.4."), "{served}"),
    }
    seed(&mut ca, "app/", 300).await;
    ca.put("app", "the key itself", None).await.unwrap();
    ca.put("apps/not-mine", "x", None).await.unwrap();
    ca.put("app/secret/pw", "hunter2", None).await.unwrap();
    cb.put("app/stale", "old", None).await.unwrap();
    cb.put("app/00001", "wrong", None).await.unwrap();
    cb.put("other/keep", "b's own", None).await.unwrap();
    cb.put("app/secret/keep", "excluded in B too", None)
        .await
        .unwrap();

    let dry = run(&[
        "sync",
        "etcd",
        "--from",
        &a.url,
        "--to",
        &b.url,
        "--prefix",
        "app",
        "--exclude",
        "app/secret",
        "--dry-run",
    ]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let out = text(&dry.stdout);
    assert!(out.contains("- app/stale"), "{out}");
    assert!(out.contains("+ app/00001"), "{out}");
    assert!(out.contains("+ app\n"), "{out}");
    assert!(
        !out.contains("apps/not-mine") && !out.contains("app/secret"),
        "{out}"
    );
    assert!(
        out.contains("301 key(s) would be written, 1 deleted"),
        "{out}"
    );
    assert_eq!(
        dump(&mut cb, "app/stale").await.len(),
        1,
        "dry run changed B"
    );

    let once = run(&[
        "sync",
        "etcd",
        "--from",
        &a.url,
        "--to",
        &b.url,
        "--prefix",
        "app",
        "--exclude",
        "app/secret",
    ]);
    assert!(once.status.success(), "{}", text(&once.stderr));
    let db = dump(&mut cb, "").await;
    assert_eq!(db.get("app/00001").map(String::as_str), Some("v1"));
    assert_eq!(db.get("app").map(String::as_str), Some("the key itself"));
    assert!(!db.contains_key("app/stale") && !db.contains_key("apps/not-mine"));
    assert!(!db.contains_key("app/secret/pw"), "excluded key copied");
    assert!(db.contains_key("other/keep") && db.contains_key("app/secret/keep"));

    let v = run(&[
        "sync",
        "verify",
        "etcd",
        "--from",
        &a.url,
        "--to",
        &b.url,
        "--prefix",
        "app",
        "--exclude",
        "app/secret",
    ]);
    assert!(v.status.success(), "{}{}", text(&v.stdout), text(&v.stderr));
    assert!(text(&v.stdout).starts_with("equal: 301 key(s)"));

    // A difference is reported by key, never by value.
    cb.put("app/00002", "tampered", None).await.unwrap();
    cb.put("app/00003/extra", "extra", None).await.unwrap();
    let v = verify(&a, &b, "app/");
    let out = text(&v.stdout);
    assert!(out.contains("only in A: app/secret/pw"), "{out}");
    assert_eq!(v.status.code(), Some(1), "{out}");
    assert!(out.contains("differs:   app/00002"), "{out}");
    assert!(out.contains("only in B: app/00003/extra"), "{out}");
    assert!(
        !out.contains("tampered") && !out.contains("v2") && !out.contains("hunter2"),
        "{out}"
    );
}

#[allow(clippy::too_many_arguments)]
/// Writes and deletes at a steady pace over `keys` distinct keys; returns what A must hold.
async fn churn(
    url: String,
    prefix: &'static str,
    keys: usize,
    per_tick: usize,
    tick: Duration,
    for_how_long: Duration,
    seed: u64,
    mut model: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut c = Client::connect([url.as_str()], None).await.unwrap();
    let mut rng = seed;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let start = Instant::now();
    let mut n = 0u64;
    let mut interval = tokio::time::interval(tick);
    while start.elapsed() < for_how_long {
        interval.tick().await;
        let mut picked = std::collections::BTreeSet::new();
        while picked.len() < per_tick.min(keys) {
            picked.insert((next() % keys as u64) as usize);
        }
        let mut futs = Vec::new();
        for k in picked {
            n += 1;
            let key = format!("{prefix}{k:05}");
            let mut c = c.clone();
            if next() % 3 == 0 {
                model.remove(&key);
                futs.push(tokio::spawn(async move {
                    c.delete(key, None).await.map(|_| ())
                }));
            } else {
                let v = format!("w{n}");
                model.insert(key.clone(), v.clone());
                futs.push(tokio::spawn(async move {
                    c.put(key, v, None).await.map(|_| ())
                }));
            }
        }
        for f in futs {
            f.await.unwrap().unwrap();
        }
    }
    let _ = c.status().await;
    eprintln!(
        "churn on {prefix}: {n} writes in {:.1}s ({:.0}/s)",
        start.elapsed().as_secs_f64(),
        n as f64 / start.elapsed().as_secs_f64()
    );
    model
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_with_concurrent_writes_and_restart_from_checkpoint() {
    let Some((a, b)) = etcd::pair().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp.json");
    let mut ca = a.client().await;
    seed(&mut ca, "cfg/", 200).await;
    let seeded = ca.status().await.unwrap().header().unwrap().revision() as u64;

    let writer = tokio::spawn(churn(
        a.url.clone(),
        "cfg/",
        400,
        20,
        Duration::from_millis(50),
        Duration::from_secs(6),
        7,
        dump(&mut ca, "cfg/").await,
    ));
    let mut child = follow(&a, &b, "cfg/", &cp, &dir.path().join("1.log"));
    // Stop mid-stream: once the copy is done and the checkpoint has followed at least
    // FOLLOWED more revisions of A than the copy's own.
    const FOLLOWED: u64 = 100;
    let saved_index = || -> Option<u64> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cp).ok()?).ok()?;
        v["index"].as_u64()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let copied = loop {
        if let Some(i) = saved_index() {
            break i;
        }
        assert!(Instant::now() < deadline, "no checkpoint written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        copied >= seeded,
        "copy at {copied}, before the seed's {seeded}"
    );
    while saved_index().unwrap_or(0) < copied + FOLLOWED {
        assert!(
            Instant::now() < deadline,
            "the checkpoint did not follow A past {copied} + {FOLLOWED}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    terminate(&child);
    let st = tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(15)))
        .await
        .unwrap();
    assert!(st.success(), "clean stop expected, got {st}");
    assert!(saved_index().unwrap() >= copied + FOLLOWED);

    // Writes continue while nothing syncs; the restart must resume, not re-copy.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log2 = dir.path().join("2.log");
    let mut child = follow(&a, &b, "cfg/", &cp, &log2);
    let model = writer.await.unwrap();
    wait_equal(&a, &b, "cfg/", Duration::from_secs(30)).await;
    let da = dump(&mut ca, "cfg/").await;
    assert!(da == model, "A does not hold what the writer wrote");
    terminate(&child);
    let st = tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(15)))
        .await
        .unwrap();
    assert!(st.success());
    let log = std::fs::read_to_string(&log2).unwrap();
    assert!(log.contains("resuming from checkpoint"), "{log}");
    assert!(!log.contains("full re-copy"), "{log}");
    let v = verify(&a, &b, "cfg/");
    assert!(v.status.success(), "{}", text(&v.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_forces_a_full_recopy() {
    let Some((a, b)) = etcd::pair().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp.json");
    let mut ca = a.client().await;
    seed(&mut ca, "c/", 100).await;
    let once = run(&[
        "sync",
        "etcd",
        "--from",
        &a.url,
        "--to",
        &b.url,
        "--prefix",
        "c/",
        "--checkpoint",
        cp.to_str().unwrap(),
    ]);
    assert!(once.status.success(), "{}", text(&once.stderr));
    // While the sync is down A moves on and compacts away the checkpoint's revision.
    for i in 0..50 {
        ca.put(format!("c/{i:05}"), "changed", None).await.unwrap();
        ca.delete(format!("c/{:05}", 50 + i), None).await.unwrap();
    }
    ca.put("c/new", "n", None).await.unwrap();
    let rev = ca.status().await.unwrap().header().unwrap().revision();
    ca.compact(rev, None).await.unwrap();

    let log = dir.path().join("f.log");
    let mut child = follow(&a, &b, "c/", &cp, &log);
    wait_equal(&a, &b, "c/", Duration::from_secs(30)).await;
    terminate(&child);
    let st = tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(15)))
        .await
        .unwrap();
    assert!(st.success());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("compacted") && log.contains("full re-copy"),
        "{log}"
    );
    assert!(verify(&a, &b, "c/").status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_load_loses_and_resurrects_nothing() {
    let Some((a, b)) = etcd::pair().await else {
        return;
    };
    let secs: u64 = std::env::var("SYNC_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp.json");
    let mut ca = a.client().await;
    seed(&mut ca, "load/", 1000).await;
    let mut child = follow(&a, &b, "load/", &cp, &dir.path().join("l.log"));
    wait_equal(&a, &b, "load/", Duration::from_secs(30)).await;
    // 40 operations every 50 ms: 800 writes/s, a third of them deletes.
    let model = churn(
        a.url.clone(),
        "load/",
        2000,
        40,
        Duration::from_millis(50),
        Duration::from_secs(secs),
        42,
        dump(&mut ca, "load/").await,
    )
    .await;
    wait_equal(&a, &b, "load/", Duration::from_secs(30)).await;
    let mut cb = b.client().await;
    let db = dump(&mut cb, "load/").await;
    let lost = model.keys().filter(|k| !db.contains_key(*k)).count();
    let resurrected = db.keys().filter(|k| !model.contains_key(*k)).count();
    let stale = model
        .iter()
        .filter(|(k, v)| db.get(*k).is_some_and(|w| w != *v))
        .count();
    assert_eq!(
        (lost, resurrected, stale),
        (0, 0, 0),
        "lost, resurrected, stale keys in B"
    );
    terminate(&child);
    let st = tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(15)))
        .await
        .unwrap();
    assert!(st.success());
    assert!(verify(&a, &b, "load/").status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_one_line_errors_and_leaves_b_alone() {
    let Some((a, b)) = etcd::pair().await else {
        return;
    };
    let mut cb = b.client().await;
    cb.put("p/only-in-b", "keep me", None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let check = |o: Output, needle: &str| {
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
        assert!(err.contains(needle), "{err}");
    };
    // Unreachable source: nothing read, nothing deleted.
    check(
        run(&[
            "sync",
            "etcd",
            "--from",
            "http://127.0.0.1:9",
            "--to",
            &b.url,
            "--prefix",
            "p",
        ]),
        "cannot reach http://127.0.0.1:9",
    );
    // A prefix that matches nothing in A must not empty B.
    check(
        run(&[
            "sync", "etcd", "--from", &a.url, "--to", &b.url, "--prefix", "p",
        ]),
        "matches nothing",
    );
    // A corrupt checkpoint.
    let cp = dir.path().join("cp.json");
    std::fs::write(&cp, b"{\"format\": 1, \"index\": ").unwrap();
    let mut ca = a.client().await;
    ca.put("p/a", "1", None).await.unwrap();
    check(
        run(&[
            "sync",
            "etcd",
            "--follow",
            "--from",
            &a.url,
            "--to",
            &b.url,
            "--prefix",
            "p",
            "--checkpoint",
            cp.to_str().unwrap(),
        ]),
        "is corrupt",
    );
    assert_eq!(
        dump(&mut cb, "p/")
            .await
            .get("p/only-in-b")
            .map(String::as_str),
        Some("keep me")
    );
    // Same store and overlapping prefixes: a usage error (exit 2).
    let o = run(&[
        "sync", "etcd", "--from", &a.url, "--to", &a.url, "--prefix", "p",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_behind_the_checkpoint_forces_a_full_recopy() {
    let Some((a, b)) = etcd::pair().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp.json");
    let mut ca = a.client().await;
    seed(&mut ca, "r/", 20).await;
    let once = run(&[
        "sync",
        "etcd",
        "--from",
        &a.url,
        "--to",
        &b.url,
        "--prefix",
        "r/",
        "--checkpoint",
        cp.to_str().unwrap(),
    ]);
    assert!(once.status.success(), "{}", text(&once.stderr));
    // As if A had been restored from an older backup: the checkpoint is ahead of A.
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cp).unwrap()).unwrap();
    saved["index"] = serde_json::json!(saved["index"].as_u64().unwrap() + 1000);
    std::fs::write(&cp, serde_json::to_vec(&saved).unwrap()).unwrap();
    ca.put("r/after-restore", "x", None).await.unwrap();
    // Values near etcd's 1.5 MiB request limit go through the copy and the watch alike.
    ca.put("r/big-copied", vec![b'c'; 1_200_000], None)
        .await
        .unwrap();
    let log = dir.path().join("f.log");
    let mut child = follow(&a, &b, "r/", &cp, &log);
    wait_equal(&a, &b, "r/", Duration::from_secs(30)).await;
    ca.put("r/big-followed", vec![b'f'; 1_200_000], None)
        .await
        .unwrap();
    ca.put("r/small-after-big", "s", None).await.unwrap();
    wait_equal(&a, &b, "r/", Duration::from_secs(30)).await;
    terminate(&child);
    let st = tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(15)))
        .await
        .unwrap();
    assert!(st.success());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("behind the checkpoint") && log.contains("full re-copy"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_the_initial_copy_writes_no_checkpoint() {
    let Some((a, b)) = etcd::pair().await else {
        return;
    };
    let ca = a.client().await;
    // 60 MB in 60,000 keys: seconds of writing to B, far longer than a signal takes.
    const KEYS: i64 = 60_000;
    seed_fast(&ca, "big/", KEYS as usize, 1000).await;
    let mut cb = b.client().await;
    let copied = |c: &mut Client| {
        let mut c = c.clone();
        async move {
            c.get(
                "big/",
                Some(GetOptions::new().with_prefix().with_count_only()),
            )
            .await
            .unwrap()
            .count()
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp.json");
    let mut child = abshift()
        .args([
            "sync", "etcd", "--follow", "--from", &a.url, "--to", &b.url, "--prefix", "big/",
        ])
        .arg("--checkpoint")
        .arg(&cp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The signal lands once the copy is writing to B, not before and not after.
    let deadline = Instant::now() + Duration::from_secs(60);
    while copied(&mut cb).await == 0 {
        assert!(Instant::now() < deadline, "the copy never started writing");
        assert!(child.try_wait().unwrap().is_none(), "abshift exited early");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    terminate(&child);
    let st = tokio::task::spawn_blocking(move || {
        let st = wait_exit(&mut child, Duration::from_secs(30));
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        (st, err)
    })
    .await
    .unwrap();
    let (st, err) = st;
    assert_eq!(st.code(), Some(130), "{err}");
    assert!(!cp.exists(), "a checkpoint after an unfinished copy");
    assert!(
        err.contains("stopped before the initial copy finished"),
        "{err}"
    );
    let n = copied(&mut cb).await;
    assert!(
        0 < n && n < KEYS,
        "{n} of {KEYS} keys in B: the copy was not cut short"
    );
}

/// Range requests A has served (etcd's own counter): shows that a paged read is under way.
async fn ranges_served(url: &str) -> u64 {
    let body = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("etcd metrics")
        .text()
        .await
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix("etcd_mvcc_range_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("etcd_mvcc_range_total in /metrics") as u64
}

async fn seed_fast(c: &Client, prefix: &str, n: usize, value_len: usize) {
    let batches: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(128)
        .map(<[usize]>::to_vec)
        .collect();
    for batch in batches {
        let ops: Vec<etcd_client::TxnOp> = batch
            .iter()
            .map(|i| {
                etcd_client::TxnOp::put(format!("{prefix}{i:06}"), vec![b'v'; value_len], None)
            })
            .collect();
        c.clone()
            .txn(etcd_client::Txn::new().and_then(ops))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_during_the_paged_read_restarts_it() {
    let Some((a, b)) = etcd::pair().await else {
        return;
    };
    let mut ca = a.client().await;
    seed_fast(&ca, "pg/", 3000, 10).await;
    let before = ranges_served(&a.url).await;
    // One key per page: the read of A spans 3,000 requests at one pinned revision.
    let mut child = abshift()
        .args(["sync", "etcd", "--from", &a.url, "--to", &b.url])
        .args(["--prefix", "pg/"])
        .env("ABSHIFT_SYNC_ETCD_PAGE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while ranges_served(&a.url).await < before + 20 {
        assert!(
            Instant::now() < deadline,
            "the paged read of A never started"
        );
        assert!(child.try_wait().unwrap().is_none(), "abshift exited early");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Mid-read, A moves on and compacts away the revision the pages are pinned to.
    let rev = ca
        .put("elsewhere", "bump", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    ca.compact(rev, None).await.unwrap();
    let out = tokio::task::spawn_blocking(move || {
        let st = wait_exit(&mut child, Duration::from_secs(60));
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        (st, err)
    })
    .await
    .unwrap();
    let (st, err) = out;
    assert!(st.success(), "{st}: {err}");
    assert!(
        err.contains("compacted revision") && err.contains("reading it again at a fresh revision"),
        "{err}"
    );
    wait_equal(&a, &b, "pg/", Duration::from_secs(10)).await;
    assert!(verify(&a, &b, "pg/").status.success());
}

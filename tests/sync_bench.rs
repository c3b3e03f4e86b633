//! The sync benchmark (run by scripts/bench-sync.sh, ignored in normal test runs):
//! initial copy of N keys etcd→etcd by abshift and by `etcdctl make-mirror` in the same
//! run, then follow lag p50/p99 under a steady write load. Needs BENCH_ETCD_A/B.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use etcd_client::{Client, DeleteOptions, EventType, GetOptions, Txn, TxnOp, WatchOptions};
use futures::StreamExt;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

async fn count(c: &mut Client, prefix: &str) -> i64 {
    c.get(
        prefix,
        Some(GetOptions::new().with_prefix().with_count_only()),
    )
    .await
    .unwrap()
    .count()
}

async fn clear(c: &mut Client, prefix: &str) {
    c.delete(prefix, Some(DeleteOptions::new().with_prefix()))
        .await
        .unwrap();
}

async fn load(c: &Client, prefix: &str, n: usize, value_len: usize) {
    let value = vec![b'v'; value_len];
    let batches: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(128)
        .map(<[usize]>::to_vec)
        .collect();
    futures::stream::iter(batches)
        .map(|b| {
            let mut c = c.clone();
            let value = value.clone();
            async move {
                let ops: Vec<TxnOp> = b
                    .iter()
                    .map(|i| TxnOp::put(format!("{prefix}{i:07}"), value.clone(), None))
                    .collect();
                c.txn(Txn::new().and_then(ops)).await.unwrap();
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
}

async fn wait_count(c: &mut Client, prefix: &str, n: i64, within: Duration) -> Option<Instant> {
    let deadline = Instant::now() + within;
    loop {
        if count(c, prefix).await >= n {
            return Some(Instant::now());
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Records when each stamped write (value "i:nanos") shows up in this store's watch.
async fn observe(c: &Client, prefix: &str, total: u64) -> tokio::task::JoinHandle<Vec<u128>> {
    let mut wc = c.watch_client();
    let mut stream = wc
        .watch(prefix, Some(WatchOptions::new().with_prefix()))
        .await
        .unwrap();
    tokio::spawn(async move {
        let mut seen = vec![0u128; total as usize];
        let mut n = 0u64;
        while n < total {
            let Ok(Some(resp)) = stream.message().await else {
                break;
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            for ev in resp.events() {
                if ev.event_type() != EventType::Put {
                    continue;
                }
                let v = std::str::from_utf8(ev.kv().unwrap().value()).unwrap_or("");
                if let Some((i, _)) = v.split_once(':')
                    && let Ok(i) = i.parse::<usize>()
                {
                    seen[i] = now;
                    n += 1;
                }
            }
        }
        seen
    })
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run scripts/bench-sync.sh"]
async fn bench_sync_etcd() {
    let (a_url, b_url) = (env("BENCH_ETCD_A", ""), env("BENCH_ETCD_B", ""));
    assert!(
        !a_url.is_empty() && !b_url.is_empty(),
        "set BENCH_ETCD_A and BENCH_ETCD_B"
    );
    let n: usize = env("BENCH_KEYS", "100000").parse().unwrap();
    let value_len: usize = env("BENCH_VALUE_BYTES", "100").parse().unwrap();
    let rate: u64 = env("BENCH_LAG_RATE", "500").parse().unwrap();
    let lag_secs: u64 = env("BENCH_LAG_SECS", "20").parse().unwrap();
    let etcdctl = env("BENCH_ETCDCTL", "etcdctl");
    let mut a = Client::connect([a_url.as_str()], None).await.unwrap();
    let mut b = Client::connect([b_url.as_str()], None).await.unwrap();
    let prefix = "bench/";

    clear(&mut a, prefix).await;
    clear(&mut b, prefix).await;
    let t = Instant::now();
    load(&a, prefix, n, value_len).await;
    eprintln!(
        "loaded {n} keys of {value_len} bytes into A in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // abshift: one full copy.
    let t = Instant::now();
    let st = Command::new(env!("CARGO_BIN_EXE_abshift"))
        .args([
            "-q", "sync", "etcd", "--once", "--from", &a_url, "--to", &b_url, "--prefix", prefix,
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let ours = t.elapsed();
    assert!(st.success());
    assert_eq!(count(&mut b, prefix).await, n as i64);
    let ours_rate = n as f64 / ours.as_secs_f64();
    eprintln!(
        "abshift sync etcd --once: {n} keys in {:.2}s = {ours_rate:.0} keys/s",
        ours.as_secs_f64()
    );

    // etcdctl make-mirror into the emptied prefix; it never exits, so time until B holds N.
    clear(&mut b, prefix).await;
    let t = Instant::now();
    let skip_mirror = std::env::var("BENCH_SKIP_MIRROR").is_ok();
    let mut mm = Command::new(if skip_mirror { "true" } else { &etcdctl })
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &a_url,
            "make-mirror",
            "--prefix",
            prefix,
            &b_url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let done = if skip_mirror {
        None
    } else {
        wait_count(&mut b, prefix, n as i64, Duration::from_secs(600)).await
    };
    let _ = mm.kill();
    let _ = mm.wait();
    let theirs = done.map(|d| d - t);
    let theirs_rate = theirs.map(|d| n as f64 / d.as_secs_f64());
    eprintln!("etcdctl make-mirror: {theirs:?} = {theirs_rate:?} keys/s");

    // The copies above left 400,000 revisions of history in each store: compact and
    // defragment so the lag phase measures the sync, not a bloated backend.
    for c in [&mut a, &mut b] {
        let rev = c.status().await.unwrap().header().unwrap().revision();
        c.compact(
            rev,
            Some(etcd_client::CompactionOptions::new().with_physical()),
        )
        .await
        .unwrap();
        c.defragment().await.unwrap();
    }

    // Follow lag: stamp each write with its wall-clock time, watch B for it.
    let lag_prefix = "lag/";
    clear(&mut a, lag_prefix).await;
    clear(&mut b, lag_prefix).await;
    a.put(format!("{lag_prefix}seed"), "0", None).await.unwrap();
    let mut follower = Command::new(env!("CARGO_BIN_EXE_abshift"))
        .args([
            "-q", "sync", "etcd", "--follow", "--from", &a_url, "--to", &b_url, "--prefix",
            lag_prefix,
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_count(&mut b, lag_prefix, 1, Duration::from_secs(30))
        .await
        .expect("follower started");
    // Two observers: when each write shows up in A (committed there) and in B.
    let total = rate * lag_secs;
    let in_a = observe(&a, lag_prefix, total).await;
    let in_b = observe(&b, lag_prefix, total).await;
    let writer = a.clone();
    let mut sent = vec![0u128; total as usize];
    let mut interval = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..total {
        interval.tick().await;
        let mut c = writer.clone();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        sent[i as usize] = now;
        tokio::spawn(async move {
            c.put(format!("lag/{:04}", i % 2000), format!("{i}:{now}"), None)
                .await
                .unwrap();
        });
    }
    let seen_a = tokio::time::timeout(Duration::from_secs(60), in_a)
        .await
        .expect("all writes seen in A")
        .unwrap();
    let seen_b = tokio::time::timeout(Duration::from_secs(60), in_b)
        .await
        .expect("all writes reached B")
        .unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &follower.id().to_string()])
        .status();
    let _ = follower.wait();
    let ns = |x: u128| Duration::from_nanos(x as u64);
    let mut e2e: Vec<_> = (0..total as usize)
        .map(|i| ns(seen_b[i].saturating_sub(sent[i])))
        .collect();
    let mut sync: Vec<_> = (0..total as usize)
        .map(|i| ns(seen_b[i].saturating_sub(seen_a[i])))
        .collect();
    let mut commit: Vec<_> = (0..total as usize)
        .map(|i| ns(seen_a[i].saturating_sub(sent[i])))
        .collect();
    e2e.sort();
    sync.sort();
    commit.sort();
    let row = |name: &str, v: &[Duration]| {
        format!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms |",
            pct(v, 0.5).as_secs_f64() * 1e3,
            pct(v, 0.99).as_secs_f64() * 1e3,
            v.last().unwrap().as_secs_f64() * 1e3
        )
    };
    eprintln!(
        "{}\n{}\n{}",
        row("sync", &sync),
        row("e2e", &e2e),
        row("commit in A", &commit)
    );
    let lags_len = total;
    let mm_line = match (theirs, theirs_rate) {
        (Some(d), Some(r)) => format!(
            "| etcdctl make-mirror (etcd 3.4, same run) | {n} | {:.2} s | {r:.0} keys/s |",
            d.as_secs_f64()
        ),
        _ if skip_mirror => "| etcdctl make-mirror | skipped (BENCH_SKIP_MIRROR) | | |".to_string(),
        _ => "| etcdctl make-mirror | did not finish within 600 s | | |".to_string(),
    };
    println!(
        "RESULT\n| Initial copy etcd→etcd | keys | time | rate |\n|---|---|---|---|\n| abshift sync etcd --once | {n} | {:.2} s | {ours_rate:.0} keys/s |\n{mm_line}\n\n| Follow lag ({rate} writes/s for {lag_secs} s, {lags_len} writes) | p50 | p99 | max |\n|---|---|---|---|\n{}\n{}\n{}\nEND",
        ours.as_secs_f64(),
        row("sync lag: committed in A → visible in B", &sync),
        row("end to end: put sent to A → visible in B", &e2e),
        row("(for scale) put sent to A → committed in A", &commit),
    );
    clear(&mut a, prefix).await;
    clear(&mut b, prefix).await;
}

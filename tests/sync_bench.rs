//! The sync benchmarks (run by scripts/bench-sync.sh, ignored in normal test runs):
//! - `bench_sync_etcd`: initial copy of N keys etcd→etcd by abshift and by `etcdctl
//!   make-mirror` in the same run, then follow lag p50/p99 under a steady write load.
//!   Needs BENCH_ETCD_A/B.
//! - `bench_sync_consul`: the same against two real Consul datacenters (WAN-joined), abshift
//!   against consul-replicate. Needs BENCH_CONSUL_A/B and BENCH_CONSUL_REPLICATE.

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

// ---------------------------------------------------------------------------------------
// Consul: abshift against consul-replicate, two real datacenters (dc-a → dc-b, WAN-joined).

use base64::Engine;
use serde_json::{Value, json};

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[derive(Clone)]
struct Kv {
    http: reqwest::Client,
    url: String,
}

impl Kv {
    fn new(url: &str) -> Kv {
        Kv {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap(),
            url: url.trim_end_matches('/').to_string(),
        }
    }

    /// Number of keys under `prefix` (a raw string prefix, as Consul reads it).
    async fn count(&self, prefix: &str) -> usize {
        let r = self
            .http
            .get(format!("{}/v1/kv/{prefix}?keys", self.url))
            .send()
            .await
            .unwrap();
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return 0;
        }
        let keys: Vec<String> = r.error_for_status().unwrap().json().await.unwrap();
        keys.len()
    }

    async fn exists(&self, key: &str) -> bool {
        let r = self
            .http
            .get(format!("{}/v1/kv/{key}?raw", self.url))
            .send()
            .await
            .unwrap();
        r.status().is_success()
    }

    async fn clear(&self, prefix: &str) {
        self.http
            .delete(format!("{}/v1/kv/{prefix}?recurse", self.url))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }

    async fn put(&self, key: &str, value: Vec<u8>) {
        let r = self
            .http
            .put(format!("{}/v1/kv/{key}", self.url))
            .body(value)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        assert_eq!(r.text().await.unwrap().trim(), "true");
    }

    /// One transaction of `set` operations (at most 64).
    async fn set_all(&self, pairs: &[(String, Vec<u8>)]) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let ops: Vec<Value> = pairs
            .iter()
            .map(|(k, v)| json!({"KV": {"Verb": "set", "Key": k, "Value": b64.encode(v)}}))
            .collect();
        self.http
            .put(format!("{}/v1/txn", self.url))
            .json(&ops)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }

    /// `?recurse` read of a prefix, blocking while its index is `index` (0: no blocking).
    /// Returns the new index and (key, value) pairs.
    async fn list(&self, prefix: &str, index: u64) -> (u64, Vec<(String, Vec<u8>)>) {
        let r = self
            .http
            .get(format!(
                "{}/v1/kv/{prefix}?recurse&index={index}&wait=2s",
                self.url
            ))
            .send()
            .await
            .unwrap();
        let idx = r
            .headers()
            .get("X-Consul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(index);
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return (idx, Vec::new());
        }
        let entries: Vec<Value> = r.error_for_status().unwrap().json().await.unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let pairs = entries
            .iter()
            .map(|e| {
                let v = e["Value"]
                    .as_str()
                    .map(|v| b64.decode(v).unwrap())
                    .unwrap_or_default();
                (e["Key"].as_str().unwrap().to_string(), v)
            })
            .collect();
        (idx, pairs)
    }
}

async fn consul_load(kv: &Kv, prefix: &str, n: usize, value_len: usize) {
    let value = vec![b'v'; value_len];
    let batches: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(64)
        .map(<[usize]>::to_vec)
        .collect();
    futures::stream::iter(batches)
        .map(|b| {
            let kv = kv.clone();
            let value = value.clone();
            async move {
                let pairs: Vec<(String, Vec<u8>)> = b
                    .iter()
                    .map(|i| (format!("{prefix}{i:07}"), value.clone()))
                    .collect();
                kv.set_all(&pairs).await;
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
}

async fn consul_wait_count(kv: &Kv, prefix: &str, n: usize, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if kv.count(prefix).await >= n {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Records when each stamped write (value "i:nanos") becomes visible in B, with blocking
/// queries on the prefix (each returns as soon as B's prefix changes). Keys are reused
/// (`i % slots`): a write overwritten in B before it was seen counts as seen with the value
/// that replaced it. Stops when all `total` are seen or at `until`.
fn consul_observe(
    kv: Kv,
    prefix: &'static str,
    total: usize,
    slots: usize,
    until: Instant,
) -> tokio::task::JoinHandle<Vec<u128>> {
    tokio::spawn(async move {
        let mut seen = vec![0u128; total];
        let mut n = 0usize;
        let (mut index, _) = kv.list(prefix, 0).await;
        while n < total && Instant::now() < until {
            let (idx, pairs) = kv.list(prefix, index).await;
            let now = now_ns();
            // An index going backwards (not expected here) restarts blocking from scratch.
            index = if idx < index { 0 } else { idx };
            for (_, v) in pairs {
                let v = String::from_utf8_lossy(&v);
                let Some(i) = v.split_once(':').and_then(|(i, _)| i.parse::<usize>().ok()) else {
                    continue;
                };
                // This write and every earlier one on the same key not seen yet.
                let mut j = i as isize;
                while j >= 0 && seen[j as usize] == 0 {
                    seen[j as usize] = now;
                    n += 1;
                    j -= slots as isize;
                }
            }
        }
        seen
    })
}

struct Lag {
    /// PUT to A returned → value visible in B.
    sync: Vec<Duration>,
    /// PUT sent to A → value visible in B.
    e2e: Vec<Duration>,
    /// PUT sent → PUT returned (A's own commit, for scale).
    commit: Vec<Duration>,
    unseen: usize,
    total: usize,
}

/// Follow lag of one replicator (started by `spawn` once A's and B's lag prefixes are set
/// up, stopped with signal `stop`): `rate` single-key PUTs a second into A for `secs`
/// seconds over `slots` keys.
async fn consul_lag(
    a: &Kv,
    b: &Kv,
    rate: u64,
    secs: u64,
    slots: usize,
    stop: &str,
    spawn: impl FnOnce() -> std::process::Child,
) -> Lag {
    const LAG: &str = "lag/";
    a.clear(LAG).await;
    b.clear(LAG).await;
    b.clear("service/consul-replicate/").await;
    let seed: Vec<(String, Vec<u8>)> = (0..slots)
        .map(|k| (format!("{LAG}{k:04}"), b"seed".to_vec()))
        .collect();
    for c in seed.chunks(64) {
        a.set_all(c).await;
    }
    let mut follower = spawn();
    assert!(
        consul_wait_count(b, LAG, slots, Duration::from_secs(60)).await,
        "the follower did not copy the {slots} seed keys within 60 s"
    );
    let total = (rate * secs) as usize;
    let until = Instant::now() + Duration::from_secs(secs + 60);
    let in_b = consul_observe(b.clone(), LAG, total, slots, until);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut interval = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut writes = Vec::with_capacity(total);
    for i in 0..total {
        interval.tick().await;
        let a = a.clone();
        writes.push(tokio::spawn(async move {
            let sent = now_ns();
            a.put(
                &format!("{LAG}{:04}", i % slots),
                format!("{i}:{sent}").into_bytes(),
            )
            .await;
            (sent, now_ns())
        }));
    }
    let mut sent = Vec::with_capacity(total);
    for w in writes {
        sent.push(w.await.unwrap());
    }
    let seen = in_b.await.unwrap();
    let _ = Command::new("kill")
        .args([stop, &follower.id().to_string()])
        .status();
    let _ = follower.wait();
    let ns = |x: u128| Duration::from_nanos(x as u64);
    let mut lag = Lag {
        sync: Vec::new(),
        e2e: Vec::new(),
        commit: Vec::new(),
        unseen: 0,
        total,
    };
    for (i, (s, acked)) in sent.iter().enumerate() {
        lag.commit.push(ns(acked - s));
        if seen[i] == 0 {
            lag.unseen += 1;
            continue;
        }
        lag.sync.push(ns(seen[i].saturating_sub(*acked)));
        lag.e2e.push(ns(seen[i].saturating_sub(*s)));
    }
    lag.sync.sort();
    lag.e2e.sort();
    lag.commit.sort();
    lag
}

fn lag_row(name: &str, v: &[Duration], unseen: usize) -> String {
    if v.is_empty() {
        return format!("| {name} | – | – | – | {unseen} |");
    }
    format!(
        "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {unseen} |",
        pct(v, 0.5).as_secs_f64() * 1e3,
        pct(v, 0.99).as_secs_f64() * 1e3,
        v.last().unwrap().as_secs_f64() * 1e3
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run scripts/bench-sync.sh"]
async fn bench_sync_consul() {
    let (a_url, b_url) = (env("BENCH_CONSUL_A", ""), env("BENCH_CONSUL_B", ""));
    assert!(
        !a_url.is_empty() && !b_url.is_empty(),
        "set BENCH_CONSUL_A and BENCH_CONSUL_B"
    );
    let n: usize = env("BENCH_KEYS", "100000").parse().unwrap();
    let value_len: usize = env("BENCH_VALUE_BYTES", "100").parse().unwrap();
    let rate: u64 = env("BENCH_CONSUL_LAG_RATE", "200").parse().unwrap();
    let lag_secs: u64 = env("BENCH_LAG_SECS", "20").parse().unwrap();
    let slots: usize = env("BENCH_CONSUL_LAG_KEYS", "500").parse().unwrap();
    let src_dc = env("BENCH_CONSUL_A_DC", "dc-a");
    let dst_dc = env("BENCH_CONSUL_B_DC", "dc-b");
    let deadline: u64 = env("BENCH_REPLICATE_DEADLINE", "1800").parse().unwrap();
    let skip_cr = std::env::var("BENCH_SKIP_REPLICATE").is_ok();
    let cr = env("BENCH_CONSUL_REPLICATE", "consul-replicate");
    // `info` logs each of consul-replicate's replication rounds ("replicated N updates").
    let cr_level = env("BENCH_REPLICATE_LOG_LEVEL", "warn");
    let cr_log =
        std::env::temp_dir().join(format!("bench-consul-replicate-{}.log", std::process::id()));
    // consul-replicate talks to the agent of the destination datacenter (host:port).
    let b_addr = b_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let cr_version = if skip_cr {
        String::new()
    } else {
        let o = Command::new(&cr)
            .arg("-v")
            .output()
            .expect("run consul-replicate -v");
        let v =
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        v.trim().to_string()
    };
    let a = Kv::new(&a_url);
    let b = Kv::new(&b_url);
    let prefix = "bench/";
    let last_key = format!("{prefix}{:07}", n - 1);

    a.clear(prefix).await;
    b.clear(prefix).await;
    let t = Instant::now();
    consul_load(&a, prefix, n, value_len).await;
    assert_eq!(a.count(prefix).await, n);
    eprintln!(
        "loaded {n} keys of {value_len} bytes into A in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // (1) abshift: one full copy into an empty B, process start to exit.
    let t = Instant::now();
    let st = Command::new(env!("CARGO_BIN_EXE_abshift"))
        .args([
            "-q", "sync", "consul", "--once", "--from", &a_url, "--to", &b_url, "--prefix", prefix,
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let ours = t.elapsed();
    assert!(st.success());
    assert_eq!(b.count(prefix).await, n);
    let ours_rate = n as f64 / ours.as_secs_f64();
    eprintln!(
        "abshift sync consul --once: {n} keys in {:.2}s = {ours_rate:.0} keys/s",
        ours.as_secs_f64()
    );

    // (2) consul-replicate into the emptied prefix of B. It runs as a daemon: time from
    // its start until B holds all N keys (its writes follow A's key order, so the last key
    // arrives last; the count confirms it).
    b.clear(prefix).await;
    b.clear("service/consul-replicate/").await;
    assert_eq!(b.count(prefix).await, 0);
    let cr_prefix = format!("{prefix}@{src_dc}");
    let mut theirs: Option<Duration> = None;
    let mut theirs_partial = 0usize;
    let mut cr_exit = String::new();
    if !skip_cr {
        let t = Instant::now();
        let mut child = Command::new(&cr)
            .args([
                "-consul-addr",
                &b_addr,
                "-prefix",
                &cr_prefix,
                "-log-level",
                "warn",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&cr_log).unwrap())
            .spawn()
            .unwrap();
        let end = t + Duration::from_secs(deadline);
        loop {
            if b.exists(&last_key).await && b.count(prefix).await >= n {
                theirs = Some(t.elapsed());
                break;
            }
            if let Some(st) = child.try_wait().unwrap() {
                cr_exit = format!("exited with {st}");
                break;
            }
            if Instant::now() > end {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if theirs.is_none() {
            theirs_partial = b.count(prefix).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        eprintln!(
            "consul-replicate: {theirs:?} (B holds {} keys) {cr_exit}; log in {}",
            b.count(prefix).await,
            cr_log.display()
        );
    }
    let theirs_rate = theirs.map(|d| n as f64 / d.as_secs_f64());
    // Leave the stores as small as the lag phase needs.
    b.clear(prefix).await;

    // (3) Follow lag, one replicator after the other on the same prefix and load.
    let ours_lag = consul_lag(&a, &b, rate, lag_secs, slots, "-TERM", || {
        Command::new(env!("CARGO_BIN_EXE_abshift"))
            .args([
                "-q", "sync", "consul", "--follow", "--from", &a_url, "--to", &b_url, "--prefix",
                "lag/",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    })
    .await;
    eprintln!(
        "abshift follow: {}",
        lag_row("sync", &ours_lag.sync, ours_lag.unseen)
    );
    let cr_lag_prefix = format!("lag/@{src_dc}");
    let their_lag = if skip_cr {
        None
    } else {
        Some(
            // SIGINT: consul-replicate's kill signal; it ignores SIGTERM.
            consul_lag(&a, &b, rate, lag_secs, slots, "-INT", || {
                Command::new(&cr)
                    .args([
                        "-consul-addr",
                        &b_addr,
                        "-prefix",
                        &cr_lag_prefix,
                        "-log-level",
                        &cr_level,
                    ])
                    .stdout(Stdio::null())
                    .stderr(
                        std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&cr_log)
                            .unwrap(),
                    )
                    .spawn()
                    .unwrap()
            })
            .await,
        )
    };
    if let Some(l) = &their_lag {
        eprintln!(
            "consul-replicate follow: {}",
            lag_row("sync", &l.sync, l.unseen)
        );
    }

    let cr_name = if cr_version.is_empty() {
        "consul-replicate".to_string()
    } else {
        cr_version.clone()
    };
    let cr_copy = match (theirs, theirs_rate) {
        _ if skip_cr => "| consul-replicate | skipped (BENCH_SKIP_REPLICATE) | | |".to_string(),
        (Some(d), Some(r)) => format!(
            "| {cr_name}, `-prefix {cr_prefix}` via B's agent | {n} | {:.2} s | {r:.0} keys/s |",
            d.as_secs_f64()
        ),
        _ if !cr_exit.is_empty() => {
            format!("| {cr_name} | {cr_exit} with {theirs_partial} of {n} keys in B | | |")
        }
        _ => format!(
            "| {cr_name} | did not finish within {deadline} s: {theirs_partial} of {n} keys in B | | {:.0} keys/s so far |",
            theirs_partial as f64 / deadline as f64
        ),
    };
    let ratio = match theirs_rate {
        Some(r) => format!("{:.1}×", ours_rate / r),
        None => "–".to_string(),
    };
    let their_rows = match &their_lag {
        Some(l) => format!(
            "{}\n{}",
            lag_row(
                "consul-replicate: PUT returned in A → visible in B",
                &l.sync,
                l.unseen
            ),
            lag_row(
                "consul-replicate: PUT sent to A → visible in B",
                &l.e2e,
                l.unseen
            ),
        ),
        None => "| consul-replicate | skipped | | | |".to_string(),
    };
    println!(
        "RESULT\n| Initial copy Consul {src_dc}→{dst_dc} | keys | time | rate |\n|---|---|---|---|\n| abshift sync consul --once | {n} | {:.2} s | {ours_rate:.0} keys/s |\n{cr_copy}\n| abshift / consul-replicate | | | {ratio} |\n\n| Follow lag ({rate} writes/s for {lag_secs} s, {} writes over {slots} keys) | p50 | p99 | max | not seen in B |\n|---|---|---|---|---|\n{}\n{}\n{}\n{}{}\nEND",
        ours.as_secs_f64(),
        ours_lag.total,
        lag_row(
            "abshift --follow: PUT returned in A → visible in B",
            &ours_lag.sync,
            ours_lag.unseen
        ),
        lag_row(
            "abshift --follow: PUT sent to A → visible in B",
            &ours_lag.e2e,
            ours_lag.unseen
        ),
        their_rows,
        lag_row(
            "(for scale) PUT sent to A → returned, abshift run",
            &ours_lag.commit,
            0
        ),
        match &their_lag {
            Some(l) => format!(
                "\n{}",
                lag_row(
                    "(for scale) PUT sent to A → returned, consul-replicate run",
                    &l.commit,
                    0
                )
            ),
            None => String::new(),
        },
    );
    a.clear(prefix).await;
    a.clear("lag/").await;
    b.clear("lag/").await;
}

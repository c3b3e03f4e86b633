//! A Consul KV emulator for tests (no Consul server can be installed here). It follows
//! Consul's documented KV, transaction and blocking-query semantics; docs/sync.md lists
//! exactly what it models and what it does not. Test hooks change its state directly.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, put};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tokio::sync::watch;

/// Consul's default `kv_max_value_size` (also the txn request limit).
pub const MAX_VALUE: usize = 512 * 1024;
/// Consul's `MaxBlockingQueryTime`.
const MAX_WAIT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct KvEntry {
    pub value: Vec<u8>,
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
    pub session: Option<String>,
}

#[derive(Debug)]
struct Kv {
    entries: BTreeMap<String, KvEntry>,
    /// Deleted keys and the index of their deletion: a recursive read's index covers them.
    tombstones: BTreeMap<String, u64>,
    index: u64,
    /// token → the key prefix it may read and write ("" = everything). None: ACLs off.
    acl: Option<HashMap<String, String>>,
    known_leader: bool,
    /// During an election: stale reads of the prefix come back empty.
    blank_reads: bool,
    max_txn_ops: usize,
    largest_txn: usize,
    txns: u64,
}

impl Kv {
    fn prefix_index(&self, prefix: &str) -> u64 {
        let live = self
            .entries
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, e)| e.modify_index)
            .max()
            .unwrap_or(0);
        let dead = self
            .tombstones
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, i)| *i)
            .max()
            .unwrap_or(0);
        // Consul falls back to the table's index when nothing under the prefix has one.
        match live.max(dead) {
            0 => self.index.max(1),
            i => i,
        }
    }

    /// Sets a key at `index`; false when value, flags and session are unchanged
    /// (Consul then leaves ModifyIndex alone).
    fn set(&mut self, key: &str, value: Vec<u8>, flags: u64, index: u64) -> bool {
        if let Some(e) = self.entries.get_mut(key) {
            if e.value == value && e.flags == flags {
                return false;
            }
            e.value = value;
            e.flags = flags;
            e.modify_index = index;
        } else {
            self.entries.insert(
                key.to_string(),
                KvEntry {
                    value,
                    flags,
                    create_index: index,
                    modify_index: index,
                    lock_index: 0,
                    session: None,
                },
            );
        }
        self.tombstones.remove(key);
        true
    }

    fn delete(&mut self, key: &str, index: u64) -> bool {
        if self.entries.remove(key).is_some() {
            self.tombstones.insert(key.to_string(), index);
            true
        } else {
            false
        }
    }
}

struct Inner {
    kv: Mutex<Kv>,
    changed: watch::Sender<u64>,
}

#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
    pub url: String,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl Emulator {
    /// Serves on a free loopback port until dropped.
    pub async fn start() -> Emulator {
        let inner = Arc::new(Inner {
            kv: Mutex::new(Kv {
                entries: BTreeMap::new(),
                tombstones: BTreeMap::new(),
                // A fresh Consul server's raft index is already past a few entries.
                index: 10,
                acl: None,
                known_leader: true,
                blank_reads: false,
                max_txn_ops: 64,
                largest_txn: 0,
                txns: 0,
            }),
            changed: watch::channel(10).0,
        });
        let app = Router::new()
            .route("/v1/kv/", any(kv_root))
            .route("/v1/kv/{*key}", any(kv_key))
            .route("/v1/txn", put(txn))
            .route("/v1/status/leader", get(leader))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Emulator {
            inner,
            url,
            task: Arc::new(task),
        }
    }

    fn mutate<T>(&self, f: impl FnOnce(&mut Kv) -> T) -> T {
        let mut kv = self.inner.kv.lock().unwrap();
        let r = f(&mut kv);
        let idx = kv.index;
        drop(kv);
        self.inner.changed.send_replace(idx);
        r
    }

    pub fn put(&self, key: &str, value: &[u8], flags: u64) {
        self.mutate(|kv| {
            let i = kv.index + 1;
            if kv.set(key, value.to_vec(), flags, i) {
                kv.index = i;
            }
        });
    }

    pub fn delete(&self, key: &str) {
        self.mutate(|kv| {
            let i = kv.index + 1;
            if kv.delete(key, i) {
                kv.index = i;
            }
        });
    }

    /// A key acquired by a session, as `consul lock` leaves it.
    pub fn lock(&self, key: &str, value: &[u8], session: &str) {
        self.mutate(|kv| {
            kv.index += 1;
            let i = kv.index;
            kv.set(key, value.to_vec(), 0, i);
            let e = kv.entries.get_mut(key).unwrap();
            e.session = Some(session.to_string());
            e.lock_index += 1;
            e.modify_index = i;
        });
    }

    /// Turns ACLs on: each token may read and write keys under its prefix.
    pub fn set_acl(&self, tokens: &[(&str, &str)]) {
        self.mutate(|kv| {
            kv.acl = Some(
                tokens
                    .iter()
                    .map(|(t, p)| (t.to_string(), p.to_string()))
                    .collect(),
            );
        });
    }

    /// A leader election: no known leader, stale reads empty, consistent reads fail.
    pub fn set_election(&self, on: bool) {
        self.mutate(|kv| {
            kv.known_leader = !on;
            kv.blank_reads = on;
        });
    }

    /// A snapshot restore: the data and the index go back to an older state.
    pub fn restore(&self, entries: &[(&str, &[u8], u64)], index: u64) {
        self.mutate(|kv| {
            kv.entries.clear();
            kv.tombstones.clear();
            for (k, v, f) in entries {
                kv.set(k, v.to_vec(), *f, index);
            }
            kv.index = index;
        });
    }

    pub fn dump(&self) -> BTreeMap<String, (Vec<u8>, u64)> {
        let kv = self.inner.kv.lock().unwrap();
        kv.entries
            .iter()
            .map(|(k, e)| (k.clone(), (e.value.clone(), e.flags)))
            .collect()
    }

    pub fn index(&self) -> u64 {
        self.inner.kv.lock().unwrap().index
    }

    /// The most operations any accepted transaction held, and how many were accepted.
    pub fn txn_stats(&self) -> (usize, u64) {
        let kv = self.inner.kv.lock().unwrap();
        (kv.largest_txn, kv.txns)
    }
}

fn error(status: StatusCode, msg: &str) -> Response {
    (status, msg.to_string()).into_response()
}

fn with_meta(mut resp: Response, index: u64, known_leader: bool) -> Response {
    let h = resp.headers_mut();
    h.insert("X-Consul-Index", HeaderValue::from(index));
    h.insert(
        "X-Consul-KnownLeader",
        HeaderValue::from_static(if known_leader { "true" } else { "false" }),
    );
    h.insert("X-Consul-LastContact", HeaderValue::from_static("0"));
    resp
}

/// The prefix the request's token may touch; Err is the 403 Consul would send.
#[allow(clippy::result_large_err)]
fn authorize(
    kv: &Kv,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Result<String, Response> {
    let Some(acl) = &kv.acl else {
        return Ok(String::new());
    };
    let token = headers
        .get("X-Consul-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| q.get("token").cloned());
    match token {
        None => Err(error(StatusCode::FORBIDDEN, "Permission denied")),
        Some(t) => acl
            .get(&t)
            .cloned()
            .ok_or_else(|| error(StatusCode::FORBIDDEN, "ACL not found")),
    }
}

fn entry_json(key: &str, e: &KvEntry, with_value: bool) -> Value {
    let mut v = json!({
        "Key": key,
        "CreateIndex": e.create_index,
        "ModifyIndex": e.modify_index,
        "LockIndex": e.lock_index,
        "Flags": e.flags,
        "Value": if with_value && !e.value.is_empty() { Value::String(B64.encode(&e.value)) } else { Value::Null },
    });
    if let Some(s) = &e.session {
        v["Session"] = Value::String(s.clone());
    }
    v
}

/// Consul durations: "10s", "5m", "250ms"; a bare number is seconds.
fn parse_wait(s: &str) -> Duration {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().unwrap_or(0);
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => Duration::from_secs(n),
    };
    d.min(MAX_WAIT)
}

async fn leader(State(inner): State<Arc<Inner>>) -> Response {
    let kv = inner.kv.lock().unwrap();
    let body = if kv.known_leader {
        "\"127.0.0.1:8300\""
    } else {
        "\"\""
    };
    body.into_response()
}

async fn kv_root(
    state: State<Arc<Inner>>,
    method: axum::http::Method,
    headers: HeaderMap,
    q: Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    kv_any(state, method, String::new(), headers, q, body).await
}

async fn kv_key(
    state: State<Arc<Inner>>,
    method: axum::http::Method,
    Path(key): Path<String>,
    headers: HeaderMap,
    q: Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    kv_any(state, method, key, headers, q, body).await
}

async fn kv_any(
    State(inner): State<Arc<Inner>>,
    method: axum::http::Method,
    key: String,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    match method {
        axum::http::Method::GET => kv_get(inner, key, headers, q).await,
        axum::http::Method::PUT => kv_put(inner, key, headers, q, body),
        axum::http::Method::DELETE => kv_delete(inner, key, headers, q),
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    }
}

async fn kv_get(
    inner: Arc<Inner>,
    key: String,
    headers: HeaderMap,
    q: HashMap<String, String>,
) -> Response {
    let recurse = q.contains_key("recurse");
    let consistent = q.contains_key("consistent");
    let min_index: u64 = q.get("index").and_then(|s| s.parse().ok()).unwrap_or(0);
    let wait = q
        .get("wait")
        .map(|w| parse_wait(w))
        .unwrap_or(Duration::from_secs(300));
    let deadline = tokio::time::Instant::now() + wait;
    let mut rx = inner.changed.subscribe();
    loop {
        {
            let kv = inner.kv.lock().unwrap();
            let allowed = match authorize(&kv, &headers, &q) {
                Ok(p) => p,
                Err(r) => return r,
            };
            if consistent && !kv.known_leader {
                return error(StatusCode::INTERNAL_SERVER_ERROR, "No cluster leader");
            }
            let index = if recurse {
                kv.prefix_index(&key)
            } else {
                kv.entries
                    .get(&key)
                    .map(|e| e.modify_index)
                    .or_else(|| kv.tombstones.get(&key).copied())
                    .unwrap_or(kv.index.max(1))
            };
            let ready =
                min_index == 0 || index > min_index || tokio::time::Instant::now() >= deadline;
            if ready {
                let mut filtered = false;
                let found: Vec<Value> = if kv.blank_reads && !consistent {
                    Vec::new()
                } else if recurse {
                    kv.entries
                        .range(key.clone()..)
                        .take_while(|(k, _)| k.starts_with(&key))
                        .filter(|(k, _)| {
                            let ok = k.starts_with(&allowed);
                            filtered |= !ok;
                            ok
                        })
                        .map(|(k, e)| entry_json(k, e, true))
                        .collect()
                } else {
                    if !key.starts_with(&allowed) {
                        return error(StatusCode::FORBIDDEN, "Permission denied");
                    }
                    kv.entries
                        .get(&key)
                        .map(|e| vec![entry_json(&key, e, true)])
                        .unwrap_or_default()
                };
                let resp = if found.is_empty() {
                    StatusCode::NOT_FOUND.into_response()
                } else {
                    axum::Json(Value::Array(found)).into_response()
                };
                let mut resp = with_meta(resp, index, kv.known_leader);
                if filtered {
                    resp.headers_mut().insert(
                        "X-Consul-Results-Filtered-By-ACLs",
                        HeaderValue::from_static("true"),
                    );
                }
                return resp;
            }
        }
        // Blocks until something changes or the wait runs out (then answers as is).
        let _ = tokio::time::timeout_at(deadline, rx.changed()).await;
    }
}

fn kv_put(
    inner: Arc<Inner>,
    key: String,
    headers: HeaderMap,
    q: HashMap<String, String>,
    body: Bytes,
) -> Response {
    let mut kv = inner.kv.lock().unwrap();
    let allowed = match authorize(&kv, &headers, &q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !key.starts_with(&allowed) {
        return error(StatusCode::FORBIDDEN, "Permission denied");
    }
    if body.len() > MAX_VALUE {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("Value exceeds {MAX_VALUE} byte limit"),
        );
    }
    let flags: u64 = q.get("flags").and_then(|s| s.parse().ok()).unwrap_or(0);
    if let Some(cas) = q.get("cas").and_then(|s| s.parse::<u64>().ok()) {
        let current = kv.entries.get(&key).map(|e| e.modify_index);
        let ok = match (cas, current) {
            (0, None) => true,
            (0, Some(_)) => false,
            (n, Some(m)) => n == m,
            (_, None) => false,
        };
        if !ok {
            return "false".into_response();
        }
    }
    let i = kv.index + 1;
    if kv.set(&key, body.to_vec(), flags, i) {
        kv.index = i;
    }
    let idx = kv.index;
    drop(kv);
    inner.changed.send_replace(idx);
    "true".into_response()
}

fn kv_delete(
    inner: Arc<Inner>,
    key: String,
    headers: HeaderMap,
    q: HashMap<String, String>,
) -> Response {
    let mut kv = inner.kv.lock().unwrap();
    let allowed = match authorize(&kv, &headers, &q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !key.starts_with(&allowed) {
        return error(StatusCode::FORBIDDEN, "Permission denied");
    }
    let i = kv.index + 1;
    let mut changed = false;
    if q.contains_key("recurse") {
        let keys: Vec<String> = kv
            .entries
            .range(key.clone()..)
            .take_while(|(k, _)| k.starts_with(&key))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            changed |= kv.delete(&k, i);
        }
    } else {
        if let Some(cas) = q.get("cas").and_then(|s| s.parse::<u64>().ok())
            && kv.entries.get(&key).map(|e| e.modify_index) != Some(cas)
        {
            return "false".into_response();
        }
        changed = kv.delete(&key, i);
    }
    if changed {
        kv.index = i;
    }
    let idx = kv.index;
    drop(kv);
    inner.changed.send_replace(idx);
    "true".into_response()
}

async fn txn(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    if body.len() > MAX_VALUE {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    }
    let ops: Vec<Value> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Failed to parse body: {e}"),
            );
        }
    };
    let mut kv = inner.kv.lock().unwrap();
    if ops.len() > kv.max_txn_ops {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "Transaction contains too many operations ({} > {})",
                ops.len(),
                kv.max_txn_ops
            ),
        );
    }
    let allowed = match authorize(&kv, &headers, &HashMap::new()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    // All or nothing: work on a copy, keep it only if every operation succeeds.
    let mut work = Kv {
        entries: kv.entries.clone(),
        tombstones: kv.tombstones.clone(),
        index: kv.index,
        acl: None,
        known_leader: true,
        blank_reads: false,
        max_txn_ops: 0,
        largest_txn: 0,
        txns: 0,
    };
    let i = kv.index + 1;
    let mut changed = false;
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let Some(o) = op.get("KV") else {
            errors.push(json!({"OpIndex": n, "What": "only KV operations are emulated"}));
            continue;
        };
        let verb = o.get("Verb").and_then(Value::as_str).unwrap_or("");
        let key = o
            .get("Key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let flags = o.get("Flags").and_then(Value::as_u64).unwrap_or(0);
        let index = o.get("Index").and_then(Value::as_u64).unwrap_or(0);
        if !key.starts_with(&allowed) {
            errors.push(json!({"OpIndex": n, "What": "Permission denied"}));
            continue;
        }
        let value = match o.get("Value").and_then(Value::as_str) {
            Some(v) => match B64.decode(v) {
                Ok(b) => b,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        &format!("Failed to decode value: {e}"),
                    );
                }
            },
            None => Vec::new(),
        };
        let current = work.entries.get(&key).map(|e| e.modify_index);
        match verb {
            "set" => changed |= work.set(&key, value, flags, i),
            "cas" => {
                if (index == 0 && current.is_some()) || (index != 0 && current != Some(index)) {
                    errors.push(json!({"OpIndex": n, "What": format!("failed to set key {key:?}, index is stale")}));
                    continue;
                }
                changed |= work.set(&key, value, flags, i);
            }
            "get" => match work.entries.get(&key) {
                Some(e) => results.push(json!({"KV": entry_json(&key, e, true)})),
                None => {
                    errors.push(json!({"OpIndex": n, "What": format!("key {key:?} doesn't exist")}))
                }
            },
            "check-not-exists" => {
                if current.is_some() {
                    errors.push(json!({"OpIndex": n, "What": format!("key {key:?} exists")}));
                }
            }
            "check-index" => {
                if current != Some(index) {
                    errors.push(json!({"OpIndex": n, "What": format!("current modify index {current:?} != {index}")}));
                }
            }
            "delete" => changed |= work.delete(&key, i),
            "delete-cas" => {
                if current != Some(index) {
                    errors.push(json!({"OpIndex": n, "What": format!("failed to delete key {key:?}, index is stale")}));
                    continue;
                }
                changed |= work.delete(&key, i);
            }
            "delete-tree" => {
                let keys: Vec<String> = work
                    .entries
                    .range(key.clone()..)
                    .take_while(|(k, _)| k.starts_with(&key))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in keys {
                    changed |= work.delete(&k, i);
                }
            }
            other => {
                errors.push(json!({"OpIndex": n, "What": format!("unknown KV verb {other:?}")}))
            }
        }
        if matches!(verb, "set" | "cas")
            && let Some(e) = work.entries.get(&key)
        {
            results.push(json!({"KV": entry_json(&key, e, false)}));
        }
    }
    if !errors.is_empty() {
        return (
            StatusCode::CONFLICT,
            axum::Json(json!({"Results": null, "Errors": errors})),
        )
            .into_response();
    }
    kv.entries = work.entries;
    kv.tombstones = work.tombstones;
    if changed {
        kv.index = i;
    }
    kv.largest_txn = kv.largest_txn.max(ops.len());
    kv.txns += 1;
    let idx = kv.index;
    let leader = kv.known_leader;
    drop(kv);
    inner.changed.send_replace(idx);
    with_meta(
        axum::Json(json!({"Results": results, "Errors": null})).into_response(),
        idx,
        leader,
    )
}

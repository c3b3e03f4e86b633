//! Consul KV behind `KvStore`: recursive reads, blocking queries turned into put/delete
//! changes by comparing listings, and writes through `/v1/txn` (64 operations at most).
//! An empty, ACL-filtered or leaderless answer is confirmed by a consistent read before
//! it may delete anything in B (the failure that cost consul-replicate users their keys).

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::store::{ChangeFeed, Entry, FeedItem, KvStore, Op, Snapshot, StoreError};
use super::tls::{self, ClientTls};

/// Consul's documented limit before 1.14 (128 since); the lower one works everywhere.
pub(crate) const MAX_TXN_OPS: usize = 64;

#[derive(Clone)]
pub struct ConsulStore {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    wait: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KvPair {
    key: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    flags: u64,
    #[serde(default)]
    modify_index: u64,
    #[serde(default)]
    session: Option<String>,
}

struct Listing {
    /// (entry, ModifyIndex) for keys not held by a session.
    entries: Vec<(Entry, u64)>,
    sessions: Vec<Vec<u8>>,
    index: u64,
    suspect: Option<String>,
}

/// The machine's CA certificates that rustls accepts (system stores often hold a few it
/// cannot parse; one of those must not make every https address fail).
fn system_cas() -> Vec<reqwest::Certificate> {
    rustls_native_certs::load_native_certs()
        .certs
        .into_iter()
        .filter(|der| rustls::RootCertStore::empty().add(der.clone()).is_ok())
        .filter_map(|der| reqwest::Certificate::from_der(&der).ok())
        .collect()
}

/// Percent-encodes a key for the URL path; `/` stays a separator.
fn encode_key(key: &[u8]) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The innermost cause reads best on one line ("Connection refused").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let top = e.to_string();
    let root = cur.to_string();
    if top == root {
        top
    } else {
        format!("{root} ({})", top.split(" for url").next().unwrap_or(&top))
    }
}

fn short(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(200).collect()
}

impl ConsulStore {
    pub fn new(url: &str, token: Option<String>, wait: Duration) -> Result<Self, StoreError> {
        Self::with_tls(url, token, wait, &ClientTls::default())
    }

    /// As `new`, for an `https://` agent with its own CA and/or a client certificate
    /// (Consul's `-ca-file`, `-client-cert`, `-client-key`).
    pub fn with_tls(
        url: &str,
        token: Option<String>,
        wait: Duration,
        tls: &ClientTls,
    ) -> Result<Self, StoreError> {
        let base = url.trim_end_matches('/').to_string();
        let bad = |reason: String| StoreError::Protocol {
            url: url.to_string(),
            reason,
        };
        let https = base.starts_with("https://");
        if !(https || base.starts_with("http://")) {
            return Err(bad(
                "the address must start with http:// or https://".to_string()
            ));
        }
        if !https && !tls.is_empty() {
            return Err(bad(
                "a CA file or client certificate was given, but the address is http://: use https://"
                    .to_string(),
            ));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(8);
        if https {
            builder = match &tls.ca {
                // Only this CA, as Consul's CLI does with -ca-file.
                Some(pem) => {
                    let certs = reqwest::Certificate::from_pem_bundle(pem)
                        .map_err(|e| bad(format!("the CA file is not valid PEM: {e}")))?;
                    certs
                        .into_iter()
                        .fold(builder.tls_built_in_root_certs(false), |b, c| {
                            b.add_root_certificate(c)
                        })
                }
                // The system's CAs as well as the built-in Mozilla set: a site CA installed
                // on the machine works as it does for `consul`.
                None => system_cas()
                    .into_iter()
                    .fold(builder, |b, c| b.add_root_certificate(c)),
            };
            if let Some(id) = &tls.identity {
                let mut pem = id.cert.clone();
                pem.push(b'\n');
                pem.extend_from_slice(&id.key);
                // The key's bytes never reach the message.
                let identity = reqwest::Identity::from_pem(&pem).map_err(|_| {
                    bad("the client certificate and key cannot be used together as PEM".to_string())
                })?;
                builder = builder.identity(identity);
            }
        }
        let http = builder.build().map_err(|e| bad(root_cause(&e)))?;
        Ok(ConsulStore {
            http,
            base,
            token: token.filter(|t| !t.is_empty()),
            wait,
        })
    }

    /// Sends the request, again (twice at most) when the connection closed before it went
    /// out: a TLS 1.3 server that refuses the client certificate does so just after the
    /// handshake, and the alert saying why may lose the race with "connection not ready".
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, StoreError> {
        let mut attempt = req;
        for _ in 0..2 {
            let again = attempt.try_clone();
            match attempt.send().await {
                Err(e) if root_cause(&e).contains("connection was not ready") => {
                    let Some(next) = again else {
                        return Err(self.unreachable(e));
                    };
                    attempt = next;
                }
                other => return other.map_err(|e| self.unreachable(e)),
            }
        }
        attempt.send().await.map_err(|e| self.unreachable(e))
    }

    fn unreachable(&self, e: reqwest::Error) -> StoreError {
        let reason = root_cause(&e);
        if tls::is_tls_failure(&reason) {
            return StoreError::Tls {
                url: self.base.clone(),
                reason: tls::tls_advice(&reason),
            };
        }
        let reason = if self.base.starts_with("https://") && reason.contains("not ready") {
            format!(
                "{reason}: the server closed the connection right after the TLS handshake (does it want a client certificate?)"
            )
        } else {
            reason
        };
        StoreError::Unreachable {
            url: self.base.clone(),
            reason,
        }
    }

    fn request(
        &self,
        method: Method,
        path_and_query: &str,
        timeout: Duration,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path_and_query))
            .timeout(timeout);
        if let Some(t) = &self.token {
            req = req.header("X-Consul-Token", t);
        }
        req
    }

    async fn failure(&self, resp: reqwest::Response) -> StoreError {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let url = self.base.clone();
        match status {
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => StoreError::PermissionDenied {
                url,
                reason: short(&body),
            },
            s if s.is_server_error() => StoreError::Unavailable {
                url,
                reason: format!("HTTP {s}: {}", short(&body)),
            },
            s => StoreError::Protocol {
                url,
                reason: format!("HTTP {s}: {}", short(&body)),
            },
        }
    }

    /// A recursive read; with `index` a blocking query that returns once the prefix's
    /// index passes it (or `wait` runs out).
    async fn list(
        &self,
        prefix: &[u8],
        index: Option<u64>,
        consistent: bool,
    ) -> Result<Listing, StoreError> {
        let mut q = format!("/v1/kv/{}?recurse=true", encode_key(prefix));
        let mut timeout = Duration::from_secs(60);
        if let Some(i) = index {
            // Consul adds up to wait/16 of jitter to a blocking query.
            q.push_str(&format!(
                "&index={}&wait={}ms",
                i.max(1),
                self.wait.as_millis()
            ));
            timeout = self.wait + self.wait / 16 + Duration::from_secs(10);
        }
        if consistent {
            q.push_str("&consistent=");
        }
        let req = self.request(Method::GET, &q, timeout);
        let resp = self.send(req).await?;
        let status = resp.status();
        if status != StatusCode::OK && status != StatusCode::NOT_FOUND {
            return Err(self.failure(resp).await);
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let index: u64 = header("X-Consul-Index")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Protocol {
                url: self.base.clone(),
                reason: format!("HTTP {status} without X-Consul-Index: is this a Consul agent?"),
            })?;
        let mut suspect = Vec::new();
        if header("X-Consul-KnownLeader").as_deref() == Some("false") {
            suspect.push("no known leader".to_string());
        }
        if header("X-Consul-Results-Filtered-By-ACLs").as_deref() == Some("true") {
            suspect.push("results filtered by ACLs: the token cannot see every key".to_string());
        }
        let pairs: Vec<KvPair> = if status == StatusCode::NOT_FOUND {
            Vec::new()
        } else {
            resp.json().await.map_err(|e| StoreError::Protocol {
                url: self.base.clone(),
                reason: format!("unreadable KV listing: {}", root_cause(&e)),
            })?
        };
        let mut listing = Listing {
            entries: Vec::with_capacity(pairs.len()),
            sessions: Vec::new(),
            index,
            suspect: (!suspect.is_empty()).then(|| suspect.join(", ")),
        };
        for p in pairs {
            if p.session.as_deref().is_some_and(|s| !s.is_empty()) {
                listing.sessions.push(p.key.into_bytes());
                continue;
            }
            let value = match p.value {
                Some(v) => B64.decode(v.as_bytes()).map_err(|e| StoreError::Protocol {
                    url: self.base.clone(),
                    reason: format!("value of {:?} is not base64: {e}", p.key),
                })?,
                None => Vec::new(),
            };
            listing.entries.push((
                Entry {
                    key: p.key.into_bytes(),
                    value,
                    flags: p.flags,
                },
                p.modify_index,
            ));
        }
        Ok(listing)
    }

    /// The key as Consul's JSON needs it, or an error naming the key with its bytes escaped.
    fn text_key<'a>(&self, key: &'a [u8]) -> Result<&'a str, StoreError> {
        std::str::from_utf8(key).map_err(|_| StoreError::Protocol {
            url: self.base.clone(),
            reason: format!(
                "key \"{}\" is not valid UTF-8 and cannot be written to Consul",
                key.escape_ascii()
            ),
        })
    }

    async fn put_one(&self, e: &Entry) -> Result<(), StoreError> {
        let q = format!("/v1/kv/{}?flags={}", encode_key(&e.key), e.flags);
        let req = self
            .request(Method::PUT, &q, Duration::from_secs(30))
            .body(e.value.clone());
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(self.failure(resp).await);
        }
        Ok(())
    }

    async fn delete_one(&self, key: &[u8]) -> Result<(), StoreError> {
        let q = format!("/v1/kv/{}", encode_key(key));
        let req = self.request(Method::DELETE, &q, Duration::from_secs(30));
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(self.failure(resp).await);
        }
        Ok(())
    }
}

impl KvStore for ConsulStore {
    type Feed = ConsulFeed;

    fn url(&self) -> &str {
        &self.base
    }

    fn max_txn_ops(&self) -> usize {
        MAX_TXN_OPS
    }

    fn max_txn_bytes(&self) -> usize {
        // The txn body limit is 512 KB and values travel as base64 (4/3 larger).
        320 * 1024
    }

    fn feed_needs_known_keys(&self) -> bool {
        true
    }

    async fn snapshot(&self, prefix: &[u8]) -> Result<Snapshot, StoreError> {
        // Consistent: this read decides what is deleted in B.
        let l = self.list(prefix, None, true).await?;
        Ok(Snapshot {
            entries: l.entries.into_iter().map(|(e, _)| e).collect(),
            index: l.index,
            suspect: l.suspect,
            skipped: l.sessions,
        })
    }

    async fn apply(&self, ops: &[Op]) -> Result<(), StoreError> {
        // Consul keys are text: a lossy conversion would write (or delete) another key.
        for op in ops {
            self.text_key(op.key())?;
        }
        if let [op] = ops {
            // One key needs no transaction, and a value too large for one still fits here.
            return match op {
                Op::Put(e) => self.put_one(e).await,
                Op::Delete(k) => self.delete_one(k).await,
            };
        }
        let body: Vec<serde_json::Value> = ops
            .iter()
            .map(|op| {
                Ok(match op {
                    Op::Put(e) => serde_json::json!({"KV": {
                        "Verb": "set",
                        "Key": self.text_key(&e.key)?,
                        "Value": B64.encode(&e.value),
                        "Flags": e.flags,
                    }}),
                    Op::Delete(k) => serde_json::json!({"KV": {
                        "Verb": "delete",
                        "Key": self.text_key(k)?,
                    }}),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let req = self
            .request(Method::PUT, "/v1/txn", Duration::from_secs(30))
            .json(&body);
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(self.failure(resp).await);
        }
        Ok(())
    }

    async fn follow(
        &self,
        prefix: &[u8],
        after: u64,
        known_keys: Option<Vec<Vec<u8>>>,
        allow_empty: bool,
    ) -> Result<ConsulFeed, StoreError> {
        Ok(ConsulFeed {
            store: self.clone(),
            prefix: prefix.to_vec(),
            index: after,
            known: known_keys.unwrap_or_default().into_iter().collect(),
            allow_empty,
        })
    }
}

/// Blocking queries on the prefix; changes are what differs from the previous listing.
pub struct ConsulFeed {
    store: ConsulStore,
    prefix: Vec<u8>,
    index: u64,
    /// Keys A held at `index` (B's keys when resuming): the base for deletions.
    known: HashSet<Vec<u8>>,
    /// `--allow-empty`: without it an emptied prefix is held back, as the initial copy refuses it.
    allow_empty: bool,
}

impl ConsulFeed {
    fn diff(&self, l: &Listing) -> (Vec<Op>, usize, HashSet<Vec<u8>>) {
        let mut ops = Vec::new();
        let mut current = HashSet::with_capacity(l.entries.len() + l.sessions.len());
        // A key held by a session still exists in A: whatever B has for it stays as it is
        // (not copied, since the session cannot exist in B, and not deleted either).
        current.extend(l.sessions.iter().cloned());
        for (e, modify) in &l.entries {
            current.insert(e.key.clone());
            if *modify > self.index || !self.known.contains(&e.key) {
                ops.push(Op::Put(e.clone()));
            }
        }
        let mut deletes: Vec<_> = self.known.difference(&current).cloned().collect();
        deletes.sort();
        let n = deletes.len();
        ops.extend(deletes.into_iter().map(Op::Delete));
        (ops, n, current)
    }
}

impl ChangeFeed for ConsulFeed {
    async fn next(&mut self) -> Result<FeedItem, StoreError> {
        let mut l = self
            .store
            .list(&self.prefix, Some(self.index), false)
            .await?;
        if l.index < self.index {
            return Ok(FeedItem::Reset(format!(
                "Consul's index went backwards from {} to {} (snapshot restore or tombstone reaping)",
                self.index, l.index
            )));
        }
        if l.index == self.index {
            return Ok(FeedItem::Progress {
                index: l.index,
                head: l.index,
            });
        }
        let (mut ops, mut deletes, mut current) = self.diff(&l);
        let mass = deletes > 0 && (current.is_empty() || deletes * 2 > self.known.len());
        if deletes > 0 && (l.suspect.is_some() || mass) {
            // Never delete on a doubtful answer: ask the leader again, consistently.
            let confirm = self.store.list(&self.prefix, None, true).await?;
            if let Some(reason) = confirm.suspect.clone().or(l.suspect.take()) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                return Ok(FeedItem::Suspect(format!(
                    "{reason}; {deletes} deletion(s) held back"
                )));
            }
            if confirm.index < self.index {
                return Ok(FeedItem::Reset(format!(
                    "Consul's index went backwards from {} to {}",
                    self.index, confirm.index
                )));
            }
            l = confirm;
            (ops, deletes, current) = self.diff(&l);
            if deletes > 0 && current.is_empty() {
                if !self.allow_empty {
                    // The same answer that the initial copy refuses: emptying B's prefix
                    // takes an explicit --allow-empty. Ask again after a pause; the index
                    // stays, so nothing is lost if A fills up again.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    return Ok(FeedItem::Suspect(format!(
                        "the prefix is empty in A, confirmed by a consistent read; {deletes} deletion(s) held back, restart with --allow-empty if A really was emptied"
                    )));
                }
                tracing::warn!(
                    "A's prefix is now empty (confirmed by a consistent read, --allow-empty given): deleting {deletes} key(s) in B"
                );
            }
        }
        self.index = l.index;
        self.known = current;
        Ok(FeedItem::Changes {
            ops,
            index: l.index,
            head: l.index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> ConsulStore {
        ConsulStore::new("http://127.0.0.1:9", None, Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn a_copied_key_that_a_session_takes_stays_in_b() {
        let entry = |k: &str| Entry {
            key: k.as_bytes().to_vec(),
            value: b"v".to_vec(),
            flags: 0,
        };
        let feed = ConsulFeed {
            store: store(),
            prefix: b"svc/".to_vec(),
            index: 10,
            known: [b"svc/a".to_vec(), b"svc/leader".to_vec()].into(),
            allow_empty: false,
        };
        let l = Listing {
            entries: vec![(entry("svc/a"), 5), (entry("svc/b"), 11)],
            sessions: vec![b"svc/leader".to_vec()],
            index: 11,
            suspect: None,
        };
        let (ops, deletes, current) = feed.diff(&l);
        assert_eq!(deletes, 0, "{ops:?}");
        assert_eq!(ops, vec![Op::Put(entry("svc/b"))]);
        assert!(current.contains(b"svc/leader".as_slice()));
    }

    #[tokio::test]
    async fn a_key_that_is_not_utf8_is_refused_by_name() {
        let err = store()
            .apply(&[
                Op::Delete(b"app/\xffx".to_vec()),
                Op::Delete(b"app/ok".to_vec()),
            ])
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Protocol { .. }), "{msg}");
        assert!(msg.contains(r"app/\xffx") && msg.contains("UTF-8"), "{msg}");
    }

    #[test]
    fn keys_are_path_encoded() {
        assert_eq!(encode_key(b"a/b c?d"), "a/b%20c%3Fd");
        assert_eq!(encode_key("é".as_bytes()), "%C3%A9");
    }
}

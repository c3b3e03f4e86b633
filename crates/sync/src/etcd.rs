//! etcd v3 behind `KvStore`: a paged range read pinned to one revision, a watch from the
//! next revision, and writes as transactions of at most 128 operations (etcd's default
//! `--max-txn-ops`). A compacted start revision becomes a `Reset`: the engine re-copies.

use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, EventType, GetOptions, Identity, TlsOptions, Txn, TxnOp,
    WatchOptions, WatchResponse, WatchStream,
};
use futures::FutureExt;

use super::store::{ChangeFeed, Entry, FeedItem, KvStore, Op, Snapshot, StoreError};
use super::tls::{self, ClientTls, Credentials};

const PAGE: i64 = 2000;
/// Times a snapshot read starts over because A compacted its revision between two pages.
const MAX_SNAPSHOT_RESTARTS: u32 = 5;
const PAR: usize = 8;
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Events gathered into one batch before it is handed to the engine.
const MAX_BATCH_EVENTS: usize = 8192;
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    url: String,
}

/// How to reach one etcd cluster beyond its address: TLS material and a user.
#[derive(Debug, Clone, Default)]
pub struct EtcdAccess {
    pub tls: ClientTls,
    pub credentials: Option<Credentials>,
}

/// Only the CA given (etcdctl's `--cacert`), else the system's; the client certificate if any.
fn tls_options(tls: &ClientTls) -> TlsOptions {
    let mut o = TlsOptions::new();
    o = match &tls.ca {
        Some(pem) => o.ca_certificate(Certificate::from_pem(pem)),
        None => o.with_native_roots(),
    };
    if let Some(id) = &tls.identity {
        o = o.identity(Identity::from_pem(&id.cert, &id.key));
    }
    o
}

fn map_err(url: &str, e: etcd_client::Error) -> StoreError {
    use etcd_client::Error as E;
    use tonic::Code;
    let url = url.to_string();
    match e {
        E::GRpcStatus(s) => {
            let reason = s.message().to_string();
            // A connection that failed in the TLS handshake comes back as Unavailable.
            let cause = deepest(&s);
            if tls::is_tls_failure(&cause) || tls::is_tls_failure(&reason) {
                let why = if tls::is_tls_failure(&cause) {
                    cause
                } else {
                    reason
                };
                return StoreError::Tls {
                    url,
                    reason: tls::tls_advice(&why),
                };
            }
            match s.code() {
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted => {
                    StoreError::Unreachable { url, reason }
                }
                // The connection broke under the call (a TLS server hanging up on plain
                // HTTP/2, a reset): the cause says more than "transport error".
                Code::Unknown if reason == "transport error" => {
                    StoreError::Unreachable { url, reason: cause }
                }
                Code::PermissionDenied | Code::Unauthenticated => {
                    StoreError::PermissionDenied { url, reason }
                }
                // etcd answers a wrong password, an unknown user and a missing one this way.
                Code::InvalidArgument
                    if reason.contains("authentication failed")
                        || reason.contains("user name is empty")
                        || reason.contains("user name not found")
                        || reason.contains("invalid auth token") =>
                {
                    let reason = if reason.contains("user name is empty") {
                        format!("{reason}: authentication is enabled on this etcd, give a user")
                    } else {
                        reason
                    };
                    StoreError::PermissionDenied { url, reason }
                }
                _ => StoreError::Protocol { url, reason },
            }
        }
        E::TransportError(t) => {
            let reason = deepest(&t);
            if tls::is_tls_failure(&reason) {
                StoreError::Tls {
                    url,
                    reason: tls::tls_advice(&reason),
                }
            } else {
                StoreError::Unreachable { url, reason }
            }
        }
        E::IoError(io) => StoreError::Unreachable {
            url,
            reason: io.to_string(),
        },
        other => StoreError::Protocol {
            url,
            reason: other.to_string(),
        },
    }
}

/// tonic's top-level message ("transport error") says little; the root cause says why.
fn deepest(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    let mut msg = e.to_string();
    while let Some(next) = cur.source() {
        cur = next;
        msg = next.to_string();
    }
    msg
}

/// The connection was closed under the call, rather than refused or timed out.
fn hung_up(reason: &str) -> bool {
    [
        "broken pipe",
        "connection reset",
        "operation was canceled",
        "not ready",
    ]
    .iter()
    .any(|m| reason.contains(m))
}

fn timed_out(url: &str) -> StoreError {
    StoreError::Unreachable {
        url: url.to_string(),
        reason: format!("no answer within {}s", CALL_TIMEOUT.as_secs()),
    }
}

/// The end of the key range holding every key that starts with `prefix`.
pub(crate) fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn range_start(prefix: &[u8]) -> Vec<u8> {
    if prefix.is_empty() {
        vec![0]
    } else {
        prefix.to_vec()
    }
}

impl EtcdStore {
    /// Connects and proves the endpoint answers, so a wrong URL fails here in one line.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &EtcdAccess::default()).await
    }

    /// As `connect`, with TLS material and/or a user (etcdctl's `--cacert`, `--cert`,
    /// `--key`, `--user`). A wrong password or certificate fails here, naming the URL.
    pub async fn connect_with(url: &str, access: &EtcdAccess) -> Result<Self, StoreError> {
        let endpoints: Vec<String> = url
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let bad = |reason: &str| StoreError::Protocol {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        if endpoints.is_empty() {
            return Err(bad("no endpoint given"));
        }
        let https = endpoints
            .iter()
            .filter(|e| e.starts_with("https://"))
            .count();
        let http = endpoints
            .iter()
            .filter(|e| e.starts_with("http://"))
            .count();
        if https > 0 && http > 0 {
            return Err(bad(
                "the endpoints mix http:// and https://: give them all with the same scheme",
            ));
        }
        if http > 0 && !access.tls.is_empty() {
            return Err(bad(
                "a CA or client certificate was given, but the endpoints are http://: use https://",
            ));
        }
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_require_leader(true);
        // Endpoints without a scheme are https once TLS material is given (as etcdctl).
        let tls = https > 0 || !access.tls.is_empty();
        if tls {
            opts = opts.with_tls(tls_options(&access.tls));
        }
        if let Some(c) = &access.credentials {
            // Simple tokens expire (etcd's --auth-token-ttl, 5 min): a long follow logs in again.
            opts = opts
                .with_user(c.user.clone(), c.password.clone())
                .with_auto_token_refresh(true);
        }
        let mut attempt = 0;
        let client = loop {
            attempt += 1;
            match Self::probe(&endpoints, opts.clone(), url).await {
                // A TLS 1.3 server that refuses the client certificate hangs up just after
                // the handshake, and the alert saying why may lose the race with the broken
                // pipe: ask again, then say what it probably is.
                Err(StoreError::Unreachable { reason, .. })
                    if tls && attempt < 3 && hung_up(&reason) => {}
                Err(StoreError::Unreachable { url, reason }) if tls && hung_up(&reason) => {
                    break Err(StoreError::Tls {
                        url,
                        reason: format!(
                            "the server closed the connection right after the TLS handshake, {attempt} times ({reason}): it most likely wants a client certificate it trusts: give a client certificate and key signed by the CA it verifies clients with"
                        ),
                    });
                }
                // A TLS server hangs up on plain HTTP/2 without saying why either.
                Err(StoreError::Unreachable { url, reason }) if !tls && hung_up(&reason) => {
                    break Err(StoreError::Unreachable {
                        url,
                        reason: format!(
                            "{reason} (if the server speaks TLS, use https:// and its CA)"
                        ),
                    });
                }
                other => break other,
            }
        }?;
        Ok(EtcdStore {
            client,
            url: url.to_string(),
        })
    }

    /// One connection (with a login, if any) and a status call on it.
    async fn probe(
        endpoints: &[String],
        opts: ConnectOptions,
        url: &str,
    ) -> Result<Client, StoreError> {
        let connect = Client::connect(endpoints, Some(opts));
        let mut client = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .map_err(|_| timed_out(url))?
            .map_err(|e| map_err(url, e))?;
        tokio::time::timeout(Duration::from_secs(10), client.status())
            .await
            .map_err(|_| timed_out(url))?
            .map_err(|e| map_err(url, e))?;
        Ok(client)
    }

    /// Every key under `prefix` in pages of `page`, all at the first page's revision.
    async fn paged_read(&self, prefix: &[u8], page: i64) -> Result<Snapshot, PagedReadError> {
        let mut kv = self
            .client
            .kv_client()
            .max_decoding_message_size(256 * 1024 * 1024);
        let end = range_end(prefix);
        let mut start = range_start(prefix);
        let mut snap = Snapshot::default();
        let mut rev = 0i64;
        loop {
            let mut opts = GetOptions::new().with_range(end.clone()).with_limit(page);
            if rev > 0 {
                // Every page at the first page's revision: one consistent picture.
                opts = opts.with_revision(rev);
            }
            let mut resp =
                match tokio::time::timeout(CALL_TIMEOUT, kv.get(start.clone(), Some(opts)))
                    .await
                    .map_err(|_| timed_out(&self.url))?
                {
                    Ok(r) => r,
                    Err(e) if rev > 0 && is_compacted(&e) => {
                        return Err(PagedReadError::Compacted {
                            rev,
                            reason: e.to_string(),
                        });
                    }
                    Err(e) => return Err(map_err(&self.url, e).into()),
                };
            if rev == 0 {
                rev = resp.header().map(|h| h.revision()).unwrap_or(0);
            }
            let more = resp.more();
            let kvs = resp.take_kvs();
            let Some(last) = kvs.last().map(|k| k.key().to_vec()) else {
                break;
            };
            for kv in kvs {
                if kv.lease() != 0 {
                    snap.skipped.push(kv.key().to_vec());
                    continue;
                }
                let (key, value) = kv.into_key_value();
                snap.entries.push(Entry {
                    key,
                    value,
                    flags: 0,
                });
            }
            if !more {
                break;
            }
            start = last;
            start.push(0);
        }
        snap.index = u64::try_from(rev).unwrap_or(0);
        Ok(snap)
    }
}

/// Why one paged read did not finish: compaction (start over) or anything else (give up).
enum PagedReadError {
    Compacted { rev: i64, reason: String },
    Store(StoreError),
}

impl From<StoreError> for PagedReadError {
    fn from(e: StoreError) -> Self {
        PagedReadError::Store(e)
    }
}

/// etcd answers a read at a revision older than its compaction point with OutOfRange
/// ("mvcc: required revision has been compacted"); any other OutOfRange is a real error.
fn is_compacted(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s)
        if s.code() == tonic::Code::OutOfRange && s.message().contains("compacted"))
}

/// Keys per page of a snapshot read. `ABSHIFT_SYNC_ETCD_PAGE` lowers it, only so that tests
/// can make a small prefix take many pages (and so be compacted between two of them).
fn page_size() -> i64 {
    std::env::var("ABSHIFT_SYNC_ETCD_PAGE")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(PAGE)
}

impl KvStore for EtcdStore {
    type Feed = EtcdFeed;

    fn url(&self) -> &str {
        &self.url
    }

    fn max_txn_ops(&self) -> usize {
        128
    }

    fn max_txn_bytes(&self) -> usize {
        // etcd refuses requests over 1.5 MiB by default; keep room for framing.
        1024 * 1024
    }

    fn write_parallelism(&self) -> usize {
        // Concurrent proposals share raft's fsyncs: more in flight, fewer syncs per key.
        PAR
    }

    async fn snapshot(&self, prefix: &[u8]) -> Result<Snapshot, StoreError> {
        let page = page_size();
        let mut restarts = 0;
        loop {
            match self.paged_read(prefix, page).await {
                Ok(snap) => return Ok(snap),
                Err(PagedReadError::Store(e)) => return Err(e),
                Err(PagedReadError::Compacted { rev, reason }) => {
                    // The revision the pages were pinned to is gone: the pages read so far
                    // and the rest cannot form one picture. A fresh revision can.
                    restarts += 1;
                    if restarts > MAX_SNAPSHOT_RESTARTS {
                        return Err(StoreError::Unavailable {
                            url: self.url.clone(),
                            reason: format!(
                                "compacted past the read's revision {MAX_SNAPSHOT_RESTARTS} times while the prefix was read page by page ({reason}); compaction runs more often than one read takes"
                            ),
                        });
                    }
                    tracing::warn!(
                        "A ({}) compacted revision {rev} while the prefix was being read page by page: reading it again at a fresh revision (restart {restarts} of {MAX_SNAPSHOT_RESTARTS})",
                        self.url
                    );
                }
            }
        }
    }

    async fn apply(&self, ops: &[Op]) -> Result<(), StoreError> {
        let mut kv = self.client.kv_client();
        let txn_ops: Vec<TxnOp> = ops
            .iter()
            .map(|op| match op {
                Op::Put(e) => TxnOp::put(e.key.clone(), e.value.clone(), None),
                Op::Delete(k) => TxnOp::delete(k.clone(), None),
            })
            .collect();
        tokio::time::timeout(CALL_TIMEOUT, kv.txn(Txn::new().and_then(txn_ops)))
            .await
            .map_err(|_| timed_out(&self.url))?
            .map_err(|e| map_err(&self.url, e))?;
        Ok(())
    }

    async fn follow(
        &self,
        prefix: &[u8],
        after: u64,
        _known_keys: Option<Vec<Vec<u8>>>,
        _allow_empty: bool,
    ) -> Result<EtcdFeed, StoreError> {
        // A store restored from an older backup has a lower revision than the checkpoint:
        // watching "from the future" would silently skip everything up to there.
        let mut kv = self.client.kv_client();
        let probe = GetOptions::new()
            .with_range(range_end(prefix))
            .with_count_only();
        let head = tokio::time::timeout(CALL_TIMEOUT, kv.get(range_start(prefix), Some(probe)))
            .await
            .map_err(|_| timed_out(&self.url))?
            .map_err(|e| map_err(&self.url, e))?
            .header()
            .map(|h| h.revision().max(0) as u64)
            .unwrap_or(0);
        let reset = (head < after).then(|| {
            format!(
                "A's revision {head} is behind the checkpoint's {after} (restored from a backup?)"
            )
        });
        let mut wc = self
            .client
            .watch_client()
            .max_decoding_message_size(256 * 1024 * 1024);
        let opts = WatchOptions::new()
            .with_range(range_end(prefix))
            .with_start_revision(after as i64 + 1)
            .with_progress_notify();
        let stream = tokio::time::timeout(CALL_TIMEOUT, wc.watch(range_start(prefix), Some(opts)))
            .await
            .map_err(|_| timed_out(&self.url))?
            .map_err(|e| map_err(&self.url, e))?;
        Ok(EtcdFeed {
            stream,
            url: self.url.clone(),
            after,
            stash: None,
            reset,
        })
    }
}

pub struct EtcdFeed {
    stream: WatchStream,
    url: String,
    after: u64,
    /// A message read while draining that is not a plain event batch: handled next call.
    stash: Option<Result<Option<WatchResponse>, etcd_client::Error>>,
    reset: Option<String>,
}

enum Classified {
    Events(Vec<Op>, u64, u64),
    Item(FeedItem),
}

impl EtcdFeed {
    fn classify(&self, msg: WatchResponse) -> Result<Classified, StoreError> {
        let head = msg.header().map(|h| h.revision()).unwrap_or(0).max(0) as u64;
        if msg.compact_revision() > 0 {
            return Ok(Classified::Item(FeedItem::Reset(format!(
                "revision {} is compacted (oldest kept: {})",
                self.after + 1,
                msg.compact_revision()
            ))));
        }
        if msg.canceled() {
            let reason = msg.cancel_reason().to_string();
            if reason.contains("compacted") {
                return Ok(Classified::Item(FeedItem::Reset(reason)));
            }
            return Err(StoreError::StreamEnded {
                url: self.url.clone(),
                reason: format!("watch canceled: {reason}"),
            });
        }
        if msg.events().is_empty() {
            if msg.created() {
                return Ok(Classified::Item(FeedItem::Progress {
                    index: self.after,
                    head,
                }));
            }
            // A progress notification: every event up to `head` has been delivered.
            return Ok(Classified::Item(FeedItem::Progress {
                index: head.max(self.after),
                head,
            }));
        }
        let mut max_rev = self.after;
        let mut ops = Vec::with_capacity(msg.events().len());
        for ev in msg.events() {
            let Some(kv) = ev.kv() else { continue };
            max_rev = max_rev.max(kv.mod_revision().max(0) as u64);
            let key = kv.key().to_vec();
            match ev.event_type() {
                // A key bound to a lease is ephemeral: it has no place in B.
                EventType::Put if kv.lease() != 0 => ops.push(Op::Delete(key)),
                EventType::Put => ops.push(Op::Put(Entry {
                    key,
                    value: kv.value().to_vec(),
                    flags: 0,
                })),
                EventType::Delete => ops.push(Op::Delete(key)),
            }
        }
        Ok(Classified::Events(ops, max_rev, head))
    }

    fn ended(
        &self,
        r: Result<Option<WatchResponse>, etcd_client::Error>,
    ) -> Result<WatchResponse, StoreError> {
        match r {
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err(StoreError::StreamEnded {
                url: self.url.clone(),
                reason: "closed by the server".to_string(),
            }),
            Err(e) => Err(match map_err(&self.url, e) {
                StoreError::Unreachable { url, reason } => StoreError::StreamEnded { url, reason },
                other => other,
            }),
        }
    }
}

impl ChangeFeed for EtcdFeed {
    async fn next(&mut self) -> Result<FeedItem, StoreError> {
        if let Some(reason) = self.reset.take() {
            return Ok(FeedItem::Reset(reason));
        }
        let first = match self.stash.take() {
            Some(r) => r,
            None => loop {
                // A quiet prefix still moves A's revision; asking for progress now and then
                // lets the checkpoint follow it, so a restart rarely lands on a compacted one.
                tokio::select! {
                    r = self.stream.message() => break r,
                    _ = tokio::time::sleep(PROGRESS_EVERY) => {
                        self.stream
                            .request_progress()
                            .await
                            .map_err(|e| map_err(&self.url, e))?;
                    }
                }
            },
        };
        let msg = self.ended(first)?;
        let (mut ops, mut index, mut head) = match self.classify(msg)? {
            Classified::Item(item) => {
                if let FeedItem::Progress { index, .. } = &item {
                    self.after = *index;
                }
                return Ok(item);
            }
            Classified::Events(o, i, h) => (o, i, h),
        };
        // Take whatever else is already waiting, so a burst is written in few transactions.
        while ops.len() < MAX_BATCH_EVENTS {
            let Some(r) = self.stream.message().now_or_never() else {
                break;
            };
            let msg = match r {
                Ok(Some(m)) => m,
                other => {
                    self.stash = Some(other);
                    break;
                }
            };
            if msg.events().is_empty() || msg.canceled() || msg.compact_revision() > 0 {
                self.stash = Some(Ok(Some(msg)));
                break;
            }
            if let Classified::Events(o, i, h) = self.classify(msg)? {
                ops.extend(o);
                index = index.max(i);
                head = head.max(h);
            }
        }
        self.after = index;
        Ok(FeedItem::Changes { ops, index, head })
    }
}

#[cfg(test)]
mod tests {
    use super::{is_compacted, map_err, range_end};
    use crate::store::StoreError;

    #[test]
    fn compaction_during_a_read_is_told_apart_from_other_errors() {
        let status =
            |code, msg: &str| etcd_client::Error::GRpcStatus(tonic::Status::new(code, msg));
        let compacted = status(
            tonic::Code::OutOfRange,
            "etcdserver: mvcc: required revision has been compacted",
        );
        assert!(is_compacted(&compacted));
        // Without the restart, this is what the engine saw: a fatal protocol error.
        assert!(matches!(
            map_err("u", compacted),
            StoreError::Protocol { .. }
        ));
        assert!(!is_compacted(&status(
            tonic::Code::OutOfRange,
            "etcdserver: mvcc: required revision is a future revision"
        )));
        assert!(!is_compacted(&status(
            tonic::Code::Unavailable,
            "compacted"
        )));
    }

    #[test]
    fn range_end_increments_last_byte() {
        assert_eq!(range_end(b"a/"), b"a0".to_vec());
        assert_eq!(range_end(b"a\xff"), b"b".to_vec());
        assert_eq!(range_end(b""), vec![0]);
    }
}

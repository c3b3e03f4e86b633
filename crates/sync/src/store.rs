//! The one seam between the replication engine and a concrete store (Consul KV, etcd):
//! a consistent snapshot, a change feed that starts after an index, and batched writes.
//! Also holds the key scope (prefix, excludes, destination rewrite) both sides share.

use std::future::Future;

use sha2::{Digest, Sha256};

/// One key as replicated. `flags` is opaque metadata (Consul's Flags; always 0 for etcd).
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub flags: u64,
}

/// Values are often secrets, and `{:?}` ends up in panics, logs and test failures: show
/// the value's size only.
impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &show_key(&self.key))
            .field(
                "value",
                &format_args!("<{} bytes, redacted>", self.value.len()),
            )
            .field("flags", &self.flags)
            .finish()
    }
}

impl Entry {
    /// What `verify` and the reconcile compare: values never leave the process in clear.
    pub(crate) fn digest(&self) -> [u8; 32] {
        digest_of(&self.value, self.flags)
    }
}

pub(crate) fn digest_of(value: &[u8], flags: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(flags.to_be_bytes());
    h.update(value);
    h.finalize().into()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(Entry),
    Delete(Vec<u8>),
}

impl Op {
    pub(crate) fn key(&self) -> &[u8] {
        match self {
            Op::Put(e) => &e.key,
            Op::Delete(k) => k,
        }
    }

    /// Rough wire size, used to keep a transaction under the store's request limit.
    pub(crate) fn size(&self) -> usize {
        match self {
            Op::Put(e) => e.key.len() + e.value.len() + 32,
            Op::Delete(k) => k.len() + 32,
        }
    }
}

/// Everything under a raw prefix at one index.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub entries: Vec<Entry>,
    pub index: u64,
    /// Why this read cannot be trusted to decide deletions (no known leader, ACL-filtered).
    pub suspect: Option<String>,
    /// Keys held by a session (Consul) or attached to a lease (etcd): ephemeral, never copied.
    pub skipped: Vec<Vec<u8>>,
}

/// What a change feed hands to the engine.
#[derive(Debug)]
pub enum FeedItem {
    /// Changes in source order; after applying them B reflects A up to `index`.
    Changes { ops: Vec<Op>, index: u64, head: u64 },
    /// Nothing to apply, but A is known to be replicated up to `index`.
    Progress { index: u64, head: u64 },
    /// The feed cannot continue from where it is: the engine must reconcile from scratch.
    Reset(String),
    /// A's answer looked wrong (empty, filtered, leaderless); nothing was applied, retry later.
    Suspect(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "{url} refused the credentials ({reason}): check the token, user or password given for it"
    )]
    PermissionDenied { url: String, reason: String },
    /// The TLS handshake failed: a wrong CA, a missing or untrusted client certificate.
    #[error("{url}: {reason}")]
    Tls { url: String, reason: String },
    #[error("{url}: {reason}")]
    Protocol { url: String, reason: String },
    #[error("{url}: the watch was cut off: {reason}")]
    StreamEnded { url: String, reason: String },
    #[error("{url} answered but cannot serve now: {reason}")]
    Unavailable { url: String, reason: String },
}

impl StoreError {
    /// Worth retrying in follow mode; a rejected token or a protocol error is not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unreachable { .. }
                | StoreError::StreamEnded { .. }
                | StoreError::Unavailable { .. }
        )
    }
}

/// Both stores implement this; the engine is written once against it.
pub trait KvStore: Clone + Send + Sync + 'static {
    type Feed: ChangeFeed;

    /// The address, for messages.
    fn url(&self) -> &str;
    /// Most operations one write transaction may hold.
    fn max_txn_ops(&self) -> usize;
    /// Most bytes (approximate) one write transaction may hold.
    fn max_txn_bytes(&self) -> usize;
    /// Transactions on distinct keys the store can usefully take at once.
    fn write_parallelism(&self) -> usize {
        4
    }
    /// Whether `follow` needs the set of keys B currently holds (Consul derives deletes
    /// by comparing listings; etcd gets delete events).
    fn feed_needs_known_keys(&self) -> bool {
        false
    }

    /// Every key under the raw `prefix`, read at one index.
    fn snapshot(&self, prefix: &[u8]) -> impl Future<Output = Result<Snapshot, StoreError>> + Send;

    /// Write one transaction: all operations or none, on distinct keys.
    fn apply(&self, ops: &[Op]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Changes under `prefix` strictly after `after`. `allow_empty` says whether a feed
    /// that derives deletions from listings (Consul) may pass on "the whole prefix is gone":
    /// the initial copy refuses an empty A without `--allow-empty`, and so must the feed.
    /// etcd ignores it: its deletes are A's own events, one per key.
    fn follow(
        &self,
        prefix: &[u8],
        after: u64,
        known_keys: Option<Vec<Vec<u8>>>,
        allow_empty: bool,
    ) -> impl Future<Output = Result<Self::Feed, StoreError>> + Send;
}

pub trait ChangeFeed: Send + 'static {
    fn next(&mut self) -> impl Future<Output = Result<FeedItem, StoreError>> + Send;
}

/// Which keys are replicated and where they land in B.
///
/// A prefix without a trailing `/` means the key itself plus the subtree `prefix/`,
/// never `prefixanything` (consul-replicate's `global` also copying `globalization`).
#[derive(Debug, Clone)]
pub struct Scope {
    pub prefix: Vec<u8>,
    pub dest_prefix: Vec<u8>,
    pub excludes: Vec<Vec<u8>>,
}

pub fn path_match(prefix: &[u8], key: &[u8]) -> bool {
    if prefix.is_empty() || prefix.ends_with(b"/") {
        return key.starts_with(prefix);
    }
    key.starts_with(prefix) && (key.len() == prefix.len() || key[prefix.len()] == b'/')
}

impl Scope {
    pub fn new(prefix: &str, dest_prefix: Option<&str>, excludes: &[String]) -> Scope {
        Scope {
            prefix: prefix.as_bytes().to_vec(),
            dest_prefix: dest_prefix.unwrap_or(prefix).as_bytes().to_vec(),
            excludes: excludes.iter().map(|e| e.as_bytes().to_vec()).collect(),
        }
    }

    fn excluded_rel(&self, rel: &[u8]) -> bool {
        // Excludes are written as full source keys.
        self.excludes.iter().any(|ex| {
            let mut full = self.prefix.clone();
            full.extend_from_slice(rel);
            path_match(ex, &full)
        })
    }

    /// Source key → its place relative to the prefix, if it is replicated.
    pub(crate) fn source_rel<'a>(&self, key: &'a [u8]) -> Option<&'a [u8]> {
        if !path_match(&self.prefix, key) {
            return None;
        }
        let rel = &key[self.prefix.len()..];
        (!self.excluded_rel(rel)).then_some(rel)
    }

    /// Destination key → its place relative to the destination prefix, if it is managed.
    pub(crate) fn dest_rel<'a>(&self, key: &'a [u8]) -> Option<&'a [u8]> {
        if !path_match(&self.dest_prefix, key) {
            return None;
        }
        let rel = &key[self.dest_prefix.len()..];
        (!self.excluded_rel(rel)).then_some(rel)
    }

    pub(crate) fn to_dest(&self, rel: &[u8]) -> Vec<u8> {
        let mut k = self.dest_prefix.clone();
        k.extend_from_slice(rel);
        k
    }

    pub(crate) fn to_source(&self, rel: &[u8]) -> Vec<u8> {
        let mut k = self.prefix.clone();
        k.extend_from_slice(rel);
        k
    }

    /// Rewrite a source operation for B, or drop it when out of scope.
    pub(crate) fn map_op(&self, op: Op) -> Option<Op> {
        match op {
            Op::Put(e) => {
                let key = self.to_dest(self.source_rel(&e.key)?);
                Some(Op::Put(Entry { key, ..e }))
            }
            Op::Delete(k) => Some(Op::Delete(self.to_dest(self.source_rel(&k)?))),
        }
    }
}

/// Keys are bytes; print them readably without letting control characters through.
pub fn show_key(key: &[u8]) -> String {
    let s = String::from_utf8_lossy(key);
    s.chars().flat_map(|c| c.escape_debug()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_value() {
        let e = Entry {
            key: b"app/db/password".to_vec(),
            value: b"hunter2".to_vec(),
            flags: 3,
        };
        let shown = format!("{:?} {:?}", e, Op::Put(e.clone()));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("104, 117"), "{shown}"); // nor its bytes
        assert!(
            shown.contains("app/db/password") && shown.contains("7 bytes"),
            "{shown}"
        );
    }

    #[test]
    fn prefix_is_a_path_not_a_string_prefix() {
        assert!(path_match(b"global", b"global"));
        assert!(path_match(b"global", b"global/a"));
        assert!(!path_match(b"global", b"globalization/a"));
        assert!(path_match(b"global/", b"global/a"));
        assert!(path_match(b"", b"anything"));
    }

    #[test]
    fn scope_rewrites_and_excludes() {
        let s = Scope::new("app/", Some("mirror/app/"), &["app/secret".to_string()]);
        assert_eq!(s.source_rel(b"app/x"), Some(&b"x"[..]));
        assert_eq!(s.source_rel(b"app/secret/k"), None);
        assert_eq!(s.source_rel(b"app/secrets"), Some(&b"secrets"[..]));
        assert_eq!(s.to_dest(b"x"), b"mirror/app/x".to_vec());
        assert_eq!(s.dest_rel(b"mirror/app/secret"), None);
        assert_eq!(s.dest_rel(b"other"), None);
    }
}

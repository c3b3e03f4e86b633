//! Lock, last-switch record and audit trail in the state bucket. The lock is an
//! object created only if absent (S3 `If-None-Match: *`), so two operators can
//! never switch the same load balancer at once; the record is what `rollback`
//! restores; the audit trail is one immutable object per operation.
//!
//! A switch can legitimately run for `--health-timeout` + `--drain-timeout`
//! (up to two hours), far longer than a lock may look idle before it counts
//! as stale: so the holder rewrites its lock while it works ([`keep_alive`]),
//! and both that rewrite and the take-over of a stale lock are conditional on
//! the version read (`If-Match`), so that exactly one writer wins.
//!
//! Breaking a lock does not stop its old holder, so the lock is also a fence:
//! it carries a generation (one more than the lock it took over), and the
//! holder reads it back before every change ([`LockFence`]); a holder that
//! finds another token or generation there, or no lock, stops with `LockLost`.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::burn::BurnDownRecord;
use super::error::ElbError;
use super::fence::Fence;
use super::model::{LbRef, StateStore, StoredObject};
use super::names::{S3_AUDIT_DIR, S3_LOCK_OBJECT, S3_STATE_OBJECT};
use super::smoke::SmokeRecord;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockRecord {
    pub owner: String,
    /// Random per acquisition: how a holder recognises its own lock.
    pub token: String,
    /// The fencing token: 1 for a lock taken while none was held, the broken
    /// lock's generation + 1 for a take-over, kept by renewals; so it counts
    /// the take-overs since the lock was last free (the bucket keeps nothing
    /// once a lock is released, so it starts again at 1). The fence compares
    /// it together with `token`, which alone tells holders apart for good.
    /// 0 in locks written before generations existed.
    #[serde(default)]
    pub generation: u64,
    pub operation: String,
    pub created_at: DateTime<Utc>,
    /// Last rewrite by the holder while it works: proof of life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Written before the first change; still there after a crash.
    Started,
    Completed,
    RolledBack,
    /// The automatic rollback after a failure did not finish.
    RollbackIncomplete,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Started => "started",
            Phase::Completed => "completed",
            Phase::RolledBack => "rolled-back",
            Phase::RollbackIncomplete => "rollback-incomplete",
        }
    }
}

/// The last switch of one load balancer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SwitchRecord {
    pub operation_id: String,
    pub lb: LbRef,
    pub by: String,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    pub from_cluster: Option<String>,
    pub to_cluster: String,
    /// Membership before the switch: what `rollback` restores.
    pub before: Vec<String>,
    pub register: Vec<String>,
    pub deregister: Vec<String>,
    pub phase: Phase,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuditRecord {
    pub operation: String,
    pub operation_id: String,
    pub who: String,
    pub when: DateTime<Utc>,
    pub lb: String,
    pub lb_kind: String,
    pub from: Option<String>,
    pub to: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
    pub result: String,
    #[serde(default)]
    pub detail: Option<String>,
    /// Every smoke check the switch ran, in order: result, exit or HTTP
    /// status, and the tail of its output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub smoke: Vec<SmokeRecord>,
    /// The wait for the old members to go idle (`--wait-burn-down`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burn_down: Option<BurnDownRecord>,
}

#[derive(Debug, Clone)]
pub struct LockOptions {
    pub break_lock: bool,
    pub stale_after: Duration,
}

/// A held lock; give it back with [`release`].
#[derive(Debug)]
pub(crate) struct Lock {
    key: String,
    record: LockRecord,
    lb: String,
    /// Version of the lock object as last read back: what a renewal replaces.
    etag: Mutex<Option<String>>,
}

impl Lock {
    #[cfg(test)]
    pub(crate) fn generation(&self) -> u64 {
        self.record.generation
    }

    /// The fence every membership change of this lock's holder goes through.
    pub(crate) fn fence<'a, S: StateStore>(&'a self, store: &'a S) -> LockFence<'a, S> {
        LockFence { store, lock: self }
    }
}

/// Reads the lock back before each change: `LockLost`, naming whoever holds
/// it now, once it is not ours (other token or generation, or gone). One GET
/// per register or deregister.
pub(crate) struct LockFence<'a, S> {
    store: &'a S,
    lock: &'a Lock,
}

impl<S: StateStore> Fence for LockFence<'_, S> {
    async fn check(&self) -> Result<(), ElbError> {
        verify(self.store, self.lock).await
    }
}

pub fn lock_key(lb: &LbRef) -> String {
    format!("{}/{S3_LOCK_OBJECT}", lb.folder())
}

pub(crate) fn state_key(lb: &LbRef) -> String {
    format!("{}/{S3_STATE_OBJECT}", lb.folder())
}

pub(crate) fn audit_prefix(lb: &LbRef) -> String {
    format!("{}/{S3_AUDIT_DIR}/", lb.folder())
}

/// Unique enough to tell two operations apart: time, process and a counter, hashed.
pub(crate) fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = Utc::now();
    let mut h = Sha256::new();
    h.update(now.timestamp_nanos_opt().unwrap_or(0).to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.update(who().as_bytes());
    let digest = hex::encode(h.finalize());
    format!("{}-{}", now.format("%Y%m%dT%H%M%S%.3fZ"), &digest[..8])
}

/// The operator, as the audit trail names them: local user at host.
pub fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{user}@{host}")
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).expect("records always serialise");
    out.push(b'\n');
    out
}

fn from_json<T: for<'de> Deserialize<'de>>(key: &str, body: &[u8]) -> Result<T, ElbError> {
    serde_json::from_slice(body).map_err(|e| ElbError::CorruptState {
        key: key.to_string(),
        message: e.to_string(),
    })
}

/// Takes the lock of `lb`, or says who holds it.
///
/// A write whose answer is lost (timeout, connection reset, 5xx) may still
/// have been applied, and then the lock object is ours although the answer
/// said nothing: so after such an error the lock is read back, and a lock
/// carrying our token is ours, not "held by" us.
pub(crate) async fn acquire<S: StateStore>(
    store: &S,
    lb: &LbRef,
    owner: &str,
    operation: &str,
    opts: &LockOptions,
    now: DateTime<Utc>,
) -> Result<Lock, ElbError> {
    let key = lock_key(lb);
    let mut record = LockRecord {
        owner: owner.to_string(),
        token: new_id(),
        generation: 1,
        operation: operation.to_string(),
        created_at: now,
        renewed_at: None,
    };
    let held_by_us = |record: LockRecord, etag: Option<String>| Lock {
        key: key.clone(),
        record,
        lb: lb.name.clone(),
        etag: Mutex::new(etag),
    };
    let mut broke = false;
    // The last write whose answer was lost, for the error if we never find out.
    let mut unanswered: Option<ElbError> = None;
    // Three rounds at most: after a stale lock was broken, after the holder
    // released between our put and our read, or after a lost answer.
    for _ in 0..3 {
        match store.put_if_absent(&key, to_json(&record)).await {
            Ok(true) => {
                let lock = held_by_us(record, None);
                verify(store, &lock).await?;
                return Ok(lock);
            }
            Ok(false) => {}
            Err(e) if may_have_applied(&e) => unanswered = Some(e),
            Err(e) => return Err(e),
        }
        let existing = match store.get(&key).await {
            Ok(existing) => existing,
            Err(read) => return Err(unknown_outcome(lb, owner, unanswered, read)),
        };
        let Some(existing) = existing else {
            // Free again (released, or our put was not applied): try again.
            continue;
        };
        let held: LockRecord = from_json(&key, &existing.body)?;
        if held.token == record.token {
            // Our own write, applied although its answer was lost.
            tracing::info!(
                "the lock of {} was taken by this command although S3's answer was lost",
                lb.name
            );
            return Ok(held_by_us(held, existing.etag));
        }
        let since = existing
            .last_modified
            .unwrap_or(held.renewed_at.unwrap_or(held.created_at));
        let age = now.signed_duration_since(since);
        let stale = age.to_std().is_ok_and(|a| a > opts.stale_after);
        if stale && opts.break_lock && !broke {
            broke = true;
            tracing::warn!(owner = %held.owner, "breaking stale lock of {}", lb.name);
            record.generation = held.generation.saturating_add(1);
            match take_over(store, &key, &existing, to_json(&record)).await {
                Ok(true) => {
                    let lock = held_by_us(record, None);
                    verify(store, &lock).await?;
                    return Ok(lock);
                }
                // Someone else took it over or released it first: look again.
                Ok(false) => {}
                // Perhaps applied: the next round's read tells.
                Err(e) if may_have_applied(&e) => unanswered = Some(e),
                Err(e) => return Err(e),
            }
            continue;
        }
        return Err(ElbError::LockHeld {
            lb: lb.name.clone(),
            owner: held.owner,
            operation: held.operation,
            since: since.to_rfc3339(),
            age_secs: age.num_seconds(),
            stale,
            stale_after_secs: opts.stale_after.as_secs(),
        });
    }
    Err(unanswered.unwrap_or_else(|| ElbError::Transient {
        action: "s3:PutObject (lock)",
        message: format!(
            "the lock of {} kept changing while this command tried to take it; \
             see `abshift elb status` for who holds it, and try again",
            lb.name
        ),
    }))
}

/// Errors after which a write may or may not have happened: no answer, a
/// server error, or one we cannot classify. A refusal (credentials, access)
/// means it did not.
fn may_have_applied(e: &ElbError) -> bool {
    matches!(e, ElbError::Transient { .. } | ElbError::Aws { .. })
}

/// A lock write whose answer was lost, and the read that should have told
/// whether it was applied failed too: say so, and how to get out of it.
fn unknown_outcome(
    lb: &LbRef,
    owner: &str,
    unanswered: Option<ElbError>,
    read: ElbError,
) -> ElbError {
    match unanswered {
        None => read,
        Some(put) => ElbError::Transient {
            action: "s3:PutObject (lock)",
            message: format!(
                "taking the lock of {} got no answer ({put}), and reading it back failed ({read}): \
                 if `abshift elb status` shows a lock of {owner}, it is this attempt's; \
                 take it over with --break-lock once it is stale",
                lb.name
            ),
        },
    }
}

/// Replaces the stale lock `existing` with ours only if it is still that very
/// version: of two operators breaking the same stale lock, one wins and the
/// other sees a fresh lock. A store without version tags gets the old
/// delete-then-create, which cannot tell two breakers apart (documented).
async fn take_over<S: StateStore>(
    store: &S,
    key: &str,
    existing: &StoredObject,
    body: Vec<u8>,
) -> Result<bool, ElbError> {
    match &existing.etag {
        Some(etag) => store.put_if_match(key, body, etag).await,
        None => {
            store.delete(key).await?;
            store.put_if_absent(key, body).await
        }
    }
}

/// How often a held lock is rewritten: a third of this operator's
/// `--lock-stale-after`, but at least once a minute, because whoever may try
/// to break the lock judges its age by their own setting, not ours.
pub(crate) fn renew_every(stale_after: Duration) -> Duration {
    (stale_after / 3).clamp(Duration::from_millis(100), Duration::from_secs(60))
}

/// Rewrites our lock with a new timestamp (so its age starts again), only if
/// it is still the version we last read; fails with `LockLost` when someone
/// else holds it now.
pub(crate) async fn renew<S: StateStore>(
    store: &S,
    lock: &Lock,
    now: DateTime<Utc>,
) -> Result<(), ElbError> {
    let mut record = lock.record.clone();
    record.renewed_at = Some(now);
    // Two rounds: the second when our remembered version was out of date
    // although the lock is still ours (read back in between).
    for _ in 0..2 {
        let etag = lock.etag.lock().unwrap().clone();
        let written = match etag {
            Some(etag) => {
                store
                    .put_if_match(&lock.key, to_json(&record), &etag)
                    .await?
            }
            None => {
                verify(store, lock).await?;
                store.put(&lock.key, to_json(&record)).await?;
                true
            }
        };
        // Confirms the token and remembers the new version for next time.
        verify(store, lock).await?;
        if written {
            return Ok(());
        }
    }
    Err(ElbError::LockLost {
        lb: lock.lb.clone(),
        owner: "an unknown writer (the lock object keeps changing)".into(),
        generation: None,
    })
}

/// Runs `work` while renewing `lock` every `every`. A failed renewal is
/// reported through `warn` and does not stop the work: cutting a switch off in
/// the middle of an API call would leave it not knowing what it changed.
/// A lost lock stops the work anyway, at its next change ([`LockFence`]), and
/// the release at the end refuses to delete a lock that is no longer ours.
pub(crate) async fn keep_alive<S: StateStore, T>(
    store: &S,
    lock: &Lock,
    every: Duration,
    warn: &dyn Fn(String),
    work: impl Future<Output = T>,
) -> T {
    let renewing = async {
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = renew(store, lock, Utc::now()).await {
                warn(format!("could not renew the lock of {}: {e}", lock.lb));
                if matches!(e, ElbError::LockLost { .. }) {
                    break;
                }
            }
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        out = work => out,
        () = renewing => unreachable!("renewing never ends"),
    }
}

/// Reads the lock back and fails with `LockLost` unless it is still ours
/// (same token and generation): the fence before every change, and the guard
/// for stores that ignore `If-None-Match` (the later writer wins there, and
/// the earlier one sees a foreign token).
pub(crate) async fn verify<S: StateStore>(store: &S, lock: &Lock) -> Result<(), ElbError> {
    match store.get(&lock.key).await? {
        Some(obj) => {
            let held: LockRecord = from_json(&lock.key, &obj.body)?;
            if held.token == lock.record.token && held.generation == lock.record.generation {
                *lock.etag.lock().unwrap() = obj.etag;
                Ok(())
            } else {
                Err(ElbError::LockLost {
                    lb: lock.lb.clone(),
                    owner: held.owner,
                    generation: Some(held.generation),
                })
            }
        }
        None => Err(ElbError::LockLost {
            lb: lock.lb.clone(),
            owner: crate::error::NOBODY.into(),
            generation: None,
        }),
    }
}

/// Gives the lock back, but only if it is still ours.
pub(crate) async fn release<S: StateStore>(store: &S, lock: Lock) -> Result<(), ElbError> {
    verify(store, &lock).await?;
    store.delete(&lock.key).await
}

pub async fn read_record<S: StateStore>(
    store: &S,
    lb: &LbRef,
) -> Result<Option<SwitchRecord>, ElbError> {
    let key = state_key(lb);
    match store.get(&key).await? {
        Some(obj) => Ok(Some(from_json(&key, &obj.body)?)),
        None => Ok(None),
    }
}

pub async fn read_lock<S: StateStore>(
    store: &S,
    lb: &LbRef,
) -> Result<Option<LockRecord>, ElbError> {
    let key = lock_key(lb);
    match store.get(&key).await? {
        Some(obj) => Ok(Some(from_json(&key, &obj.body)?)),
        None => Ok(None),
    }
}

pub(crate) async fn write_record<S: StateStore>(
    store: &S,
    record: &SwitchRecord,
) -> Result<(), ElbError> {
    store.put(&state_key(&record.lb), to_json(record)).await
}

/// Appends one audit record; never overwrites (create-only, unique key).
pub(crate) async fn append_audit<S: StateStore>(
    store: &S,
    lb: &LbRef,
    record: &AuditRecord,
) -> Result<(), ElbError> {
    let key = format!(
        "{}{}-{}.json",
        audit_prefix(lb),
        record.operation_id,
        record.operation
    );
    let body = to_json(record);
    if store.put_if_absent(&key, body.clone()).await? {
        Ok(())
    } else if store.get(&key).await?.is_some_and(|o| o.body == body) {
        // A retry after a write whose answer was lost: it is there already.
        Ok(())
    } else {
        Err(ElbError::CorruptState {
            key,
            message: "an audit record with this id already exists".into(),
        })
    }
}

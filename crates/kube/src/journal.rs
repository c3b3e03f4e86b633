//! The apply journal (`PLAN.json.journal`) lists every object B confirmed, so an
//! apply killed at any point resumes without redoing work; it must never claim
//! more than it holds, so a failed write stops the run and a torn file is repaired.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use abshift_core::model::ObjectRef;
use abshift_core::outcome::Outcome;

use crate::files::{parent_dir, sync_dir};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot use journal {path}: {detail}")]
    Io { path: String, detail: String },
    #[error(
        "journal {path} belongs to plan {found}, not to plan {expected}: apply the plan it was written for, or move the journal away to start over"
    )]
    Foreign {
        path: String,
        found: String,
        expected: String,
    },
    #[error(
        "cannot write journal {path}: {detail}; apply stopped so that no object counts as done without being recorded. Fix the cause (a full disk? permissions?) and run apply again: it resumes from what the journal holds"
    )]
    WriteFailed { path: String, detail: String },
    #[error(
        "journal {path} is damaged: its first line is not a journal header, yet entries follow it. Move the file away (keep it: it lists what an earlier apply finished) and run apply again, which then re-applies every object"
    )]
    Corrupt { path: String },
    #[error(
        "another `abshift migrate apply` of this plan is running ({holder}; lock {path}): wait for it to finish or stop it. The lock is released automatically when that process exits, so a killed run never leaves a stale lock and there is nothing to delete"
    )]
    Busy { path: String, holder: String },
    #[error(
        "cannot take the apply lock {path}: {detail}; the plan's directory must be writable and its file system must support file locks"
    )]
    Lock { path: String, detail: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(rename = "ref")]
    pub object: ObjectRef,
    /// What B did; `Outcome::journaled` decides which outcomes are kept.
    pub outcome: Outcome,
    /// The object's UID in B, so owners can be found again after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    plan: String,
    checksum: String,
}

pub fn path_for(plan: &Path) -> PathBuf {
    let mut p = plan.as_os_str().to_owned();
    p.push(".journal");
    PathBuf::from(p)
}

/// A new plan written over an old one must not inherit the old plan's journal
/// (apply would refuse it as foreign). Moves it to `<journal>.<old plan id>` and
/// returns where, so the record of the earlier apply is kept, not lost.
pub fn set_aside(plan: &Path, new_plan_id: &str) -> Result<Option<PathBuf>, JournalError> {
    let path = path_for(plan);
    let io = |e: std::io::Error| JournalError::Io {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let old = serde_json::from_slice::<Header>(first)
        .map(|h| h.plan)
        .unwrap_or_else(|_| "unknown".into());
    if old == new_plan_id {
        return Ok(None);
    }
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".{old}"));
    let aside = PathBuf::from(aside);
    std::fs::rename(&path, &aside).map_err(io)?;
    sync_dir(parent_dir(&path)).map_err(io)?;
    Ok(Some(aside))
}

/// What a journal file holds, as both `load` and `open` read it. Only complete
/// lines (ending in '\n') count: a process killed mid-write leaves a torn last
/// line, and that object is simply done again.
enum Contents {
    /// Empty, or a header with no complete line after it (killed while writing
    /// the header): nothing was recorded, the journal starts afresh.
    Fresh,
    /// The first line is not a header but complete lines follow it.
    Corrupt,
    /// A header; entries in `bytes[body..complete]`; a torn tail after `complete`.
    Journal {
        header: Header,
        body: usize,
        complete: usize,
    },
}

fn classify(bytes: &[u8]) -> Contents {
    let Some(first_end) = bytes.iter().position(|&b| b == b'\n') else {
        return Contents::Fresh;
    };
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    match serde_json::from_slice::<Header>(&bytes[..first_end]) {
        Ok(header) => Contents::Journal {
            header,
            body: first_end + 1,
            complete,
        },
        Err(_) if complete == first_end + 1 => Contents::Fresh,
        Err(_) => Contents::Corrupt,
    }
}

fn check_plan(
    header: Header,
    shown: &str,
    plan_id: &str,
    checksum: &str,
) -> Result<(), JournalError> {
    if header.plan == plan_id && header.checksum == checksum {
        return Ok(());
    }
    Err(JournalError::Foreign {
        path: shown.to_string(),
        found: header.plan,
        expected: plan_id.to_string(),
    })
}

/// Reads what an earlier run finished. A torn last line is ignored (that object
/// is done again), as is a torn header with nothing after it; a damaged header
/// with entries after it is an error, as in `Journal::open`.
pub fn load(
    path: &Path,
    plan_id: &str,
    checksum: &str,
) -> Result<HashMap<ObjectRef, Entry>, JournalError> {
    let shown = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => {
            return Err(JournalError::Io {
                path: shown,
                detail: e.to_string(),
            });
        }
    };
    let (body, complete) = match classify(&bytes) {
        Contents::Fresh => return Ok(HashMap::new()),
        Contents::Corrupt => return Err(JournalError::Corrupt { path: shown }),
        Contents::Journal {
            header,
            body,
            complete,
        } => {
            check_plan(header, &shown, plan_id, checksum)?;
            (body, complete)
        }
    };
    let mut done = HashMap::new();
    for line in bytes[body..complete].split(|&b| b == b'\n') {
        if let Ok(entry) = serde_json::from_slice::<Entry>(line) {
            done.insert(entry.object.clone(), entry);
        }
    }
    Ok(done)
}

/// Where the writer task puts entries: the journal file, or a stand-in in tests.
trait Sink: Send + 'static {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    fn sync(&mut self) -> std::io::Result<()>;
}

impl Sink for File {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_all(bytes)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_data()
    }
}

/// The shortest time between two journal fsyncs. A crash loses at most the
/// entries of the last interval: those objects are in B, and a re-run finds
/// them there (a POST answered 409 becomes a server-side apply).
pub const SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// Handle to the writer task, which groups queued entries into one write and
/// one fsync. Its first failure is kept in `failed` and ends it, so `record`
/// and `failed` report it at once and nothing is written after a gap.
pub struct Journal {
    path: String,
    tx: Option<mpsc::UnboundedSender<Entry>>,
    failed: Arc<OnceLock<String>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Journal {
    /// Opens (creating if needed) the journal for appending. A torn last line is
    /// cut off and a torn header (with nothing after it) is written afresh, so
    /// new entries never follow damage; a damaged header with entries after it
    /// is `Corrupt`, and a journal of another plan is `Foreign`.
    pub fn open(path: &Path, plan_id: &str, checksum: &str) -> Result<Journal, JournalError> {
        let shown = path.display().to_string();
        let err = |e: std::io::Error| JournalError::Io {
            path: shown.clone(),
            detail: e.to_string(),
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(err)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(err)?;
        match classify(&bytes) {
            Contents::Fresh => {
                if !bytes.is_empty() {
                    tracing::warn!(journal = %shown, "torn journal header with nothing after it; starting the journal afresh");
                }
                let header = serde_json::to_string(&Header {
                    plan: plan_id.to_string(),
                    checksum: checksum.to_string(),
                })
                .expect("header serialises");
                // A crash from here on leaves an empty file or a torn header:
                // both are `Fresh` again on the next run.
                file.set_len(0).map_err(err)?;
                file.write_all(format!("{header}\n").as_bytes())
                    .map_err(err)?;
                file.sync_all().map_err(err)?;
                // The new name must survive a power cut with the entries in it.
                sync_dir(parent_dir(path)).map_err(err)?;
            }
            Contents::Corrupt => return Err(JournalError::Corrupt { path: shown }),
            Contents::Journal {
                header, complete, ..
            } => {
                check_plan(header, &shown, plan_id, checksum)?;
                if complete < bytes.len() {
                    tracing::warn!(journal = %shown, "cutting off a torn last journal line before appending");
                    file.set_len(complete as u64).map_err(err)?;
                    file.sync_all().map_err(err)?;
                }
            }
        }
        Ok(Journal::start(shown, file))
    }

    fn start(path: String, mut sink: impl Sink) -> Journal {
        let failed = Arc::new(OnceLock::new());
        let slot = Arc::clone(&failed);
        let (tx, mut rx) = mpsc::unbounded_channel::<Entry>();
        let task = tokio::task::spawn_blocking(move || {
            let mut buf = String::new();
            let mut last_sync: Option<std::time::Instant> = None;
            while let Some(first) = rx.blocking_recv() {
                // At most one fsync per SYNC_INTERVAL: each one competes with
                // B's own etcd for the disk when both share it (the local
                // clusters do). The entries of the interval wait and go together.
                if let Some(wait) = last_sync.and_then(|t| SYNC_INTERVAL.checked_sub(t.elapsed())) {
                    std::thread::sleep(wait);
                }
                last_sync = Some(std::time::Instant::now());
                buf.clear();
                push_line(&mut buf, &first);
                // Group commit: everything already queued goes out with one fsync.
                while let Ok(more) = rx.try_recv() {
                    push_line(&mut buf, &more);
                }
                if let Err(e) = sink.append(buf.as_bytes()).and_then(|()| sink.sync()) {
                    // Set before `rx` is dropped, so a refused send finds it.
                    let _ = slot.set(e.to_string());
                    return;
                }
            }
        });
        Journal {
            path,
            tx: Some(tx),
            failed,
            task: Some(task),
        }
    }

    /// Queues `entry` for the writer. `Ok` means queued, not yet durable (only
    /// `close` confirms that); `Err` means the writer has failed and stopped:
    /// the caller must launch no more writes and report the error.
    pub fn record(&self, entry: Entry) -> Result<(), JournalError> {
        if let Some(e) = self.failed() {
            return Err(e);
        }
        match &self.tx {
            Some(tx) if tx.send(entry).is_ok() => Ok(()),
            _ => Err(self.failed().unwrap_or_else(|| self.stopped())),
        }
    }

    /// The writer's error, once it has failed (it writes nothing after that).
    pub fn failed(&self) -> Option<JournalError> {
        if let Some(detail) = self.failed.get() {
            return Some(JournalError::WriteFailed {
                path: self.path.clone(),
                detail: detail.clone(),
            });
        }
        match &self.tx {
            Some(tx) if tx.is_closed() => Some(self.stopped()),
            _ => None,
        }
    }

    fn stopped(&self) -> JournalError {
        JournalError::WriteFailed {
            path: self.path.clone(),
            detail: "the journal writer stopped unexpectedly".into(),
        }
    }

    /// Flushes everything recorded so far and stops the writer; `Ok` means
    /// every recorded entry is on disk.
    pub async fn close(mut self) -> Result<(), JournalError> {
        self.tx.take();
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            return Err(JournalError::WriteFailed {
                path: self.path.clone(),
                detail: format!("the journal writer stopped: {e}"),
            });
        }
        match self.failed() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn push_line(buf: &mut String, entry: &Entry) {
    buf.push_str(&serde_json::to_string(entry).expect("entry serialises"));
    buf.push('\n');
}

/// Keeps a second `abshift migrate apply` of the same plan out while this one
/// runs: an exclusive OS lock on `<journal>.lock`, released when this is
/// dropped or the process exits (so a killed run leaves no stale lock).
#[derive(Debug)]
pub struct ApplyLock {
    file: File,
    path: PathBuf,
}

impl ApplyLock {
    /// Takes the lock for the journal at `journal_path` without waiting:
    /// `Busy` if another process holds it.
    pub fn acquire(journal_path: &Path) -> Result<ApplyLock, JournalError> {
        let mut path = journal_path.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        let shown = path.display().to_string();
        let err = |e: std::io::Error| JournalError::Lock {
            path: shown.clone(),
            detail: e.to_string(),
        };
        // Not truncated before the lock is ours: it names the holder.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "holder unknown".into());
                return Err(JournalError::Busy {
                    path: shown,
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(err(e)),
        }
        let holder = format!(
            "pid {}, started {}\n",
            std::process::id(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        file.set_len(0).map_err(err)?;
        file.write_all(holder.as_bytes()).map_err(err)?;
        Ok(ApplyLock { file, path })
    }

    /// The lock file, `<journal>.lock`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ApplyLock {
    fn drop(&mut self) {
        // Still ours here; the lock itself goes with the file handle. The file
        // stays: removing it would let two runs lock two different files.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn an_old_plans_journal_is_set_aside_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("p.json");
        assert_eq!(set_aside(&plan, "new").unwrap(), None);
        std::fs::write(
            path_for(&plan),
            "{\"plan\":\"old1\",\"checksum\":\"c\"}\n{\"torn\n",
        )
        .unwrap();
        let aside = set_aside(&plan, "new").unwrap().unwrap();
        assert!(aside.to_string_lossy().ends_with("p.json.journal.old1"));
        assert!(!path_for(&plan).exists());
        assert!(std::fs::read_to_string(aside).unwrap().contains("old1"));
    }

    fn entry(name: &str) -> Entry {
        Entry {
            object: ObjectRef {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("a".into()),
                name: name.into(),
            },
            outcome: Outcome::Created,
            uid: Some("u".into()),
        }
    }

    fn append_raw(path: &Path, bytes: &[u8]) {
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(bytes).unwrap();
    }

    /// Waits for the writer task to fail; no sleep stands in for the wait.
    async fn wait_failed(j: &Journal) -> JournalError {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(e) = j.failed() {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "the writer's error never surfaced"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    #[tokio::test]
    async fn records_survive_reopen_and_torn_lines_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json.journal");
        let j = Journal::open(&path, "plan1", "sha256:x").unwrap();
        j.record(entry("one")).unwrap();
        j.record(entry("two")).unwrap();
        assert!(j.failed().is_none());
        j.close().await.unwrap();
        // A crash mid-write leaves half a line.
        append_raw(&path, b"{\"ref\":{\"apiVersion\":\"v1\",\"kind\":\"Con");
        let done = load(&path, "plan1", "sha256:x").unwrap();
        assert_eq!(done.len(), 2);
        assert!(done.contains_key(&entry("one").object));
    }

    #[tokio::test]
    async fn a_journal_of_another_plan_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json.journal");
        Journal::open(&path, "plan1", "sha256:x")
            .unwrap()
            .close()
            .await
            .unwrap();
        assert!(matches!(
            load(&path, "plan2", "sha256:y"),
            Err(JournalError::Foreign { .. })
        ));
        assert!(matches!(
            Journal::open(&path, "plan2", "sha256:y"),
            Err(JournalError::Foreign { .. })
        ));
        assert!(
            load(&dir.path().join("absent"), "plan1", "c")
                .unwrap()
                .is_empty()
        );
    }

    /// Stands in for a file whose writes (or fsyncs) fail, e.g. a full disk.
    struct Failing {
        fail_sync: bool,
        appends: Arc<AtomicUsize>,
    }

    impl Sink for Failing {
        fn append(&mut self, _: &[u8]) -> std::io::Result<()> {
            self.appends.fetch_add(1, Ordering::SeqCst);
            if self.fail_sync {
                Ok(())
            } else {
                Err(std::io::Error::other("No space left on device"))
            }
        }
        fn sync(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::other("Input/output error"))
        }
    }

    #[tokio::test]
    async fn a_write_error_surfaces_through_record_at_once() {
        for fail_sync in [false, true] {
            let appends = Arc::new(AtomicUsize::new(0));
            let j = Journal::start(
                "/plans/p.json.journal".into(),
                Failing {
                    fail_sync,
                    appends: Arc::clone(&appends),
                },
            );
            j.record(entry("one")).unwrap();
            let e = wait_failed(&j).await;
            assert!(matches!(e, JournalError::WriteFailed { .. }), "{e:?}");
            let msg = e.to_string();
            assert!(msg.contains("/plans/p.json.journal"), "{msg}");
            assert!(msg.contains(if fail_sync {
                "Input/output"
            } else {
                "No space"
            }));
            assert!(msg.contains("run apply again"), "{msg}");
            // Every later record is refused, and nothing more is written.
            for name in ["two", "three"] {
                assert!(matches!(
                    j.record(entry(name)),
                    Err(JournalError::WriteFailed { .. })
                ));
            }
            assert!(matches!(
                j.close().await,
                Err(JournalError::WriteFailed { .. })
            ));
            assert_eq!(appends.load(Ordering::SeqCst), 1);
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_full_disk_surfaces_through_record() {
        let full = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let j = Journal::start("p.json.journal".into(), full);
        j.record(entry("one")).unwrap();
        let e = wait_failed(&j).await;
        assert!(e.to_string().contains("No space left"), "{e}");
        assert!(j.record(entry("two")).is_err());
        assert!(j.close().await.is_err());
    }

    #[tokio::test]
    async fn a_torn_tail_is_cut_off_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json.journal");
        let j = Journal::open(&path, "plan1", "c").unwrap();
        j.record(entry("one")).unwrap();
        j.record(entry("two")).unwrap();
        j.close().await.unwrap();
        append_raw(&path, b"{\"ref\":{\"apiVersion\":\"v1\",\"kind\":\"Con");

        let j = Journal::open(&path, "plan1", "c").unwrap();
        j.record(entry("four")).unwrap();
        j.close().await.unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'), "{text}");
        assert_eq!(text.lines().count(), 4, "{text}");
        let done = load(&path, "plan1", "c").unwrap();
        assert_eq!(done.len(), 3, "{text}");
        for name in ["one", "two", "four"] {
            assert!(done.contains_key(&entry(name).object), "{name}: {text}");
        }
    }

    #[tokio::test]
    async fn a_torn_header_with_nothing_after_starts_afresh() {
        for torn in ["{\"plan\":\"pl", "\0\0\0\0", "garbage\n{\"ref\":{\"api"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p.json.journal");
            std::fs::write(&path, torn).unwrap();
            assert!(load(&path, "plan1", "c").unwrap().is_empty(), "{torn:?}");

            let j = Journal::open(&path, "plan1", "c").unwrap();
            j.record(entry("one")).unwrap();
            j.close().await.unwrap();

            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with("{\"plan\":\"plan1\",\"checksum\":\"c\"}\n"),
                "{torn:?}: {text}"
            );
            assert_eq!(text.lines().count(), 2, "{torn:?}: {text}");
            assert_eq!(load(&path, "plan1", "c").unwrap().len(), 1, "{torn:?}");
        }
    }

    #[tokio::test]
    async fn a_damaged_header_with_entries_after_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json.journal");
        let line = serde_json::to_string(&entry("one")).unwrap();
        let text = format!("{{\"plan\":\"pl\n{line}\n");
        std::fs::write(&path, &text).unwrap();

        let e = load(&path, "plan1", "c").unwrap_err();
        assert!(matches!(e, JournalError::Corrupt { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("Move the file away"), "{msg}");
        assert!(matches!(
            Journal::open(&path, "plan1", "c"),
            Err(JournalError::Corrupt { .. })
        ));
        // Left exactly as it was, for the operator to look at.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn a_second_apply_of_the_same_plan_is_refused_while_the_first_runs() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("p.json.journal");
        let first = ApplyLock::acquire(&journal).unwrap();
        assert!(
            first
                .path()
                .to_string_lossy()
                .ends_with("p.json.journal.lock")
        );

        let e = ApplyLock::acquire(&journal).unwrap_err();
        let JournalError::Busy { path, holder } = &e else {
            panic!("{e:?}");
        };
        assert!(path.ends_with("p.json.journal.lock"), "{path}");
        assert!(
            holder.contains(&format!("pid {}", std::process::id())),
            "{holder}"
        );
        let msg = e.to_string();
        assert!(msg.contains("another `abshift migrate apply`"), "{msg}");
        assert!(msg.contains("released automatically"), "{msg}");

        drop(first);
        let again = ApplyLock::acquire(&journal).unwrap();
        assert!(ApplyLock::acquire(&journal).is_err());
        drop(again);
    }

    #[test]
    fn a_journal_in_a_missing_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("p.json.journal");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let e = Journal::open(&path, "plan1", "c").err().unwrap();
        assert!(e.to_string().contains("no-such-dir"), "{e}");
        let e = ApplyLock::acquire(&path).unwrap_err();
        assert!(e.to_string().contains("no-such-dir"), "{e}");
    }
}

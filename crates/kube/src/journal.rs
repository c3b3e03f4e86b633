//! The apply journal: an append-only log beside the plan (`PLAN.json.journal`)
//! of every object B has confirmed. A re-run skips what it lists, so an apply
//! killed at any point resumes without redoing work. Writes are grouped and
//! fsync'd by one writer task; losing the last group to a crash only means
//! redoing those objects, which server-side apply makes harmless.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use abshift_core::model::ObjectRef;
use abshift_core::outcome::Outcome;

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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(rename = "ref")]
    pub object: ObjectRef,
    /// created, updated, unchanged or skipped (`Outcome::journaled`).
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
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let old = text
        .lines()
        .next()
        .and_then(|l| serde_json::from_str::<Header>(l).ok())
        .map(|h| h.plan)
        .unwrap_or_else(|| "unknown".into());
    if old == new_plan_id {
        return Ok(None);
    }
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".{old}"));
    let aside = PathBuf::from(aside);
    std::fs::rename(&path, &aside).map_err(io)?;
    Ok(Some(aside))
}

/// Reads what an earlier run finished. A torn last line (the process was killed
/// mid-write) is ignored: that object is simply done again.
pub fn load(
    path: &Path,
    plan_id: &str,
    checksum: &str,
) -> Result<HashMap<ObjectRef, Entry>, JournalError> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => {
            return Err(JournalError::Io {
                path: shown,
                detail: e.to_string(),
            });
        }
    };
    let mut lines = text.lines();
    match lines.next().map(serde_json::from_str::<Header>) {
        Some(Ok(h)) if h.plan == plan_id && h.checksum == checksum => {}
        Some(Ok(h)) => {
            return Err(JournalError::Foreign {
                path: shown,
                found: h.plan,
                expected: plan_id.to_string(),
            });
        }
        Some(Err(_)) | None => return Ok(HashMap::new()),
    }
    let mut done = HashMap::new();
    for line in lines {
        if let Ok(entry) = serde_json::from_str::<Entry>(line) {
            done.insert(entry.object.clone(), entry);
        }
    }
    Ok(done)
}

/// Handle to the writer task.
pub struct Journal {
    tx: Option<mpsc::UnboundedSender<Entry>>,
    task: Option<tokio::task::JoinHandle<Result<(), JournalError>>>,
}

impl Journal {
    /// Opens (creating if needed) the journal for appending.
    pub fn open(path: &Path, plan_id: &str, checksum: &str) -> Result<Journal, JournalError> {
        let shown = path.display().to_string();
        let err = |e: std::io::Error| JournalError::Io {
            path: shown.clone(),
            detail: e.to_string(),
        };
        let exists = path.metadata().map(|m| m.len() > 0).unwrap_or(false);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        if !exists {
            let header = serde_json::to_string(&Header {
                plan: plan_id.to_string(),
                checksum: checksum.to_string(),
            })
            .expect("header serialises");
            writeln!(file, "{header}").map_err(err)?;
            file.sync_all().map_err(err)?;
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<Entry>();
        let task = tokio::task::spawn_blocking(move || {
            let err = |e: std::io::Error| JournalError::Io {
                path: shown.clone(),
                detail: e.to_string(),
            };
            let mut buf = String::new();
            while let Some(first) = rx.blocking_recv() {
                buf.clear();
                push_line(&mut buf, &first);
                // Group commit: everything already queued goes out with one fsync.
                while let Ok(more) = rx.try_recv() {
                    push_line(&mut buf, &more);
                }
                file.write_all(buf.as_bytes()).map_err(err)?;
                file.sync_data().map_err(err)?;
            }
            Ok(())
        });
        Ok(Journal {
            tx: Some(tx),
            task: Some(task),
        })
    }

    pub fn record(&self, entry: Entry) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(entry);
        }
    }

    /// Flushes everything recorded so far and stops the writer.
    pub async fn close(mut self) -> Result<(), JournalError> {
        self.tx.take();
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| {
                Err(JournalError::Io {
                    path: "journal".into(),
                    detail: e.to_string(),
                })
            }),
            None => Ok(()),
        }
    }
}

fn push_line(buf: &mut String, entry: &Entry) {
    buf.push_str(&serde_json::to_string(entry).expect("entry serialises"));
    buf.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test]
    async fn records_survive_reopen_and_torn_lines_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json.journal");
        let j = Journal::open(&path, "plan1", "sha256:x").unwrap();
        j.record(entry("one"));
        j.record(entry("two"));
        j.close().await.unwrap();
        // A crash mid-write leaves half a line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"ref\":{\"apiVersion\":\"v1\",\"kind\":\"Con")
            .unwrap();
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
        assert!(
            load(&dir.path().join("absent"), "plan1", "c")
                .unwrap()
                .is_empty()
        );
    }
}

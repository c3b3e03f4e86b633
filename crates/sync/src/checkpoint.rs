//! The checkpoint file: the last index of A that B is known to reflect, so a restarted
//! `--follow` resumes from there instead of copying everything again.
//! Written to a temporary file, synced and renamed over the old one: never half-written.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// 2 added `excludes`. A format 1 file does not say which keys it left out, so it cannot
/// prove that skipping the reconcile is safe: it is refused like a corrupt one.
const FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: u32,
    pub store: String,
    pub from: String,
    pub to: String,
    pub prefix: String,
    pub dest_prefix: String,
    /// The `--exclude` prefixes, sorted and deduplicated. Part of the identity: a key an
    /// earlier run excluded was never copied, and resuming without a reconcile would
    /// leave it missing in B for good.
    #[serde(default)]
    pub excludes: Vec<String>,
    pub index: u64,
    pub updated: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {path} is corrupt ({reason}); delete it to start with a full copy")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "checkpoint {path} was written for a different sync ({what}: {found:?}, now {wanted:?}); use another file or delete it"
    )]
    Mismatch {
        path: PathBuf,
        what: &'static str,
        found: String,
        wanted: String,
    },
    #[error("cannot {action} checkpoint {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Checkpoint {
    pub fn new(
        store: &str,
        from: &str,
        to: &str,
        prefix: &str,
        dest_prefix: &str,
        excludes: &[String],
    ) -> Self {
        let mut excludes = excludes.to_vec();
        excludes.sort();
        excludes.dedup();
        Checkpoint {
            format: FORMAT,
            store: store.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            prefix: prefix.to_string(),
            dest_prefix: dest_prefix.to_string(),
            excludes,
            index: 0,
            updated: String::new(),
        }
    }

    /// Reads `path` if it exists and checks it belongs to the sync described by `want`.
    pub fn load(path: &Path, want: &Checkpoint) -> Result<Option<Checkpoint>, CheckpointError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CheckpointError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let cp: Checkpoint =
            serde_json::from_slice(&text).map_err(|e| CheckpointError::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        if cp.format != FORMAT {
            return Err(CheckpointError::Corrupt {
                path: path.to_path_buf(),
                reason: match cp.format {
                    1 => "format 1 does not record the --exclude set".to_string(),
                    f => format!("unknown format {f}"),
                },
            });
        }
        if cp.index == 0 {
            return Err(CheckpointError::Corrupt {
                path: path.to_path_buf(),
                reason: "index 0".to_string(),
            });
        }
        let (found_ex, wanted_ex) = (show_excludes(&cp.excludes), show_excludes(&want.excludes));
        let checks: [(&'static str, &String, &String); 6] = [
            ("store", &cp.store, &want.store),
            ("source", &cp.from, &want.from),
            ("destination", &cp.to, &want.to),
            ("prefix", &cp.prefix, &want.prefix),
            ("destination prefix", &cp.dest_prefix, &want.dest_prefix),
            // Refused rather than reconciled: a change of scope is the operator's call.
            ("excludes", &found_ex, &wanted_ex),
        ];
        for (what, found, wanted) in checks {
            if found != wanted {
                return Err(CheckpointError::Mismatch {
                    path: path.to_path_buf(),
                    what,
                    found: found.clone(),
                    wanted: wanted.clone(),
                });
            }
        }
        Ok(Some(cp))
    }

    /// Atomically replaces `path` with this checkpoint at `index`.
    pub fn save(&mut self, path: &Path, index: u64) -> Result<(), CheckpointError> {
        self.index = index;
        self.updated = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let io = |action: &'static str| {
            let path = path.to_path_buf();
            move |source| CheckpointError::Io {
                action,
                path,
                source,
            }
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "checkpoint".to_string());
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let body = serde_json::to_vec_pretty(self).expect("checkpoint serialises");
        let result = (|| {
            let mut f = std::fs::File::create(&tmp).map_err(io("write"))?;
            f.write_all(&body).map_err(io("write"))?;
            f.write_all(b"\n").map_err(io("write"))?;
            f.sync_all().map_err(io("sync"))?;
            std::fs::rename(&tmp, path).map_err(io("replace"))?;
            // The rename is durable only once the directory is: a checkpoint
            // that may vanish on a power cut is not reported as saved.
            std::fs::File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(io("sync the directory of"))?;
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// The exclude set as one comparable, printable string ("" when there is none).
fn show_excludes(excludes: &[String]) -> String {
    let mut v = excludes.to_vec();
    v.sort();
    v.dedup();
    v.iter()
        .map(|e| format!("--exclude {e}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let want = Checkpoint::new("etcd", "a", "b", "p/", "p/", &[]);
        assert!(Checkpoint::load(&path, &want).unwrap().is_none());
        let mut cp = want.clone();
        cp.save(&path, 42).unwrap();
        assert_eq!(Checkpoint::load(&path, &want).unwrap().unwrap().index, 42);
        let other = Checkpoint::new("etcd", "a", "b", "q/", "q/", &[]);
        assert!(matches!(
            Checkpoint::load(&path, &other),
            Err(CheckpointError::Mismatch { .. })
        ));
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            Checkpoint::load(&path, &want),
            Err(CheckpointError::Corrupt { .. })
        ));
    }

    #[test]
    fn excludes_are_part_of_the_identity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let ex = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut cp = Checkpoint::new("etcd", "a", "b", "p/", "p/", &ex(&["p/x", "p/a"]));
        cp.save(&path, 7).unwrap();
        // Order and repetition do not matter; the set does.
        let same = Checkpoint::new("etcd", "a", "b", "p/", "p/", &ex(&["p/a", "p/x", "p/a"]));
        assert_eq!(Checkpoint::load(&path, &same).unwrap().unwrap().index, 7);
        for other in [ex(&[]), ex(&["p/a"]), ex(&["p/a", "p/x", "p/y"])] {
            let want = Checkpoint::new("etcd", "a", "b", "p/", "p/", &other);
            match Checkpoint::load(&path, &want) {
                Err(
                    e @ CheckpointError::Mismatch {
                        what: "excludes", ..
                    },
                ) => {
                    assert!(e.to_string().contains("--exclude p/a --exclude p/x"), "{e}");
                }
                r => panic!("resumed with excludes {other:?}: {r:?}"),
            }
        }
        // A file from before excludes were recorded cannot vouch for them.
        let mut old: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        old["format"] = 1.into();
        old.as_object_mut().unwrap().remove("excludes");
        std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
        match Checkpoint::load(&path, &same) {
            Err(e @ CheckpointError::Corrupt { .. }) => {
                assert!(e.to_string().contains("--exclude"), "{e}")
            }
            r => panic!("{r:?}"),
        }
    }
}

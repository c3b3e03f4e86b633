//! Files abshift leaves behind for an operator (plans, reports, journals) are
//! written so that a crash or a full disk never leaves half of one: temporary
//! file in the same directory, fsync, rename, then fsync of the directory.

use std::io::Write;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {detail}")]
pub struct WriteError {
    pub path: String,
    pub detail: String,
}

/// Writes `text` to `path` atomically: a failure never leaves a half-written
/// file, and once this returns the new name survives a power cut.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), WriteError> {
    write_atomically_with(path, |w| w.write_all(text.as_bytes()))
}

/// Like [`write_atomically`], with the contents streamed by `write` (a plan
/// of 50,000 objects is not built as one string first).
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let shown = path.display().to_string();
    let err = |e: std::io::Error| WriteError {
        path: shown.clone(),
        detail: e.to_string(),
    };
    let dir = parent_dir(path);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        write(&mut out).map_err(err)?;
        out.flush().map_err(err)?;
    }
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    sync_dir(dir).map_err(err)
}

/// The directory a file name lives in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Makes a rename or a newly created file in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing-dir").join("plan.json");
        assert!(write_atomically(&target, "{}").is_err());
        assert!(!target.exists());
        let ok = dir.path().join("plan.json");
        write_atomically(&ok, "{}").unwrap();
        assert_eq!(std::fs::read_to_string(ok).unwrap(), "{}");
    }

    #[test]
    fn writes_whole_files_and_leaves_nothing_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plan.json");
        write_atomically(&p, "one").unwrap();
        write_atomically(&p, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let missing = dir.path().join("no-such-dir").join("plan.json");
        let e = write_atomically(&missing, "x").unwrap_err();
        assert!(e.to_string().contains("no-such-dir"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

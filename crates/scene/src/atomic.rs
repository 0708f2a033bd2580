//! Atomic file writes: the content goes to a temporary file in the destination's folder, is
//! flushed to disk, then renamed over the destination, so a reader never sees half a file and an
//! interrupted write leaves the old file (or none) in place.

use crate::{Result, SceneError};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes `path` atomically with the bytes `write` produces. Creates missing parent folders.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| SceneError::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // A temporary file is private (0600); the output it becomes gets a plain file's mode
    // (0666 less the umask), as if created directly.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let tmp = builder
        .tempfile_in(dir)
        .map_err(|e| SceneError::io(dir, e))?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        write(&mut w).map_err(|e| SceneError::io(path, e))?;
        w.flush().map_err(|e| SceneError::io(path, e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| SceneError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| SceneError::io(path, e.error))?;
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

/// Whether a file name is one of [`write_atomic`]'s temporaries (`.NAME.XXXXXX.tmp`).
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp") && name.len() > ".tmp".len() + 1
}

/// Removes, under `dir` and its subfolders, the temporaries that a killed process left: files
/// named as [`write_atomic`] names them, and those whose names are in `also`. Returns their
/// paths. Only for a folder no other process is writing to: a live write's temporary goes too.
pub fn remove_stale_temporaries(dir: &Path, also: &[&str]) -> Result<Vec<std::path::PathBuf>> {
    let mut removed = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(SceneError::io(&d, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| SceneError::io(&d, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| SceneError::io(&path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && (is_temporary(&name) || also.contains(&name.as_str())) {
                std::fs::remove_file(&path).map_err(|e| SceneError::io(&path, e))?;
                removed.push(path);
            }
        }
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn outputs_get_a_plain_file_mode_not_a_temporary_file_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_atomic_bytes(&p, b"{}").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        // Whatever the umask, a plain file is readable by its group and others unless the umask
        // says otherwise; a 0600 temporary file would not be. The usual umask 022 gives 0644.
        let umask = {
            let probe = dir.path().join("probe");
            std::fs::write(&probe, b"").unwrap();
            0o666 & !std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode, 0o666 & !umask, "mode {mode:o}, umask {umask:o}");
    }

    #[test]
    fn failed_write_keeps_old_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic_bytes(&p, b"old").unwrap();
        let err = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk on fire"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "temporary file left behind: {names:?}");
    }

    #[test]
    fn creates_parent_folders() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x/y/z.bin");
        write_atomic_bytes(&p, &[1, 2, 3]).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), [1, 2, 3]);
    }

    #[test]
    fn stale_temporaries_are_found_in_subfolders_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("images");
        std::fs::create_dir_all(&sub).unwrap();
        let keep = ["a.png", ".hidden", "notes.tmp", "x.db"];
        let stale = [
            ".a.png.Xy12Ab.tmp",
            ".point_cloud.ply.q8Zz01.tmp",
            "x.db.tmp",
        ];
        for n in keep.iter().chain(&stale) {
            std::fs::write(sub.join(n), b"1").unwrap();
            std::fs::write(dir.path().join(n), b"1").unwrap();
        }
        let removed = remove_stale_temporaries(dir.path(), &["x.db.tmp"]).unwrap();
        assert_eq!(removed.len(), 2 * stale.len());
        for n in keep {
            assert!(sub.join(n).exists() && dir.path().join(n).exists(), "{n}");
        }
        for n in stale {
            assert!(!sub.join(n).exists() && !dir.path().join(n).exists(), "{n}");
        }
    }
}

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
}

//! Stage records of `splat run`: `W/<stage>.done.json` says a stage finished, from which inputs
//! (content digests) and with which options, and what it wrote (sizes and digests). A stage is
//! reused only when its record's key — the digest of the splat version, the stage's options and
//! its inputs — is today's key and every output it lists is still there, unchanged.
//! `W/<stage>.started.json` holds the key of a stage that began, so an interrupted stage resumes
//! only work made with the same inputs and options.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A file's size and BLAKE3 digest, with its path relative to the folder it was listed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub path: String,
    pub bytes: u64,
    pub blake3: String,
}

/// What `W/<stage>.done.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DoneRecord {
    pub stage: String,
    pub key: String,
    pub splat_version: String,
    pub options: Vec<String>,
    pub inputs: Vec<FileDigest>,
    pub outputs: Vec<FileDigest>,
    /// Seconds since the Unix epoch when the stage finished.
    pub finished_unix_s: u64,
    pub seconds: f64,
    pub peak_memory_bytes: u64,
}

/// What `W/<stage>.started.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StartedRecord {
    stage: String,
    key: String,
}

fn digest_file(path: &Path) -> Result<(u64, String)> {
    let mut hasher = blake3::Hasher::new();
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes = std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok((bytes, hasher.finalize().to_hex().to_string()))
}

/// Every file under `root/rel` (a file or a folder, searched recursively), sorted by path;
/// missing entries list nothing.
pub fn digest_paths(root: &Path, rels: &[&str]) -> Result<Vec<FileDigest>> {
    let mut files = Vec::new();
    for rel in rels {
        collect(&root.join(rel), &mut files)?;
    }
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let (bytes, blake3) = digest_file(&p)?;
            let rel = p.strip_prefix(root).unwrap_or(&p);
            Ok(FileDigest {
                path: rel.to_string_lossy().replace('\\', "/"),
                bytes,
                blake3,
            })
        })
        .collect()
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if meta.is_file() {
        out.push(path.to_path_buf());
    } else if meta.is_dir() {
        for e in std::fs::read_dir(path).with_context(|| format!("listing {}", path.display()))? {
            collect(&e?.path(), out)?;
        }
    }
    Ok(())
}

/// The key of a stage run: version, stage, options and input digests (paths included).
pub fn key(stage: &str, options: &[String], inputs: &[FileDigest]) -> String {
    let mut h = blake3::Hasher::new();
    for part in [env!("CARGO_PKG_VERSION"), stage] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    for o in options {
        h.update(o.as_bytes());
        h.update(&[0]);
    }
    for f in inputs {
        h.update(f.path.as_bytes());
        h.update(&[0]);
        h.update(f.blake3.as_bytes());
        h.update(&[0]);
    }
    h.finalize().to_hex().to_string()
}

fn done_path(w: &Path, stage: &str) -> PathBuf {
    w.join(format!("{stage}.done.json"))
}

fn started_path(w: &Path, stage: &str) -> PathBuf {
    w.join(format!("{stage}.started.json"))
}

/// The stage's record when it is complete for `key`: same key, every listed output unchanged.
/// Returns why not otherwise (for the log).
pub fn complete(w: &Path, stage: &str, key: &str) -> std::result::Result<DoneRecord, String> {
    let path = done_path(w, stage);
    let text = std::fs::read_to_string(&path).map_err(|_| "not run before".to_string())?;
    let rec: DoneRecord = serde_json::from_str(&text)
        .map_err(|e| format!("{} is unreadable ({e})", path.display()))?;
    if rec.key != key {
        return Err("its inputs or options changed".into());
    }
    let rels: Vec<&str> = rec.outputs.iter().map(|f| f.path.as_str()).collect();
    let now = digest_paths(w, &rels).map_err(|e| format!("{e:#}"))?;
    if now != rec.outputs {
        return Err("its outputs are missing or were changed".into());
    }
    Ok(rec)
}

/// Records that a stage is starting with `key`; returns whether the same key had started before
/// (so that its partial work can be resumed). Removes the stage's old done record.
pub fn start(w: &Path, stage: &str, key: &str) -> Result<bool> {
    let path = started_path(w, stage);
    let resumable = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<StartedRecord>(&t).ok())
        .is_some_and(|r| r.key == key);
    let done = done_path(w, stage);
    if done.exists() {
        std::fs::remove_file(&done).with_context(|| format!("removing {}", done.display()))?;
    }
    let rec = StartedRecord {
        stage: stage.into(),
        key: key.into(),
    };
    splat_scene::write_atomic_bytes(&path, &serde_json::to_vec_pretty(&rec)?)?;
    Ok(resumable)
}

/// Writes the done record (atomically) and drops the started record.
pub fn finish(w: &Path, rec: &DoneRecord) -> Result<()> {
    splat_scene::write_atomic_bytes(&done_path(w, &rec.stage), &serde_json::to_vec_pretty(rec)?)?;
    let _ = std::fs::remove_file(started_path(w, &rec.stage));
    Ok(())
}

/// Seconds since the Unix epoch.
pub fn now_unix_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_complete_until_an_output_or_the_key_changes() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path();
        std::fs::create_dir_all(w.join("sub")).unwrap();
        std::fs::write(w.join("a.txt"), "alpha").unwrap();
        std::fs::write(w.join("sub/b.txt"), "beta").unwrap();
        let outputs = digest_paths(w, &["a.txt", "sub", "missing"]).unwrap();
        assert_eq!(
            outputs.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["a.txt", "sub/b.txt"]
        );
        assert_eq!(outputs[0].bytes, 5);
        assert_eq!(
            outputs[0].blake3,
            blake3::hash(b"alpha").to_hex().to_string()
        );
        let k = key("train", &["--steps".into(), "10".into()], &outputs);
        assert_ne!(k, key("train", &["--steps".into(), "11".into()], &outputs));
        assert!(!start(w, "train", &k).unwrap());
        assert!(start(w, "train", &k).unwrap(), "same key resumes");
        let rec = DoneRecord {
            stage: "train".into(),
            key: k.clone(),
            splat_version: "x".into(),
            options: vec![],
            inputs: vec![],
            outputs,
            finished_unix_s: now_unix_s(),
            seconds: 1.0,
            peak_memory_bytes: 0,
        };
        finish(w, &rec).unwrap();
        assert!(!w.join("train.started.json").exists());
        assert!(complete(w, "train", &k).is_ok());
        assert!(
            complete(w, "train", "other")
                .unwrap_err()
                .contains("changed")
        );
        std::fs::write(w.join("sub/b.txt"), "bets").unwrap();
        assert!(complete(w, "train", &k).unwrap_err().contains("outputs"));
        assert!(complete(w, "sfm", &k).unwrap_err().contains("not run"));
    }
}

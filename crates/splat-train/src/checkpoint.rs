//! Training checkpoints: everything a run needs to continue bit for bit — the parameters, the
//! Adam moments and step counts, the densification statistics, the step and the position in
//! the shuffled view order (all later randomness is derived from the seed and these).
//!
//! File layout: the magic line `splat-checkpoint 1\n`, a little-endian u64 with the length of
//! a JSON header, the header (scalars and the name and length of each array), then the arrays
//! as little-endian f32 in header order. A hand-written container because the payload is a
//! handful of large f32 arrays that must round-trip exactly; written atomically.
//!
//! Beside each checkpoint a run writes its model as a preview, `step_000123.spz` (Niantic's
//! compact format, ~25 bytes a Gaussian against the checkpoint's ~700): what `splat view
//! s3://…` fetches to follow a cloud run, and a file any spz viewer opens. Pruning removes a
//! preview with its checkpoint.

use crate::model::Gaussians32;
use crate::sh::coeff_count;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"splat-checkpoint 1\n";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error(transparent)]
    Write(#[from] splat_scene::SceneError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A checkpoint whose model arrays are missing or disagree with its count.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint at step {step}: {message}")]
pub struct BadModel {
    pub step: u32,
    pub message: String,
}

/// The scalar part of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Steps completed.
    pub step: u32,
    pub seed: u64,
    /// Passes over the training views started so far, and the views left in the current one.
    pub epoch: u64,
    pub order: Vec<usize>,
    pub count: u32,
    pub sh_degree: u32,
    /// Adam steps per parameter group.
    pub adam_steps: Vec<u32>,
    /// Training wall time before this checkpoint, in seconds, summed over restarts (set by the
    /// caller that times the run; absent in older checkpoints).
    #[serde(default)]
    pub elapsed_s: f64,
    /// What the run was made with (`run::settings`: the training settings and a digest of the
    /// data); a resume with other settings is refused. Absent in older checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Value>,
    /// Name and length (floats) of each array that follows the header.
    pub arrays: Vec<(String, u64)>,
}

/// A whole checkpoint in host memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub header: Header,
    pub data: Vec<Vec<f32>>,
}

impl Checkpoint {
    /// A checkpoint of `arrays` (name, floats) in this order; `header.arrays` is set from them.
    pub fn from_arrays(mut header: Header, arrays: Vec<(String, Vec<f32>)>) -> Self {
        header.arrays = arrays
            .iter()
            .map(|(n, a)| (n.clone(), a.len() as u64))
            .collect();
        Self {
            header,
            data: arrays.into_iter().map(|(_, a)| a).collect(),
        }
    }

    /// The array called `name`.
    pub fn array(&self, name: &str) -> Option<&[f32]> {
        self.header
            .arrays
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| self.data[i].as_slice())
    }

    /// The model at this checkpoint's step (what a run in progress has learned so far), checked
    /// against the header's count and SH degree.
    pub fn model(&self) -> Result<Gaussians32, BadModel> {
        let h = &self.header;
        let bad = |message: String| BadModel {
            step: h.step,
            message,
        };
        let get = |name: &str| {
            self.array(name)
                .map(<[f32]>::to_vec)
                .ok_or_else(|| bad(format!("no array '{name}'")))
        };
        let g = Gaussians32 {
            sh_degree: h.sh_degree,
            means: get("means")?,
            log_scales: get("log_scales")?,
            quats: get("quats")?,
            opacities: get("opacities")?,
            sh: get("sh")?,
        };
        let n = h.count as usize;
        if h.sh_degree > 3 {
            return Err(bad(format!("SH degree {} (0-3 expected)", h.sh_degree)));
        }
        if g.means.len() != 3 * n
            || g.log_scales.len() != 3 * n
            || g.quats.len() != 4 * n
            || g.opacities.len() != n
            || g.sh.len() != 3 * coeff_count(h.sh_degree) * n
        {
            return Err(bad("its parameter arrays disagree with its count".into()));
        }
        Ok(g)
    }

    #[allow(
        clippy::expect_used,
        reason = "a header of numbers, strings and lists always serialises"
    )]
    pub fn to_bytes(&self) -> Vec<u8> {
        let floats: usize = self.data.iter().map(Vec::len).sum();
        let mut out = head_bytes(&self.header, 4 * floats).expect("a header always serialises");
        for a in &self.data {
            for v in a {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, CheckpointError> {
        let corrupt = |message: String| CheckpointError::Corrupt {
            path: path.to_owned(),
            message,
        };
        if !bytes.starts_with(MAGIC) {
            return Err(corrupt("not a splat checkpoint (bad magic)".into()));
        }
        let (header, start) = match read_head(bytes).map_err(corrupt)? {
            Head::Complete { header, start } => (header, start),
            Head::Needs(_) if bytes.len() < MAGIC.len() + 8 => {
                return Err(corrupt("truncated before the header length".into()));
            }
            Head::Needs(n) => {
                let expected = n - MAGIC.len() - 8;
                return Err(corrupt(format!(
                    "truncated header ({expected} bytes expected)"
                )));
            }
        };
        let mut rest = &bytes[start..];
        let mut data = Vec::with_capacity(header.arrays.len());
        for (name, floats) in &header.arrays {
            let n = usize::try_from(*floats)
                .ok()
                .and_then(|f| f.checked_mul(4))
                .filter(|&b| b <= rest.len())
                .ok_or_else(|| corrupt(format!("array '{name}' is truncated")))?;
            let (a, r) = rest.split_at(n);
            data.push(
                a.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            );
            rest = r;
        }
        if !rest.is_empty() {
            return Err(corrupt(format!(
                "{} bytes after the last array",
                rest.len()
            )));
        }
        Ok(Self { header, data })
    }

    /// Writes to `path` atomically (a temporary file renamed into place).
    pub fn write(&self, path: &Path) -> Result<(), CheckpointError> {
        Ok(splat_scene::write_atomic_bytes(path, &self.to_bytes())?)
    }

    pub fn read(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(path, &bytes)
    }
}

/// A checkpoint file's start — the magic line, the header's length, the header — in a buffer
/// with room for `data_bytes` more.
fn head_bytes(header: &Header, data_bytes: usize) -> Result<Vec<u8>, serde_json::Error> {
    let json = serde_json::to_vec(header)?;
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + json.len() + data_bytes);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

/// How far the first bytes of a checkpoint file go towards its header.
#[derive(Debug, Clone, PartialEq)]
pub enum Head {
    /// The header, and the offset in the file where its arrays begin.
    Complete { header: Header, start: usize },
    /// The header ends past the bytes given: the file's first `n` bytes hold it (or, before
    /// the header's length is there, at least `n`).
    Needs(usize),
}

/// The header of a checkpoint file that begins with `bytes` (the whole file or its start).
pub fn read_head(bytes: &[u8]) -> Result<Head, String> {
    let lead = MAGIC.len() + 8;
    if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
        return Ok(Head::Needs(lead));
    }
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or("not a splat checkpoint (bad magic)")?;
    let Some(word) = rest.get(..8) else {
        return Ok(Head::Needs(lead));
    };
    let mut le = [0u8; 8];
    le.copy_from_slice(word);
    let start = usize::try_from(u64::from_le_bytes(le))
        .ok()
        .and_then(|len| len.checked_add(lead))
        .ok_or("the header's length is out of range")?;
    let Some(head) = bytes.get(lead..start) else {
        return Ok(Head::Needs(start));
    };
    let header = serde_json::from_slice(head).map_err(|e| format!("unreadable header: {e}"))?;
    Ok(Head::Complete { header, start })
}

/// The model's arrays, in the order a trainer's checkpoint begins with them.
const MODEL_ARRAYS: [&str; 5] = ["means", "log_scales", "quats", "opacities", "sh"];

/// A model's arrays, named, in the order a checkpoint begins with them.
pub fn model_arrays(g: Gaussians32) -> Vec<(String, Vec<f32>)> {
    MODEL_ARRAYS
        .iter()
        .map(|n| (*n).to_string())
        .zip([g.means, g.log_scales, g.quats, g.opacities, g.sh])
        .collect()
}

/// How many bytes from a checkpoint file's start hold its model (header included) when the
/// model's arrays come first, as the trainer writes them; `None` when they do not.
pub fn model_end(header: &Header, start: usize) -> Option<u64> {
    let names = header.arrays.iter().map(|(n, _)| n.as_str());
    if !names.take(MODEL_ARRAYS.len()).eq(MODEL_ARRAYS) {
        return None;
    }
    header.arrays[..MODEL_ARRAYS.len()]
        .iter()
        .try_fold(start as u64, |end, (_, floats)| {
            end.checked_add(floats.checked_mul(4)?)
        })
}

/// A checkpoint file holding only the model — what a viewer reads; the optimiser's state is
/// left out, so it cannot be resumed from — made from the first [`model_end`] bytes (or more)
/// of a whole one: a third of the bytes to fetch when following a remote run.
pub fn model_only(prefix: &[u8]) -> Result<Vec<u8>, String> {
    let Head::Complete { mut header, start } = read_head(prefix)? else {
        return Err("the bytes end inside the header".into());
    };
    let end = model_end(&header, start)
        .ok_or("its first arrays are not the model's (means, log_scales, quats, opacities, sh)")?;
    let end = usize::try_from(end).map_err(|e| e.to_string())?;
    let model = prefix
        .get(start..end)
        .ok_or_else(|| format!("the bytes end before the model does ({end} needed)"))?;
    header.arrays.truncate(MODEL_ARRAYS.len());
    header.adam_steps.clear();
    let mut out = head_bytes(&header, model.len()).map_err(|e| e.to_string())?;
    out.extend_from_slice(model);
    Ok(out)
}

/// `dir/step_000123.ckpt`.
pub fn path_for(dir: &Path, step: u32) -> PathBuf {
    dir.join(format!("step_{step:06}.ckpt"))
}

/// The step of a checkpoint named as [`path_for`] names it (`step_000123.ckpt`).
pub fn step_of(file_name: &str) -> Option<u32> {
    file_name
        .strip_prefix("step_")?
        .strip_suffix(".ckpt")?
        .parse()
        .ok()
}

/// `dir/step_000123.spz`: the preview of the checkpoint [`path_for`] names.
pub fn preview_path_for(dir: &Path, step: u32) -> PathBuf {
    dir.join(format!("step_{step:06}.spz"))
}

/// The step of a preview named as [`preview_path_for`] names it (`step_000123.spz`).
pub fn preview_step_of(file_name: &str) -> Option<u32> {
    file_name
        .strip_prefix("step_")?
        .strip_suffix(".spz")?
        .parse()
        .ok()
}

/// The checkpoints in `dir`, oldest first.
pub fn list(dir: &Path) -> Vec<(u32, PathBuf)> {
    list_named(dir, step_of)
}

/// The previews in `dir`, oldest first.
pub fn list_previews(dir: &Path) -> Vec<(u32, PathBuf)> {
    list_named(dir, preview_step_of)
}

fn list_named(dir: &Path, step: fn(&str) -> Option<u32>) -> Vec<(u32, PathBuf)> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((step(e.file_name().to_str()?)?, e.path())))
        .collect();
    found.sort();
    found
}

/// Writes `model` as the preview of step `step`'s checkpoint in `dir` (through a temporary
/// file renamed into place); returns its path.
pub fn write_preview(
    dir: &Path,
    step: u32,
    model: &Gaussians32,
) -> Result<PathBuf, splat_scene::SceneError> {
    let path = preview_path_for(dir, step);
    splat_scene::formats::write_model(&path, &model.to_cloud(), splat_scene::formats::Format::Spz)?;
    Ok(path)
}

/// Deletes all but the newest `keep` checkpoints in `dir`, and every preview but theirs.
pub fn prune(dir: &Path, keep: usize) {
    let all = list(dir);
    let cut = all.len().saturating_sub(keep);
    for (_, p) in &all[..cut] {
        let _ = std::fs::remove_file(p);
    }
    let kept: Vec<u32> = all[cut..].iter().map(|(step, _)| *step).collect();
    for (step, p) in list_previews(dir) {
        if !kept.contains(&step) {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(count: usize) -> Checkpoint {
        let floats = |k: usize, seed: f32| (0..k * count).map(|i| seed + i as f32).collect();
        let mut arrays = model_arrays(Gaussians32 {
            sh_degree: 1,
            means: floats(3, 0.5),
            log_scales: floats(3, -2.0),
            quats: floats(4, 1.0),
            opacities: floats(1, 0.1),
            sh: floats(12, 0.2),
        });
        arrays.push(("adam0.m1".into(), floats(3, 9.0)));
        arrays.push(("adam0.m2".into(), floats(3, 7.0)));
        arrays.push(("densify_stats".into(), floats(2, 3.0)));
        let header = Header {
            step: 700,
            seed: 1,
            epoch: 3,
            order: (0..40).collect(),
            count: count as u32,
            sh_degree: 1,
            adam_steps: vec![700; 6],
            elapsed_s: 12.5,
            settings: None,
            arrays: Vec::new(),
        };
        Checkpoint::from_arrays(header, arrays)
    }

    #[test]
    fn pruning_keeps_the_newest_checkpoints_and_only_their_previews() {
        let dir = tempfile::tempdir().unwrap();
        let model = checkpoint(20).model().unwrap();
        for step in [100, 200, 300] {
            std::fs::write(path_for(dir.path(), step), b"c").unwrap();
            write_preview(dir.path(), step, &model).unwrap();
        }
        // A preview whose checkpoint was never written (a write that failed after it).
        write_preview(dir.path(), 50, &model).unwrap();
        std::fs::write(dir.path().join("step_000400.ply"), b"not ours").unwrap();
        prune(dir.path(), 2);
        let steps = |l: Vec<(u32, PathBuf)>| l.into_iter().map(|(s, _)| s).collect::<Vec<_>>();
        assert_eq!(steps(list(dir.path())), [200, 300]);
        assert_eq!(steps(list_previews(dir.path())), [200, 300]);
        assert!(dir.path().join("step_000400.ply").is_file());
        assert_eq!(preview_step_of("step_000300.spz"), Some(300));
        assert_eq!(preview_step_of("step_000300.ckpt"), None);
        assert_eq!(step_of("step_000300.spz"), None);
    }

    #[test]
    fn a_preview_holds_the_model_to_spz_precision() {
        let dir = tempfile::tempdir().unwrap();
        let n = 64;
        let wave = |k: usize, scale: f32| -> Vec<f32> {
            (0..k * n)
                .map(|i| scale * (i as f32 * 0.37).sin())
                .collect()
        };
        let model = Gaussians32 {
            sh_degree: 1,
            means: wave(3, 4.0),
            log_scales: wave(3, 1.0).iter().map(|v| v - 3.0).collect(),
            quats: wave(4, 1.0).iter().map(|v| v + 0.1).collect(),
            opacities: wave(1, 3.0),
            sh: wave(12, 0.4),
        };
        let path = write_preview(dir.path(), 7, &model).unwrap();
        assert_eq!(path, dir.path().join("step_000007.spz"));
        let back = splat_scene::formats::read_model(&path).unwrap();
        let truth = model.to_cloud();
        assert_eq!(back.len(), n);
        // Positions in 24-bit fixed point (16 fractional bits within ±128), opacity in 8 bits.
        for (a, b) in back.means.iter().zip(&truth.means) {
            for k in 0..3 {
                assert!((a[k] - b[k]).abs() <= 1.0 / 65536.0, "{a:?} {b:?}");
            }
        }
        let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
        for (a, b) in back.opacity.iter().zip(&truth.opacity) {
            assert!(
                (sigmoid(*a) - sigmoid(*b)).abs() <= 0.5 / 255.0 + 1e-6,
                "{a} {b}"
            );
        }
        // A model spz cannot hold (a position past its 24-bit range): an error naming the
        // file, and no file.
        let mut far = model.clone();
        far.means[4] = 1e7;
        let e = write_preview(dir.path(), 8, &far).unwrap_err().to_string();
        assert!(e.contains("step_000008.spz") && e.contains("24-bit"), "{e}");
        assert!(list_previews(dir.path()).iter().all(|(s, _)| *s != 8));
    }

    #[test]
    fn the_header_is_read_from_the_first_bytes_and_says_how_many_it_needs() {
        let c = checkpoint(50);
        let bytes = c.to_bytes();
        assert_eq!(read_head(&bytes[..5]), Ok(Head::Needs(MAGIC.len() + 8)));
        let Ok(Head::Needs(n)) = read_head(&bytes[..MAGIC.len() + 20]) else {
            panic!("a cut header is not complete");
        };
        let Ok(Head::Complete { header, start }) = read_head(&bytes[..n]) else {
            panic!("{n} bytes do not hold the header");
        };
        assert_eq!((header, start), (c.header.clone(), n));
        assert!(read_head(b"not a checkpoint at all").is_err());
    }

    #[test]
    fn the_model_alone_is_cut_from_the_start_of_a_checkpoint() {
        let c = checkpoint(50);
        let bytes = c.to_bytes();
        let Ok(Head::Complete { header, start }) = read_head(&bytes) else {
            panic!("no header");
        };
        let end = model_end(&header, start).unwrap() as usize;
        assert_eq!(end, start + 4 * 50 * (3 + 3 + 4 + 1 + 12));
        let small = model_only(&bytes[..end]).unwrap();
        let back = Checkpoint::from_bytes(Path::new("m.ckpt"), &small).unwrap();
        assert_eq!(back.model().unwrap(), c.model().unwrap());
        assert_eq!(back.header.step, 700);
        assert!(back.array("adam0.m1").is_none() && back.header.adam_steps.is_empty());
        assert!(model_only(&bytes[..end - 1]).is_err());
        // A checkpoint whose first arrays are not the model's cannot be cut.
        let mut other = c.clone();
        other.header.arrays.swap(0, 5);
        other.data.swap(0, 5);
        let bytes = other.to_bytes();
        let Ok(Head::Complete { header, start }) = read_head(&bytes) else {
            panic!("no header");
        };
        assert_eq!(model_end(&header, start), None);
        assert!(model_only(&bytes).is_err());
    }
}

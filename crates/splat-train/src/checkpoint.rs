//! Training checkpoints: everything a run needs to continue bit for bit — the parameters, the
//! Adam moments and step counts, the densification statistics, the step and the position in
//! the shuffled view order (all later randomness is derived from the seed and these).
//!
//! File layout: the magic line `splat-checkpoint 1\n`, a little-endian u64 with the length of
//! a JSON header, the header (scalars and the name and length of each array), then the arrays
//! as little-endian f32 in header order. A hand-written container because the payload is a
//! handful of large f32 arrays that must round-trip exactly; written atomically.

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
        let header = serde_json::to_vec(&self.header).expect("a header always serialises");
        let floats: usize = self.data.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(MAGIC.len() + 8 + header.len() + 4 * floats);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
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
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| corrupt("not a splat checkpoint (bad magic)".into()))?;
        if rest.len() < 8 {
            return Err(corrupt("truncated before the header length".into()));
        }
        let (len, rest) = rest.split_at(8);
        let mut word = [0u8; 8];
        word.copy_from_slice(len);
        let len = u64::from_le_bytes(word) as usize;
        if rest.len() < len {
            return Err(corrupt(format!("truncated header ({len} bytes expected)")));
        }
        let (head, mut rest) = rest.split_at(len);
        let header: Header =
            serde_json::from_slice(head).map_err(|e| corrupt(format!("unreadable header: {e}")))?;
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

/// `dir/step_000123.ckpt`.
pub fn path_for(dir: &Path, step: u32) -> PathBuf {
    dir.join(format!("step_{step:06}.ckpt"))
}

/// The checkpoints in `dir`, oldest first.
pub fn list(dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let step = name
                .strip_prefix("step_")?
                .strip_suffix(".ckpt")?
                .parse()
                .ok()?;
            Some((step, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// Deletes all but the newest `keep` checkpoints in `dir`.
pub fn prune(dir: &Path, keep: usize) {
    let all = list(dir);
    for (_, p) in all.iter().take(all.len().saturating_sub(keep)) {
        let _ = std::fs::remove_file(p);
    }
}

//! `meta.json`: the v2 layout we write and read, and the v1 layout (playcanvas/sogs 1.1) we read.
//! Unknown keys are ignored; the version decides the layout.

use crate::error::{Result, SogsError};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaV2 {
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<Asset>,
    pub count: usize,
    /// "antialiased" or "2dgs" (splat-transform ≥ 3.2); absent for ordinary 3DGS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The published spec's spelling of the same flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub antialias: Option<bool>,
    pub means: Means,
    pub scales: CodebookFiles,
    pub quats: Files,
    pub sh0: CodebookFiles,
    #[serde(rename = "shN", default, skip_serializing_if = "Option::is_none")]
    pub sh_n: Option<ShN>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub generator: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Means {
    pub mins: [f64; 3],
    pub maxs: [f64; 3],
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Files {
    pub files: Vec<String>,
}

/// A codebook entry may be `null` in files from older writers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodebookFiles {
    pub codebook: Vec<Option<f64>>,
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShN {
    pub count: usize,
    pub bands: u32,
    pub codebook: Vec<Option<f64>>,
    pub files: Vec<String>,
}

/// v1 (no `version`): per-attribute `shape`, min/max and files.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MetaV1 {
    pub means: V1MinMax,
    pub scales: V1MinMax,
    pub quats: V1Files,
    pub sh0: V1MinMax,
    #[serde(rename = "shN", default)]
    pub sh_n: Option<V1ShN>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct V1MinMax {
    #[serde(default)]
    pub shape: Vec<usize>,
    pub mins: Vec<f64>,
    pub maxs: Vec<f64>,
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct V1Files {
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct V1ShN {
    pub mins: f64,
    pub maxs: f64,
    pub files: Vec<String>,
}

/// A parsed `meta.json` of either version.
#[derive(Debug, Clone, PartialEq)]
pub enum Meta {
    V2(MetaV2),
    V1(MetaV1),
}

impl Meta {
    /// Parses `bytes` read from `path` (named in errors).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Meta> {
        let bad = |e: serde_json::Error| SogsError::format(path, format!("meta.json: {e}"));
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(bad)?;
        match value.get("version") {
            None => Ok(Meta::V1(serde_json::from_value(value).map_err(bad)?)),
            Some(v) if v.as_u64() == Some(2) => {
                Ok(Meta::V2(serde_json::from_value(value).map_err(bad)?))
            }
            Some(v) => Err(SogsError::format(
                path,
                format!("meta.json: unsupported SOG version {v} (this reader takes 1 and 2)"),
            )),
        }
    }
}

/// A codebook from `meta.json`: exactly 256 entries; a `null` first entry is extrapolated from
/// its neighbours as the PlayCanvas engine does, any other `null` is an error.
pub fn codebook_entries(entries: &[Option<f64>], what: &str, path: &Path) -> Result<Vec<f32>> {
    if entries.len() != 256 {
        return Err(SogsError::format(
            path,
            format!(
                "meta.json: {what} codebook has {} entries, not 256",
                entries.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(256);
    for (i, e) in entries.iter().enumerate() {
        match e {
            Some(v) => out.push(*v as f32),
            None if i == 0 => match (entries[1], entries[255]) {
                (Some(a), Some(b)) => out.push((a + (a - b) / 255.0) as f32),
                _ => {
                    return Err(SogsError::format(
                        path,
                        format!("meta.json: {what} codebook entry 0 is null"),
                    ));
                }
            },
            None => {
                return Err(SogsError::format(
                    path,
                    format!("meta.json: {what} codebook entry {i} is null"),
                ));
            }
        }
    }
    Ok(out)
}

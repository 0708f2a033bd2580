//! The web's other Gaussian formats, read and written: the 32-byte `.splat` of the early web
//! viewers (`antimatter`), Niantic's `.spz` (`spz`), PlayCanvas's chunked `.compressed.ply`
//! (`compressed_ply`), beside the Inria PLY (`crate::ply`). `read_model` picks the reader by
//! name and content; SOG lives in `splat-sogs`, a floor above.
//!
//! Each format is quantised (spz: 24-bit fixed-point positions and 8-bit the rest; compressed
//! PLY: 11/10/11-bit positions and scales within 256-Gaussian chunks); the bounds are in each
//! module and tested against splat-transform, PlayCanvas's converter.

pub mod antimatter;
pub mod compressed_ply;
pub mod spz;

use crate::ply::{self, GaussianCloud};
use crate::{Result, SceneError};
use std::path::Path;

/// SH DC → colour: colour = 0.5 + SH_C0 · f_dc.
pub(crate) const SH_C0: f64 = 0.282_094_791_773_878_14;

/// A model format, by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Inria 3DGS PLY.
    Ply,
    /// PlayCanvas/SuperSplat `.compressed.ply`.
    CompressedPly,
    /// antimatter15's 32-byte `.splat`.
    Splat,
    /// Niantic's `.spz`.
    Spz,
}

impl Format {
    /// The format a file name says (`.compressed.ply` before `.ply`), if any.
    pub fn from_name(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".compressed.ply") {
            Some(Format::CompressedPly)
        } else if name.ends_with(".ply") {
            Some(Format::Ply)
        } else if name.ends_with(".splat") {
            Some(Format::Splat)
        } else if name.ends_with(".spz") {
            Some(Format::Spz)
        } else {
            None
        }
    }
}

/// Reads a model in any of these formats; a `.ply` holding PlayCanvas's chunks (whatever its
/// name) is read as a compressed PLY.
pub fn read_model(path: &Path) -> Result<GaussianCloud> {
    let format = Format::from_name(path).ok_or_else(|| {
        SceneError::invalid(
            path,
            "not a model file splat reads (.ply, .compressed.ply, .splat, .spz)",
        )
    })?;
    let data = std::fs::read(path).map_err(|e| SceneError::io(path, e))?;
    match format {
        Format::Ply | Format::CompressedPly if compressed_ply::is_compressed(&data) => {
            compressed_ply::parse(&data, path)
        }
        Format::Ply | Format::CompressedPly => ply::parse_ply(&data, path),
        Format::Splat => antimatter::parse(&data, path),
        Format::Spz => spz::parse(&data, path),
    }
}

/// Writes `cloud` in `format`, through a temporary file renamed into place.
pub fn write_model(path: &Path, cloud: &GaussianCloud, format: Format) -> Result<()> {
    cloud.validate(path)?;
    match format {
        Format::Ply => ply::write_ply(path, cloud),
        Format::CompressedPly => crate::write_atomic_bytes(path, &compressed_ply::encode(cloud)),
        Format::Splat => crate::write_atomic_bytes(path, &antimatter::encode(cloud)),
        Format::Spz => crate::write_atomic_bytes(path, &spz::encode(cloud, path)?),
    }
}

pub(crate) fn sigmoid(x: f32) -> f64 {
    1.0 / (1.0 + (-f64::from(x)).exp())
}

/// Inverse sigmoid, kept off the asymptotes (an 8-bit 0 or 255 stays finite). Every 8-bit
/// opacity reader uses it (these formats and SOG).
pub fn logit(a: f64) -> f32 {
    let a = a.clamp(1e-6, 1.0 - 1e-6);
    (a / (1.0 - a)).ln() as f32
}

/// A unit-length quaternion (w, x, y, z); the identity for a zero or non-finite one.
pub(crate) fn unit_quat(q: [f32; 4]) -> [f64; 4] {
    let q = q.map(f64::from);
    let n = q.iter().map(|c| c * c).sum::<f64>().sqrt();
    if n > 0.0 && n.is_finite() {
        q.map(|c| c / n)
    } else {
        [1.0, 0.0, 0.0, 0.0]
    }
}

/// `v` in [0, 1] (clamped) as a `bits`-bit integer, rounded.
pub(crate) fn unorm(v: f64, bits: u32) -> u32 {
    let top = f64::from((1u32 << bits) - 1);
    (v.clamp(0.0, 1.0) * top + 0.5).floor() as u32
}

/// `v` rounded to the nearest byte, clamped (the formats' and SOG's 8-bit quantiser).
pub fn byte(v: f64) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

//! antimatter15's `.splat`: no header, 32 bytes per Gaussian — position (3 × f32), linear scale
//! (3 × f32), colour and opacity (4 × u8: 0.5 + SH_C0·f_dc and sigmoid(opacity), times 255),
//! rotation (4 × u8: w x y z of the unit quaternion, 128 + 128·q). No higher SH bands: they
//! are dropped on write and zero on read. Little-endian throughout.

use super::{SH_C0, byte, logit, sigmoid, unit_quat};
use crate::ply::GaussianCloud;
use crate::{Result, SceneError};
use std::path::Path;

/// Bytes per Gaussian.
pub const RECORD: usize = 32;

pub fn encode(cloud: &GaussianCloud) -> Vec<u8> {
    let mut out = Vec::with_capacity(cloud.len() * RECORD);
    for i in 0..cloud.len() {
        for v in cloud.means[i] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in cloud.log_scales[i] {
            out.extend_from_slice(&v.exp().to_le_bytes());
        }
        for c in cloud.sh_dc[i] {
            out.push(byte((0.5 + SH_C0 * f64::from(c)) * 255.0));
        }
        out.push(byte(sigmoid(cloud.opacity[i]) * 255.0));
        for c in unit_quat(cloud.rotations[i]) {
            out.push(byte(128.0 + 128.0 * c));
        }
    }
    out
}

pub fn parse(data: &[u8], path: &Path) -> Result<GaussianCloud> {
    if data.is_empty() {
        return Err(SceneError::invalid(path, "empty file: no Gaussians"));
    }
    if !data.len().is_multiple_of(RECORD) {
        return Err(SceneError::invalid(
            path,
            format!(
                "{} bytes is not a whole number of 32-byte .splat records (the last one is cut short)",
                data.len()
            ),
        ));
    }
    let n = data.len() / RECORD;
    let mut cloud = GaussianCloud {
        sh_degree: 0,
        ..Default::default()
    };
    let f = |r: &[u8], k: usize| {
        f32::from_le_bytes([r[4 * k], r[4 * k + 1], r[4 * k + 2], r[4 * k + 3]])
    };
    for (i, r) in data.chunks_exact(RECORD).enumerate() {
        cloud.means.push([f(r, 0), f(r, 1), f(r, 2)]);
        let scales = [f(r, 3), f(r, 4), f(r, 5)];
        if !scales.iter().all(|s| *s > 0.0 && s.is_finite()) {
            return Err(SceneError::invalid(
                path,
                format!("Gaussian {i}: scale {scales:?} is not positive and finite"),
            ));
        }
        cloud.log_scales.push(scales.map(f32::ln));
        cloud.sh_dc.push(std::array::from_fn(|c| {
            ((f64::from(r[24 + c]) / 255.0 - 0.5) / SH_C0) as f32
        }));
        cloud.opacity.push(logit(f64::from(r[27]) / 255.0));
        let q: [f64; 4] = std::array::from_fn(|c| (f64::from(r[28 + c]) - 128.0) / 128.0);
        cloud
            .rotations
            .push(unit_quat(q.map(|c| c as f32)).map(|c| c as f32));
    }
    debug_assert_eq!(cloud.len(), n);
    cloud.validate(path)?;
    Ok(cloud)
}

//! Niantic's `.spz`. Versions 2 and 3 are one gzip stream holding a 16-byte header (magic
//! "NGSP", version, count, SH degree, fractional bits, flags) and then each attribute for all
//! Gaussians in turn: positions (3 × 24-bit signed fixed point), opacities (u8, sigmoid × 255),
//! colours (u8: 0.5 + 0.15·f_dc, × 255), log-scales (u8: (s + 10) · 16), rotations (v2: x y z
//! as u8; v3: smallest three, 10 bits each — 9 of magnitude, 1 of sign — under the largest's
//! index) and SH bands 1-3 (u8: 128 + 128·v, band 1 to 5 bits, the rest to 4, coefficient-major
//! with the channel inside). Version 4 keeps the header (32 bytes, plain) and stores each
//! attribute as its own zstd stream listed in a table. We write version 3, which every reader
//! takes, and read 2 to 4. Coordinates are written as they are (no axis change).

use super::{byte, logit, sigmoid, unit_quat};
use crate::ply::{GaussianCloud, sh_rest_per_channel};
use crate::{Result, SceneError};
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: u32 = 0x5053_474e;
/// spz's scale for the SH DC colour (instead of SH_C0).
const COLOR_SCALE: f64 = 0.15;
const V4: u32 = 4;

/// The most fractional bits that keep every coordinate inside 24 signed bits (at most 16).
fn fractional_bits(cloud: &GaussianCloud) -> Option<u8> {
    let max = cloud
        .means
        .iter()
        .flatten()
        .fold(0f64, |m, v| m.max(f64::from(v.abs())));
    let limit = f64::from((1u32 << 23) - 1);
    (0..=16u8)
        .rev()
        .find(|b| max * f64::from(1u32 << b) <= limit)
}

/// The raw (uncompressed) body of a version-3 file.
fn body(cloud: &GaussianCloud, bits: u8) -> Vec<u8> {
    let n = cloud.len();
    let k = sh_rest_per_channel(cloud.sh_degree);
    let mut out = Vec::with_capacity(16 + n * (9 + 1 + 3 + 3 + 4 + 3 * k));
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&[cloud.sh_degree as u8, bits, 0, 0]);
    let scale = f64::from(1u32 << bits);
    for m in &cloud.means {
        for v in m {
            let q = (f64::from(*v) * scale).round() as i32;
            out.extend_from_slice(&q.to_le_bytes()[..3]);
        }
    }
    out.extend(cloud.opacity.iter().map(|o| byte(sigmoid(*o) * 255.0)));
    for dc in &cloud.sh_dc {
        out.extend(
            dc.iter()
                .map(|c| byte((f64::from(*c) * COLOR_SCALE + 0.5) * 255.0)),
        );
    }
    for s in &cloud.log_scales {
        out.extend(s.iter().map(|v| byte((f64::from(*v) + 10.0) * 16.0)));
    }
    for q in &cloud.rotations {
        out.extend_from_slice(&pack_rotation(unit_quat(*q)).to_le_bytes());
    }
    for i in 0..n {
        let rest = &cloud.sh_rest[i * 3 * k..(i + 1) * 3 * k];
        for j in 0..k {
            let bucket: i32 = if j < 3 { 1 << 3 } else { 1 << 4 };
            for c in 0..3 {
                let q = (f64::from(rest[c * k + j]) * 128.0).round() as i32 + 128;
                let q = (q + bucket / 2) / bucket * bucket;
                out.push(q.clamp(0, 255) as u8);
            }
        }
    }
    out
}

/// Smallest three of a unit quaternion (w, x, y, z), in spz's (x, y, z, w) order.
fn pack_rotation(q: [f64; 4]) -> u32 {
    let mut xyzw = [q[1], q[2], q[3], q[0]];
    let largest = (0..4)
        .max_by(|&a, &b| xyzw[a].abs().total_cmp(&xyzw[b].abs()))
        .unwrap_or(3);
    if xyzw[largest] < 0.0 {
        xyzw = xyzw.map(|c| -c);
    }
    let mut packed = 0u32;
    for (j, c) in xyzw.iter().enumerate() {
        if j != largest {
            let mag = (c.abs() * std::f64::consts::SQRT_2 * 511.0)
                .round()
                .min(511.0) as u32;
            packed = packed << 10 | u32::from(*c < 0.0) << 9 | mag;
        }
    }
    packed | (largest as u32) << 30
}

fn unpack_rotation(mut packed: u32) -> [f32; 4] {
    let largest = (packed >> 30) as usize;
    let mut xyzw = [0f64; 4];
    let mut sum = 0.0;
    for j in (0..4).rev() {
        if j != largest {
            let mag = f64::from(packed & 511);
            let v = std::f64::consts::FRAC_1_SQRT_2 * mag / 511.0;
            xyzw[j] = if packed >> 9 & 1 == 1 { -v } else { v };
            sum += xyzw[j] * xyzw[j];
            packed >>= 10;
        }
    }
    xyzw[largest] = (1.0 - sum).max(0.0).sqrt();
    [xyzw[3], xyzw[0], xyzw[1], xyzw[2]].map(|c| c as f32)
}

/// A gzip-compressed version-3 file.
pub fn encode(cloud: &GaussianCloud, path: &Path) -> Result<Vec<u8>> {
    let bits = fractional_bits(cloud).ok_or_else(|| {
        SceneError::invalid(
            path,
            "a position is beyond the ±8,388,607 units spz's 24-bit coordinates can hold",
        )
    })?;
    if u32::try_from(cloud.len()).is_err() {
        return Err(SceneError::invalid(
            path,
            "more Gaussians than spz can count",
        ));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body(cloud, bits))
        .and_then(|()| gz.finish())
        .map_err(|e| SceneError::io(path, e))
}

/// The attribute blocks of a file, however it was stored.
struct Blocks {
    version: u32,
    n: usize,
    degree: u32,
    bits: u8,
    /// positions, alphas, colours, scales, rotations, sh
    parts: [Vec<u8>; 6],
}

fn bad(path: &Path, m: impl Into<String>) -> SceneError {
    SceneError::invalid(path, m)
}

fn sizes(n: usize, degree: u32, version: u32) -> [usize; 6] {
    let rot = if version == 2 { 3 } else { 4 };
    [
        9 * n,
        n,
        3 * n,
        3 * n,
        rot * n,
        3 * sh_rest_per_channel(degree) * n,
    ]
}

fn blocks(data: &[u8], path: &Path) -> Result<Blocks> {
    let raw;
    let data = if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .map_err(|e| bad(path, format!("the gzip stream is damaged: {e}")))?;
        raw = out;
        &raw[..]
    } else {
        data
    };
    if data.len() < 16 || u32::from_le_bytes([data[0], data[1], data[2], data[3]]) != MAGIC {
        return Err(bad(path, "not an spz file (no NGSP header)"));
    }
    let word = |o: usize| u32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
    let version = word(4);
    let n = word(8) as usize;
    let degree = u32::from(data[12]);
    let bits = data[13];
    if !(2..=V4).contains(&version) {
        return Err(bad(
            path,
            format!("spz version {version}; splat reads 2 to 4"),
        ));
    }
    if degree > 3 {
        return Err(bad(
            path,
            format!("SH degree {degree}; splat reads up to 3"),
        ));
    }
    if bits > 23 {
        return Err(bad(
            path,
            format!("{bits} fractional bits in a 24-bit coordinate"),
        ));
    }
    let want = sizes(n, degree, version);
    let total = want.iter().try_fold(0usize, |a, b| a.checked_add(*b));
    let parts: [Vec<u8>; 6] = if version < V4 {
        let need = total.and_then(|t| t.checked_add(16));
        if need.is_none_or(|need| data.len() < need) {
            return Err(bad(
                path,
                format!(
                    "{n} Gaussians need {need:?} bytes, the file holds {}",
                    data.len()
                ),
            ));
        }
        let mut o = 16;
        want.map(|len| {
            let part = data[o..o + len].to_vec();
            o += len;
            part
        })
    } else {
        v4_streams(data, &want, degree, path)?
    };
    Ok(Blocks {
        version,
        n,
        degree,
        bits,
        parts,
    })
}

/// Version 4's zstd streams, each checked against the size its attribute needs.
fn v4_streams(data: &[u8], want: &[usize; 6], degree: u32, path: &Path) -> Result<[Vec<u8>; 6]> {
    if data.len() < 32 {
        return Err(bad(path, "the version-4 header is cut short"));
    }
    let streams = usize::from(data[15]);
    let expected = if degree == 0 { 5 } else { 6 };
    if streams != expected {
        return Err(bad(path, format!("{streams} streams, expected {expected}")));
    }
    let toc = u32::from_le_bytes([data[16], data[17], data[18], data[19]]) as usize;
    let mut at = toc + 16 * streams;
    if toc < 32 || at > data.len() {
        return Err(bad(path, "the stream table lies outside the file"));
    }
    let mut parts: [Vec<u8>; 6] = Default::default();
    for (s, part) in parts.iter_mut().enumerate().take(streams) {
        let e = toc + 16 * s;
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&data[o..o + 8]);
            u64::from_le_bytes(b)
        };
        let (packed, unpacked) = (u64_at(e) as usize, u64_at(e + 8) as usize);
        if unpacked != want[s] || packed > data.len() - at {
            return Err(bad(path, format!("stream {s} has the wrong size")));
        }
        let mut dec = ruzstd::decoding::StreamingDecoder::new(&data[at..at + packed])
            .map_err(|e| bad(path, format!("stream {s}: {e}")))?;
        dec.read_to_end(part)
            .map_err(|e| bad(path, format!("stream {s}: {e}")))?;
        if part.len() != want[s] {
            return Err(bad(path, format!("stream {s} decodes to the wrong size")));
        }
        at += packed;
    }
    Ok(parts)
}

pub fn parse(data: &[u8], path: &Path) -> Result<GaussianCloud> {
    let b = blocks(data, path)?;
    let n = b.n;
    let k = sh_rest_per_channel(b.degree);
    let [pos, alpha, color, scale, rot, sh] = &b.parts;
    let unit = 1.0 / f64::from(1u32 << b.bits);
    let mut cloud = GaussianCloud {
        sh_degree: b.degree,
        ..Default::default()
    };
    for i in 0..n {
        cloud.means.push(std::array::from_fn(|a| {
            let o = 9 * i + 3 * a;
            let v = i32::from_le_bytes([pos[o], pos[o + 1], pos[o + 2], 0]) << 8 >> 8;
            (f64::from(v) * unit) as f32
        }));
        cloud.opacity.push(logit(f64::from(alpha[i]) / 255.0));
        cloud.sh_dc.push(std::array::from_fn(|c| {
            ((f64::from(color[3 * i + c]) / 255.0 - 0.5) / COLOR_SCALE) as f32
        }));
        cloud.log_scales.push(std::array::from_fn(|a| {
            (f64::from(scale[3 * i + a]) / 16.0 - 10.0) as f32
        }));
        cloud.rotations.push(if b.version == 2 {
            let xyz: [f64; 3] = std::array::from_fn(|a| f64::from(rot[3 * i + a]) / 127.5 - 1.0);
            let w = (1.0 - xyz.iter().map(|c| c * c).sum::<f64>())
                .max(0.0)
                .sqrt();
            [w, xyz[0], xyz[1], xyz[2]].map(|c| c as f32)
        } else {
            unpack_rotation(u32::from_le_bytes([
                rot[4 * i],
                rot[4 * i + 1],
                rot[4 * i + 2],
                rot[4 * i + 3],
            ]))
        });
        let mut rest = vec![0f32; 3 * k];
        for j in 0..k {
            for c in 0..3 {
                rest[c * k + j] = ((f64::from(sh[3 * k * i + 3 * j + c]) - 128.0) / 128.0) as f32;
            }
        }
        cloud.sh_rest.extend(rest);
    }
    cloud.validate(path)?;
    Ok(cloud)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotations_survive_packing() {
        for q in [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.5, -0.5, 0.5, -0.5],
            [0.1, 0.2, -0.9, 0.3],
            [-0.7, 0.1, 0.1, 0.7],
        ] {
            let u = unit_quat(q);
            let back = unpack_rotation(pack_rotation(u)).map(f64::from);
            let dot: f64 = u.iter().zip(&back).map(|(a, b)| a * b).sum::<f64>().abs();
            assert!(dot > 0.9999, "{q:?} -> {back:?}");
        }
    }
}

//! The SOG v2 images of a cloud and back: 16-bit log-space positions over `means_l`/`means_u`,
//! smallest-three quaternions, codebook indices for log-scales and DC colour, linear opacity in
//! `sh0`'s alpha, and the SH palette (`shN_centroids` + 16-bit `shN_labels`). The decoder takes
//! v2 and v1. Values are rounded to the nearest step (the format's decoder is fixed; PlayCanvas's
//! encoder floors, which doubles the worst-case error).

use crate::codebook::Codebook;
use crate::error::{Result, SogsError};
use crate::kmeans::Palette;
use crate::meta::{self, CodebookFiles, Files, Means, MetaV1, MetaV2, ShN};
use crate::order::{log_transform, sigmoid};
use splat_scene::GaussianCloud;
use splat_scene::formats::{byte, logit};
use splat_scene::ply::sh_rest_per_channel;
use std::f64::consts::SQRT_2;
use std::path::Path;

/// Worst-case errors the codebooks keep to where 256 entries allow (the bounds the format's
/// notes give for a good encoder: log-scale 0.1, DC 0.025 SH units), with a margin.
pub const MAX_LOG_SCALE_ERROR: f32 = 0.08;
pub const MAX_DC_ERROR: f32 = 0.02;

/// An RGBA8 image.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

impl Image {
    pub fn zeroed(width: usize, height: usize) -> Image {
        Image {
            width,
            height,
            rgba: vec![0; width * height * 4],
        }
    }

    fn set(&mut self, texel: usize, px: [u8; 4]) {
        self.rgba[texel * 4..texel * 4 + 4].copy_from_slice(&px);
    }

    fn get(&self, texel: usize) -> [u8; 4] {
        let p = &self.rgba[texel * 4..texel * 4 + 4];
        [p[0], p[1], p[2], p[3]]
    }
}

/// File names, in the order splat-transform writes them.
pub const MEANS_L: &str = "means_l.webp";
pub const MEANS_U: &str = "means_u.webp";
pub const QUATS: &str = "quats.webp";
pub const SCALES: &str = "scales.webp";
pub const SH0: &str = "sh0.webp";
pub const SHN_CENTROIDS: &str = "shN_centroids.webp";
pub const SHN_LABELS: &str = "shN_labels.webp";

/// A compressed scene in memory: `meta.json` and its images by file name.
#[derive(Debug, Clone, PartialEq)]
pub struct Sog {
    pub meta: MetaV2,
    pub images: Vec<(String, Image)>,
}

impl Sog {
    pub fn image(&self, name: &str) -> Option<&Image> {
        self.images.iter().find(|(n, _)| n == name).map(|(_, i)| i)
    }
}

/// Encodes `cloud` with texel `t` holding Gaussian `order[t]` in `width × height` images; `palette`
/// holds the SH palette when `sh_bands ≥ 1` (its data is the first `sh_bands` bands' `f_rest`).
pub fn encode(
    cloud: &GaussianCloud,
    order: &[u32],
    width: usize,
    height: usize,
    sh: Option<(u32, &Palette)>,
    precision: Precision,
    generator: &str,
) -> Sog {
    let position_bits = precision.position_bits;
    let n = cloud.len();
    assert_eq!(order.len(), n);
    let mut images = Vec::new();

    // Positions.
    let mut mins = [f64::INFINITY; 3];
    let mut maxs = [f64::NEG_INFINITY; 3];
    for m in &cloud.means {
        for a in 0..3 {
            let l = f64::from(log_transform(m[a]));
            mins[a] = mins[a].min(l);
            maxs[a] = maxs[a].max(l);
        }
    }
    if n == 0 {
        mins = [0.0; 3];
        maxs = [0.0; 3];
    }
    let mut lo = Image::zeroed(width, height);
    let mut hi = Image::zeroed(width, height);
    for (t, &g) in order.iter().enumerate() {
        let q: [u16; 3] = std::array::from_fn(|a| {
            let span = maxs[a] - mins[a];
            if span > 0.0 {
                let q = (65535.0
                    * (f64::from(log_transform(cloud.means[g as usize][a])) - mins[a])
                    / span)
                    .round()
                    .clamp(0.0, 65535.0);
                coarsen(q, position_bits)
            } else {
                0
            }
        });
        lo.set(t, [q[0] as u8, q[1] as u8, q[2] as u8, 255]);
        hi.set(
            t,
            [(q[0] >> 8) as u8, (q[1] >> 8) as u8, (q[2] >> 8) as u8, 255],
        );
    }
    images.push((MEANS_L.to_string(), lo));
    images.push((MEANS_U.to_string(), hi));

    // Rotations.
    let mut quats = Image::zeroed(width, height);
    for (t, &g) in order.iter().enumerate() {
        quats.set(t, pack_quat(cloud.rotations[g as usize]));
    }
    images.push((QUATS.to_string(), quats));

    // Log-scales.
    let pooled: Vec<f32> = cloud.log_scales.iter().flatten().copied().collect();
    let scale_book = Codebook::fit_bounded(&pooled, Some(MAX_LOG_SCALE_ERROR));
    let mut scales = Image::zeroed(width, height);
    for (t, &g) in order.iter().enumerate() {
        let s = cloud.log_scales[g as usize];
        scales.set(
            t,
            [
                scale_book.index(s[0]),
                scale_book.index(s[1]),
                scale_book.index(s[2]),
                255,
            ],
        );
    }
    images.push((SCALES.to_string(), scales));

    // DC colour and opacity.
    let pooled: Vec<f32> = cloud.sh_dc.iter().flatten().copied().collect();
    let dc_book = Codebook::fit_bounded(&pooled, Some(MAX_DC_ERROR));
    let mut sh0 = Image::zeroed(width, height);
    for (t, &g) in order.iter().enumerate() {
        let c = cloud.sh_dc[g as usize];
        let a = byte(f64::from(sigmoid(cloud.opacity[g as usize])) * 255.0);
        sh0.set(
            t,
            [
                dc_book.index(c[0]),
                dc_book.index(c[1]),
                dc_book.index(c[2]),
                a,
            ],
        );
    }
    images.push((SH0.to_string(), sh0));

    let mut sh_n = None;
    if let Some((bands, palette)) = sh {
        let (centroids, labels, codebook) =
            encode_palette(palette, bands, order, (width, height), precision.sh_levels);
        images.push((SHN_CENTROIDS.to_string(), centroids));
        images.push((SHN_LABELS.to_string(), labels));
        sh_n = Some(ShN {
            count: palette.count(),
            bands,
            codebook: widen(&codebook),
            files: vec![SHN_CENTROIDS.into(), SHN_LABELS.into()],
        });
    }

    let meta = MetaV2 {
        version: 2,
        asset: Some(meta::Asset {
            generator: generator.to_string(),
        }),
        count: n,
        model: None,
        antialias: None,
        means: Means {
            mins,
            maxs,
            files: vec![MEANS_L.into(), MEANS_U.into()],
        },
        scales: CodebookFiles {
            codebook: widen(&scale_book),
            files: vec![SCALES.into()],
        },
        quats: Files {
            files: vec![QUATS.into()],
        },
        sh0: CodebookFiles {
            codebook: widen(&dc_book),
            files: vec![SH0.into()],
        },
        sh_n,
    };
    Sog { meta, images }
}

/// The codebook for meta.json: each entry as the shortest decimal that reads back as the same
/// f32 (`-9.880763` rather than the f64 widening's `-9.880763053894043`), which halves the
/// JSON (16 % of a compacted degree-0 scene's file before).
fn widen(book: &Codebook) -> Vec<Option<f64>> {
    book.entries
        .iter()
        .map(|&v| Some(shortest_decimal(v)))
        .collect()
}

/// `v` as the f64 nearest its shortest round-trip decimal: serialised, that decimal; read back
/// and narrowed to f32, `v` again.
pub(crate) fn shortest_decimal(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

/// Smallest-three packing: the largest component's index in alpha (252 + m), the other three
/// (sign-flipped so the largest is positive, times √2) in RGB.
pub fn pack_quat(q: [f32; 4]) -> [u8; 4] {
    let q = q.map(f64::from);
    let norm = q.iter().map(|c| c * c).sum::<f64>().sqrt();
    let q = if norm > 0.0 && norm.is_finite() {
        q.map(|c| c / norm)
    } else {
        [1.0, 0.0, 0.0, 0.0]
    };
    let mut m = 0;
    for i in 1..4 {
        if q[i].abs() > q[m].abs() {
            m = i;
        }
    }
    let s = if q[m] < 0.0 { -SQRT_2 } else { SQRT_2 };
    let mut out = [0u8; 4];
    let mut k = 0;
    for (i, &c) in q.iter().enumerate() {
        if i != m {
            out[k] = byte(255.0 * (c * s * 0.5 + 0.5));
            k += 1;
        }
    }
    out[3] = 252 + m as u8;
    out
}

/// Inverse of [`pack_quat`]; an alpha outside 252..=255 decodes to the identity.
pub fn unpack_quat(px: [u8; 4]) -> [f32; 4] {
    if px[3] < 252 {
        return [1.0, 0.0, 0.0, 0.0];
    }
    let m = (px[3] - 252) as usize;
    let mut q = [0f64; 4];
    let mut k = 0;
    for (i, c) in q.iter_mut().enumerate() {
        if i != m {
            *c = (f64::from(px[k]) / 255.0 * 2.0 - 1.0) / SQRT_2;
            k += 1;
        }
    }
    q[m] = (1.0 - q.iter().map(|c| c * c).sum::<f64>()).max(0.0).sqrt();
    q.map(|c| c as f32)
}

/// How finely positions and the SH palette are stored (each a rate choice inside SOG v2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Precision {
    /// Bits of the 16-bit position codes that carry information (8–16, see [`coarsen`]).
    pub position_bits: u32,
    /// Distinct entries of the SH palette's 256-entry codebook (1–256).
    pub sh_levels: usize,
}

impl Default for Precision {
    fn default() -> Self {
        Precision {
            position_bits: 16,
            sh_levels: 256,
        }
    }
}

/// A 16-bit position code `q` (0..=65535) rounded to the nearest multiple of
/// `2^(16 − bits)` (the top code kept), so that the low byte carries `bits − 8` bits of
/// information and the image codec finds fewer symbols; the decoder reads plain 16-bit codes.
/// Error at most half a step, plus less than a step at the top.
pub fn coarsen(q: f64, bits: u32) -> u16 {
    let step = f64::from(1u32 << (16 - bits.clamp(8, 16)));
    ((q / step).round() * step).min(65535.0) as u16
}

/// The palette images. Centroids are renumbered by first use along the texel order, so labels
/// grow smoothly over the image.
fn encode_palette(
    palette: &Palette,
    bands: u32,
    order: &[u32],
    (width, height): (usize, usize),
    levels: usize,
) -> (Image, Image, Codebook) {
    let k = sh_rest_per_channel(bands);
    let count = palette.count();
    let mut renumber = vec![u32::MAX; count];
    let mut next = 0u32;
    for &g in order {
        let l = palette.labels[g as usize] as usize;
        if renumber[l] == u32::MAX {
            renumber[l] = next;
            next += 1;
        }
    }
    for r in renumber.iter_mut().filter(|r| **r == u32::MAX) {
        *r = next;
        next += 1;
    }
    let book = Codebook::fit_levels(&palette.centroids, None, levels);
    let mut centroids = Image::zeroed(64 * k, count.div_ceil(64).max(1));
    for (c, &slot) in renumber.iter().enumerate() {
        let v = palette.centroid(c);
        let slot = slot as usize;
        let (x0, y) = ((slot % 64) * k, slot / 64);
        for j in 0..k {
            let px = [
                book.index(v[j]),
                book.index(v[k + j]),
                book.index(v[2 * k + j]),
                255,
            ];
            centroids.set(y * centroids.width + x0 + j, px);
        }
    }
    let mut labels = Image::zeroed(width, height);
    for (t, &g) in order.iter().enumerate() {
        let l = renumber[palette.labels[g as usize] as usize];
        labels.set(t, [l as u8, (l >> 8) as u8, 0, 255]);
    }
    (centroids, labels, book)
}

/// The images a layout needs, by name, each checked to exist.
struct Lookup<'a> {
    images: &'a [(String, Image)],
    path: &'a Path,
}

impl<'a> Lookup<'a> {
    fn get(&self, files: &[String], i: usize, what: &str) -> Result<&'a Image> {
        let name = files.get(i).ok_or_else(|| {
            SogsError::format(
                self.path,
                format!(
                    "meta.json: {what} lists {} files, needs {}",
                    files.len(),
                    i + 1
                ),
            )
        })?;
        self.images
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, img)| img)
            .ok_or_else(|| SogsError::format(self.path, format!("{name} ({what}) is missing")))
    }

    /// A per-Gaussian image: it must hold `count` texels.
    fn per_gaussian(
        &self,
        files: &[String],
        i: usize,
        what: &str,
        count: usize,
        size: &mut Option<(usize, usize)>,
    ) -> Result<&'a Image> {
        let img = self.get(files, i, what)?;
        if img.width * img.height < count {
            return Err(SogsError::format(
                self.path,
                format!(
                    "{} ({what}) is {}×{}, too small for {count} Gaussians",
                    files[i], img.width, img.height
                ),
            ));
        }
        match size {
            Some(s) if *s != (img.width, img.height) => {
                return Err(SogsError::format(
                    self.path,
                    format!(
                        "{} ({what}) is {}×{} but the other images are {}×{}",
                        files[i], img.width, img.height, s.0, s.1
                    ),
                ));
            }
            _ => *size = Some((img.width, img.height)),
        }
        Ok(img)
    }
}

/// The five per-Gaussian images every version has.
struct BaseImages<'a> {
    lo: &'a Image,
    hi: &'a Image,
    quats: &'a Image,
    scales: &'a Image,
    sh0: &'a Image,
}

impl<'a> BaseImages<'a> {
    /// From the file lists of means, quats, scales and sh0.
    fn get(
        look: &Lookup<'a>,
        files: [&[String]; 4],
        n: usize,
        size: &mut Option<(usize, usize)>,
    ) -> Result<Self> {
        Ok(BaseImages {
            lo: look.per_gaussian(files[0], 0, "means", n, size)?,
            hi: look.per_gaussian(files[0], 1, "means", n, size)?,
            quats: look.per_gaussian(files[1], 0, "quats", n, size)?,
            scales: look.per_gaussian(files[2], 0, "scales", n, size)?,
            sh0: look.per_gaussian(files[3], 0, "sh0", n, size)?,
        })
    }

    /// Positions and rotations (the same in every version); scales, colour and opacity through
    /// the version's maps from (channel, byte) to value.
    fn decode(
        &self,
        n: usize,
        mins: &[f64; 3],
        maxs: &[f64; 3],
        scale: &dyn Fn(usize, u8) -> f32,
        dc: &dyn Fn(usize, u8) -> f32,
        opacity: &dyn Fn(u8) -> f32,
    ) -> GaussianCloud {
        let mut cloud = GaussianCloud::default();
        for t in 0..n {
            let (l, u) = (self.lo.get(t), self.hi.get(t));
            cloud.means.push(std::array::from_fn(|a| {
                let q = u16::from(u[a]) << 8 | u16::from(l[a]);
                let span = maxs[a] - mins[a];
                let span = if span == 0.0 { 1.0 } else { span };
                inv_log(mins[a] + span * f64::from(q) / 65535.0)
            }));
            cloud.rotations.push(unpack_quat(self.quats.get(t)));
            let s = self.scales.get(t);
            cloud
                .log_scales
                .push(std::array::from_fn(|a| scale(a, s[a])));
            let c = self.sh0.get(t);
            cloud.sh_dc.push(std::array::from_fn(|a| dc(a, c[a])));
            cloud.opacity.push(opacity(c[3]));
        }
        cloud
    }
}

fn inv_log(v: f64) -> f32 {
    (v.signum() * (v.abs().exp() - 1.0)) as f32
}

/// Decodes a v2 scene; `path` names the source in errors.
pub fn decode_v2(meta: &MetaV2, images: &[(String, Image)], path: &Path) -> Result<GaussianCloud> {
    let look = Lookup { images, path };
    let n = meta.count;
    let mut size = None;
    let base = BaseImages::get(
        &look,
        [
            &meta.means.files,
            &meta.quats.files,
            &meta.scales.files,
            &meta.sh0.files,
        ],
        n,
        &mut size,
    )?;
    let scale_book = meta::codebook_entries(&meta.scales.codebook, "scales", path)?;
    let dc_book = meta::codebook_entries(&meta.sh0.codebook, "sh0", path)?;
    let mut cloud = base.decode(
        n,
        &meta.means.mins,
        &meta.means.maxs,
        &|_, b| scale_book[b as usize],
        &|_, b| dc_book[b as usize],
        &|a| logit(f64::from(a) / 255.0),
    );
    if let Some(sh) = &meta.sh_n {
        if !(1..=3).contains(&sh.bands) {
            return Err(SogsError::format(
                path,
                format!("meta.json: shN.bands is {}, not 1-3", sh.bands),
            ));
        }
        let book = meta::codebook_entries(&sh.codebook, "shN", path)?;
        let centroids = look.get(&sh.files, 0, "shN centroids")?;
        let labels = look.per_gaussian(&sh.files, 1, "shN labels", n, &mut size)?;
        decode_palette(
            &mut cloud,
            sh.bands,
            sh.count,
            centroids,
            labels,
            &|b| book[b as usize],
            &sh.files[0],
            path,
        )?;
    }
    Ok(cloud)
}

/// Fills `cloud.sh_rest` from the palette images.
#[allow(clippy::too_many_arguments)]
fn decode_palette(
    cloud: &mut GaussianCloud,
    bands: u32,
    count: usize,
    centroids: &Image,
    labels: &Image,
    value: &dyn Fn(u8) -> f32,
    centroid_file: &str,
    path: &Path,
) -> Result<()> {
    let k = sh_rest_per_channel(bands);
    if centroids.width != 64 * k || centroids.width * centroids.height < count * k {
        return Err(SogsError::format(
            path,
            format!(
                "{centroid_file} is {}×{}; {count} centroids of {bands} band(s) need width {} and {} rows",
                centroids.width,
                centroids.height,
                64 * k,
                count.div_ceil(64)
            ),
        ));
    }
    let n = cloud.len();
    cloud.sh_degree = bands;
    cloud.sh_rest = Vec::with_capacity(n * 3 * k);
    for t in 0..n {
        let px = labels.get(t);
        let l = px[0] as usize | (px[1] as usize) << 8;
        if l >= count {
            return Err(SogsError::format(
                path,
                format!("shN label {l} of Gaussian {t} is outside the palette of {count}"),
            ));
        }
        let (x0, y) = ((l % 64) * k, l / 64);
        let base = cloud.sh_rest.len();
        cloud.sh_rest.resize(base + 3 * k, 0.0);
        for j in 0..k {
            let c = centroids.get(y * centroids.width + x0 + j);
            for (ch, &b) in c.iter().take(3).enumerate() {
                cloud.sh_rest[base + ch * k + j] = value(b);
            }
        }
    }
    Ok(())
}

/// Decodes a v1 scene (playcanvas/sogs 1.1: min/max quantisation, logit opacity).
pub fn decode_v1(meta: &MetaV1, images: &[(String, Image)], path: &Path) -> Result<GaussianCloud> {
    let look = Lookup { images, path };
    let n = *meta
        .means
        .shape
        .first()
        .ok_or_else(|| SogsError::format(path, "meta.json: v1 means.shape is missing"))?;
    let need = |v: &[f64], len: usize, what: &str| -> Result<()> {
        if v.len() < len {
            return Err(SogsError::format(
                path,
                format!("meta.json: {what} has {} values, needs {len}", v.len()),
            ));
        }
        Ok(())
    };
    need(&meta.means.mins, 3, "means.mins")?;
    need(&meta.means.maxs, 3, "means.maxs")?;
    need(&meta.scales.mins, 3, "scales.mins")?;
    need(&meta.scales.maxs, 3, "scales.maxs")?;
    need(&meta.sh0.mins, 4, "sh0.mins")?;
    need(&meta.sh0.maxs, 4, "sh0.maxs")?;
    let mut size = None;
    let base = BaseImages::get(
        &look,
        [
            &meta.means.files,
            &meta.quats.files,
            &meta.scales.files,
            &meta.sh0.files,
        ],
        n,
        &mut size,
    )?;
    let lerp = |mins: &[f64], maxs: &[f64], a: usize, b: u8| {
        (mins[a] + (maxs[a] - mins[a]) * f64::from(b) / 255.0) as f32
    };
    let mins = [meta.means.mins[0], meta.means.mins[1], meta.means.mins[2]];
    let maxs = [meta.means.maxs[0], meta.means.maxs[1], meta.means.maxs[2]];
    let mut cloud = base.decode(
        n,
        &mins,
        &maxs,
        &|a, b| lerp(&meta.scales.mins, &meta.scales.maxs, a, b),
        &|a, b| lerp(&meta.sh0.mins, &meta.sh0.maxs, a, b),
        &|b| lerp(&meta.sh0.mins, &meta.sh0.maxs, 3, b),
    );
    if let Some(sh) = &meta.sh_n {
        let centroids = look.get(&sh.files, 0, "shN centroids")?;
        let labels = look.per_gaussian(&sh.files, 1, "shN labels", n, &mut size)?;
        let bands = match centroids.width {
            192 => 1,
            512 => 2,
            960 => 3,
            w => {
                return Err(SogsError::format(
                    path,
                    format!(
                        "{} is {w} wide: not 192, 512 or 960 (1-3 SH bands)",
                        sh.files[0]
                    ),
                ));
            }
        };
        let count = 64 * centroids.height;
        let (lo, hi) = (sh.mins, sh.maxs);
        decode_palette(
            &mut cloud,
            bands,
            count,
            centroids,
            labels,
            &|b| (lo + (hi - lo) * f64::from(b) / 255.0) as f32,
            &sh.files[0],
            path,
        )?;
    }
    Ok(cloud)
}

#[cfg(test)]
mod tests {
    #[test]
    fn coarsened_position_codes_are_on_the_step_grid_within_half_a_step() {
        for bits in 8..=16u32 {
            let step = 1u32 << (16 - bits);
            for q in (0..=65535u32).step_by(7).chain([65535]) {
                let c = u32::from(coarsen(f64::from(q), bits));
                assert!(c % step == 0 || c == 65535, "{bits} bits: {q} -> {c}");
                let err = c.abs_diff(q);
                // Half a step, or the top code's clamp.
                assert!(
                    2 * err <= step || c == 65535 && err < step,
                    "{bits}: {q} -> {c}"
                );
            }
        }
        assert_eq!(coarsen(12345.0, 16), 12345);
    }

    use super::*;

    /// Written as its shortest decimal, read as f64 (as every JSON reader does) and narrowed, a
    /// codebook value is the same f32 bit for bit: over a million finite f32 of every exponent,
    /// and the text is never longer than the f64 widening's.
    #[test]
    fn shortest_decimals_read_back_as_the_same_f32() {
        let mut s = 7u64;
        let mut checked = 0;
        while checked < 1_000_000 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = f32::from_bits((s >> 32) as u32);
            if !v.is_finite() {
                continue;
            }
            let d = shortest_decimal(v);
            let text = serde_json::to_string(&d).unwrap();
            let back: f64 = serde_json::from_str(&text).unwrap();
            assert_eq!((back as f32).to_bits(), v.to_bits(), "{v:e} → {text}");
            assert!(text.len() <= serde_json::to_string(&f64::from(v)).unwrap().len());
            checked += 1;
        }
    }

    #[test]
    fn quaternions_survive_packing_within_two_degrees() {
        let mut worst: f64 = 0.0;
        let mut s = 1u64;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0
        };
        for _ in 0..20_000 {
            let q = [next(), next(), next(), next()].map(|c| c as f32);
            let d = unpack_quat(pack_quat(q));
            let n = q.iter().map(|c| f64::from(*c).powi(2)).sum::<f64>().sqrt();
            let dot: f64 = q
                .iter()
                .zip(d)
                .map(|(a, b)| f64::from(*a) / n * f64::from(b))
                .sum::<f64>()
                .abs();
            worst = worst.max(2.0 * dot.min(1.0).acos().to_degrees());
        }
        // Rounding (not flooring) keeps the worst case near one half step per component.
        assert!(worst < 1.0, "worst rotation error {worst:.3}°");
    }

    #[test]
    fn bad_alpha_decodes_to_identity() {
        assert_eq!(unpack_quat([10, 20, 30, 200]), [1.0, 0.0, 0.0, 0.0]);
        assert_eq!(pack_quat([0.0; 4])[3], 252);
    }
}

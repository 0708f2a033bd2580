//! The model: Gaussians in f32 in the GPU's layout (`Gaussians32`), the same resident on the GPU
//! (`GpuGaussians`, SH split into one buffer per band), their gradients (`GpuGrads`, `Grads32`),
//! and the optimiser's view of them — one
//! `ParamGroup` per parameter array, paired with where its gradient lives.

use crate::constants::{
    BAND_COEFFS, GEOM_MEAN, GEOM_MEAN2D, GEOM_OPACITY, GEOM_QUAT, GEOM_SCALE, GEOM_STRIDE,
};
use crate::sh::coeff_count;
use splat_gpu::{GpuContext, GpuError, readback, storage_buffer, storage_buffer_zeroed};
use splat_scene::GaussianCloud;

/// Gaussians in f32 in the layout of the GPU buffers (SH coefficient-major, then channel).
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussians32 {
    pub sh_degree: u32,
    pub means: Vec<f32>,
    pub log_scales: Vec<f32>,
    pub quats: Vec<f32>,
    pub opacities: Vec<f32>,
    pub sh: Vec<f32>,
}

impl Gaussians32 {
    pub fn len(&self) -> usize {
        self.opacities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.opacities.is_empty()
    }

    /// The same Gaussians with SH up to `degree`: bands past the model's own start at zero,
    /// bands past `degree` are dropped.
    pub fn with_sh_degree(&self, degree: u32) -> Self {
        let (had, want) = (coeff_count(self.sh_degree), coeff_count(degree));
        let mut sh = vec![0.0; self.len() * want * 3];
        let keep = had.min(want) * 3;
        for (to, from) in sh
            .chunks_exact_mut(want * 3)
            .zip(self.sh.chunks_exact(had * 3))
        {
            to[..keep].copy_from_slice(&from[..keep]);
        }
        Self {
            sh_degree: degree,
            sh,
            ..self.clone()
        }
    }

    /// From a PLY cloud (its f_rest is channel-major).
    pub fn from_cloud(c: &GaussianCloud) -> Self {
        let k = coeff_count(c.sh_degree);
        let rest = k - 1;
        let mut sh = Vec::with_capacity(c.len() * k * 3);
        for i in 0..c.len() {
            sh.extend_from_slice(&c.sh_dc[i]);
            for j in 0..rest {
                for ch in 0..3 {
                    sh.push(c.sh_rest[i * 3 * rest + ch * rest + j]);
                }
            }
        }
        Self {
            sh_degree: c.sh_degree,
            means: c.means.iter().flatten().copied().collect(),
            log_scales: c.log_scales.iter().flatten().copied().collect(),
            quats: c.rotations.iter().flatten().copied().collect(),
            opacities: c.opacity.clone(),
            sh,
        }
    }

    /// As a PLY cloud (inverse of `from_cloud`).
    pub fn to_cloud(&self) -> GaussianCloud {
        let n = self.len();
        let k = coeff_count(self.sh_degree);
        let rest = k - 1;
        let mut sh_dc = Vec::with_capacity(n);
        let mut sh_rest = vec![0.0f32; n * rest * 3];
        for i in 0..n {
            let c = &self.sh[i * k * 3..(i + 1) * k * 3];
            sh_dc.push([c[0], c[1], c[2]]);
            for j in 0..rest {
                for ch in 0..3 {
                    sh_rest[i * 3 * rest + ch * rest + j] = c[(j + 1) * 3 + ch];
                }
            }
        }
        let arrays = |v: &[f32]| v.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
        GaussianCloud {
            sh_degree: self.sh_degree,
            means: arrays(&self.means),
            sh_dc,
            sh_rest,
            opacity: self.opacities.clone(),
            log_scales: arrays(&self.log_scales),
            rotations: self
                .quats
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect(),
        }
    }
}

/// Splits coefficient-major SH (`n × K × 3`) into one array per band (`n × (2b+1) × 3`);
/// bands above the degree are empty.
pub fn split_bands(sh: &[f32], n: usize, degree: u32) -> [Vec<f32>; 4] {
    let k = coeff_count(degree);
    let mut out: [Vec<f32>; 4] = Default::default();
    let mut first = 0;
    for (b, &nb) in BAND_COEFFS.iter().enumerate() {
        if first + nb > k {
            break;
        }
        out[b] = (0..n)
            .flat_map(|i| {
                sh[(i * k + first) * 3..(i * k + first + nb) * 3]
                    .iter()
                    .copied()
            })
            .collect();
        first += nb;
    }
    out
}

/// Inverse of `split_bands`.
pub(crate) fn merge_bands(bands: &[Vec<f32>; 4], n: usize, degree: u32) -> Vec<f32> {
    let k = coeff_count(degree);
    let mut sh = vec![0.0; n * k * 3];
    let mut first = 0;
    for (b, &nb) in BAND_COEFFS.iter().enumerate() {
        if first + nb > k {
            break;
        }
        for i in 0..n {
            sh[(i * k + first) * 3..(i * k + first + nb) * 3]
                .copy_from_slice(&bands[b][i * nb * 3..(i + 1) * nb * 3]);
        }
        first += nb;
    }
    sh
}

/// Gaussian parameters resident on the GPU.
pub struct GpuGaussians {
    pub count: u32,
    /// The degree the SH buffers hold.
    pub sh_degree: u32,
    /// The degree rendering uses (training raises it over time); at most `sh_degree`.
    pub(crate) active_sh_degree: u32,
    pub means: wgpu::Buffer,
    pub log_scales: wgpu::Buffer,
    pub quats: wgpu::Buffer,
    pub opacities: wgpu::Buffer,
    /// SH coefficients, one buffer per band (see `split_bands`).
    pub sh: [wgpu::Buffer; 4],
}

impl GpuGaussians {
    /// Renders (and differentiates) with SH up to `degree` only (clamped to the stored degree);
    /// higher coefficients get zero gradient.
    pub fn set_active_sh_degree(&mut self, degree: u32) {
        self.active_sh_degree = degree.min(self.sh_degree);
    }

    pub fn active_sh_degree(&self) -> u32 {
        self.active_sh_degree
    }

    /// Uploads the parameters; fails with a clear error when an array is larger than the
    /// device allows in one binding (lavapipe: 128 MiB, i.e. ~700k Gaussians at SH degree 3).
    pub fn upload(ctx: &GpuContext, g: &Gaussians32) -> Result<Self, GpuError> {
        for (what, len) in [
            ("Gaussian means", g.means.len()),
            ("Gaussian rotations", g.quats.len()),
            (
                "Gaussian SH coefficients of one band",
                3 * (2 * g.sh_degree as usize + 1) * g.len(),
            ),
        ] {
            ctx.check_binding(what, len as u64 * 4)?;
        }
        ctx.checked("uploading Gaussians", || {
            Ok(Self {
                count: g.len() as u32,
                sh_degree: g.sh_degree,
                active_sh_degree: g.sh_degree,
                means: storage_buffer(ctx, "means", &g.means),
                log_scales: storage_buffer(ctx, "log_scales", &g.log_scales),
                quats: storage_buffer(ctx, "quats", &g.quats),
                opacities: storage_buffer(ctx, "opacities", &g.opacities),
                sh: split_bands(&g.sh, g.len(), g.sh_degree)
                    .map(|band| storage_buffer(ctx, "sh band", &band)),
            })
        })
    }
}

impl GpuGaussians {
    /// Reads every parameter back to the host (blocking).
    pub fn read(&self, ctx: &GpuContext) -> Result<Gaussians32, GpuError> {
        let n = self.count as usize;
        let mut bands: [Vec<f32>; 4] = Default::default();
        for (b, band) in bands
            .iter_mut()
            .enumerate()
            .take(self.sh_degree as usize + 1)
        {
            *band = readback(ctx, &self.sh[b], n * BAND_COEFFS[b] * 3)?;
        }
        Ok(Gaussians32 {
            sh_degree: self.sh_degree,
            means: readback(ctx, &self.means, n * 3)?,
            log_scales: readback(ctx, &self.log_scales, n * 3)?,
            quats: readback(ctx, &self.quats, n * 4)?,
            opacities: readback(ctx, &self.opacities, n)?,
            sh: merge_bands(&bands, n, self.sh_degree),
        })
    }
}

/// Where a group's gradient lives: rows of `stride` floats, this group's values at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GradLayout {
    pub stride: u32,
    pub offset: u32,
}

/// One optimisable parameter array of the Gaussians and where its gradient lives.
#[derive(Clone, Copy)]
pub struct ParamGroup<'a> {
    pub param: &'a wgpu::Buffer,
    pub grad: &'a wgpu::Buffer,
    pub layout: GradLayout,
    /// Rows (Gaussians; 0 for SH bands above the stored degree) and floats per row.
    pub rows: u32,
    pub dim: u32,
}

impl GpuGaussians {
    /// The eight parameter groups in a fixed order — means, log-scales, rotations, opacity
    /// logits, SH bands 0–3 — each paired with its gradient in `grads`.
    pub fn param_groups<'a>(&'a self, grads: &'a GpuGrads) -> [ParamGroup<'a>; 8] {
        let geom = |param, offset: usize, dim| ParamGroup {
            param,
            grad: &grads.geom,
            layout: GradLayout {
                stride: GEOM_STRIDE,
                offset: offset as u32,
            },
            rows: self.count,
            dim,
        };
        let band = |b: usize| {
            let dim = 3 * BAND_COEFFS[b] as u32;
            let rows = if b <= self.sh_degree as usize {
                self.count
            } else {
                0
            };
            ParamGroup {
                param: &self.sh[b],
                grad: &grads.sh[b],
                layout: GradLayout {
                    stride: dim,
                    offset: 0,
                },
                rows,
                dim,
            }
        };
        [
            geom(&self.means, GEOM_MEAN, 3),
            geom(&self.log_scales, GEOM_SCALE, 3),
            geom(&self.quats, GEOM_QUAT, 4),
            geom(&self.opacities, GEOM_OPACITY, 1),
            band(0),
            band(1),
            band(2),
            band(3),
        ]
    }
}

/// Gradients on the GPU: per Gaussian 16 floats (mean xyz, log-scale xyz, quaternion wxyz,
/// opacity logit, screen-space mean xy in pixels, 2 unused) and the SH gradients per band.
pub struct GpuGrads {
    pub count: u32,
    pub sh_degree: u32,
    pub geom: wgpu::Buffer,
    /// One buffer per SH band, as `GpuGaussians::sh`.
    pub sh: [wgpu::Buffer; 4],
    /// Per-key partial sums (scratch, kept for reuse).
    pub(crate) key_grads: wgpu::Buffer,
}

/// Gradients read back to the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads32 {
    pub means: Vec<[f32; 3]>,
    pub log_scales: Vec<[f32; 3]>,
    pub quats: Vec<[f32; 4]>,
    pub opacities: Vec<f32>,
    pub sh: Vec<f32>,
    /// dL/d(projected mean) in pixels, what densification accumulates.
    pub mean2d: Vec<[f32; 2]>,
}

impl GpuGrads {
    /// Gradients with no buffers yet, for `Rasterizer::backward_into` to fill.
    pub fn empty(ctx: &GpuContext) -> Self {
        let b = |label| storage_buffer_zeroed(ctx, label, 4);
        Self {
            count: 0,
            sh_degree: 0,
            geom: b("grad_geom"),
            sh: std::array::from_fn(|_| b("grad_sh band")),
            key_grads: b("key_grads"),
        }
    }

    pub fn read(&self, ctx: &GpuContext) -> Result<Grads32, GpuError> {
        let n = self.count as usize;
        let geom: Vec<[f32; 16]> = readback(ctx, &self.geom, n)?;
        Ok(Grads32 {
            means: geom
                .iter()
                .map(|g| [g[GEOM_MEAN], g[GEOM_MEAN + 1], g[GEOM_MEAN + 2]])
                .collect(),
            log_scales: geom
                .iter()
                .map(|g| [g[GEOM_SCALE], g[GEOM_SCALE + 1], g[GEOM_SCALE + 2]])
                .collect(),
            quats: geom
                .iter()
                .map(|g| {
                    [
                        g[GEOM_QUAT],
                        g[GEOM_QUAT + 1],
                        g[GEOM_QUAT + 2],
                        g[GEOM_QUAT + 3],
                    ]
                })
                .collect(),
            opacities: geom.iter().map(|g| g[GEOM_OPACITY]).collect(),
            mean2d: geom
                .iter()
                .map(|g| [g[GEOM_MEAN2D], g[GEOM_MEAN2D + 1]])
                .collect(),
            sh: {
                let k = coeff_count(self.sh_degree);
                let mut bands: [Vec<f32>; 4] = Default::default();
                let mut first = 0;
                for (b, &nb) in BAND_COEFFS.iter().enumerate() {
                    if first + nb <= k {
                        bands[b] = readback(ctx, &self.sh[b], n * nb * 3)?;
                    }
                    first += nb;
                }
                merge_bands(&bands, n, self.sh_degree)
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh_degree_changes_pad_with_zeros_and_keep_the_lower_bands() {
        let g = Gaussians32 {
            sh_degree: 1,
            means: vec![0.0; 6],
            log_scales: vec![0.0; 6],
            quats: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            opacities: vec![0.5, -0.5],
            sh: (0..24).map(|v| v as f32 + 1.0).collect(),
        };
        let up = g.with_sh_degree(3);
        assert_eq!(up.sh.len(), 2 * 16 * 3);
        for i in 0..2 {
            assert_eq!(up.sh[i * 48..i * 48 + 12], g.sh[i * 12..i * 12 + 12]);
            assert!(up.sh[i * 48 + 12..(i + 1) * 48].iter().all(|&v| v == 0.0));
        }
        let back = up.with_sh_degree(1);
        assert_eq!(back.sh, g.sh);
        assert_eq!(back.sh_degree, 1);
        let dc = g.with_sh_degree(0);
        assert_eq!(dc.sh, [1.0, 2.0, 3.0, 13.0, 14.0, 15.0]);
        assert_eq!(dc.opacities, g.opacities);
    }

    #[test]
    fn band_split_round_trips_at_every_degree() {
        for degree in 0..=3 {
            let n = 5;
            let k = coeff_count(degree);
            let sh: Vec<f32> = (0..n * k * 3).map(|v| v as f32).collect();
            let bands = split_bands(&sh, n, degree);
            assert_eq!(bands[0].len(), n * 3);
            assert_eq!(bands.iter().map(Vec::len).sum::<usize>(), sh.len());
            // Gaussian 1's first band-1 coefficient, green channel, is coefficient 1 of the input.
            if degree >= 1 {
                assert_eq!(bands[1][3 * 3 + 1], sh[(k + 1) * 3 + 1]);
            }
            assert_eq!(merge_bands(&bands, n, degree), sh);
        }
    }
}

//! Constants the GPU kernels and the f64 reference share, defined once here: the WGSL gets them
//! as generated declarations (`raster_constants`, `splat_gpu::Constant`), the reference and the host
//! code import them.

use crate::sh::{SH_C0, SH_C1, SH_C2, SH_C3};
use splat_gpu::Constant;

/// Tile edge in pixels.
pub const TILE: u32 = 16;
/// Added to the 2D covariance's diagonal (px²): the low-pass filter of the paper.
pub const COV2D_DILATION: f64 = 0.3;
pub const ALPHA_MAX: f64 = 0.99;
pub const ALPHA_MIN: f64 = 1.0 / 255.0;
pub const T_MIN: f64 = 1e-4;
/// The Jacobian is evaluated no further out than this times the half field of view.
pub const FOV_CLAMP: f64 = 1.3;
/// A Gaussian is not drawn from a camera standing inside its ellipsoid of this many standard
/// deviations (Mahalanobis distance of the camera centre from its mean): there the EWA projection
/// means nothing (the splat would cover the whole image with the colour of a blob the camera is
/// in), and the near plane, which tests the mean alone, does not catch it. 3σ is also the extent
/// the tile rectangles use.
pub const INSIDE_SIGMAS: f64 = 3.0;

/// SSIM's stabilising constants (0.01², 0.03²) and its Gaussian window's radius (11×11, σ = 1.5).
pub const SSIM_C1: f64 = 0.0001;
pub const SSIM_C2: f64 = 0.0009;
pub const SSIM_RADIUS: i64 = 5;

/// The SSIM window's weights for offsets 0..=5 as the GPU uses them: exp(−k²/(2·1.5²)),
/// normalised over k = −5..=5, to 8 decimals (within 5e-9 of the exact weights the f64
/// reference computes; a test checks it).
pub const SSIM_WINDOW_F32: [f32; 6] = [
    0.266_011_72,
    0.213_005_54,
    0.109_360_69,
    0.036_000_77,
    0.007_598_76,
    0.001_028_38,
];

/// Coefficients per SH band: 1, 3, 5, 7.
pub const BAND_COEFFS: [usize; 4] = [1, 3, 5, 7];

/// Floats per Gaussian in the gradient record `project_backward` writes (`GpuGrads::geom`), and
/// where each parameter's gradient sits in it: mean xyz, log-scale xyz, quaternion wxyz, opacity
/// logit, screen-space mean xy in pixels (what densification accumulates), 2 unused.
pub const GEOM_STRIDE: u32 = 16;
pub const GEOM_MEAN: usize = 0;
pub const GEOM_SCALE: usize = 3;
pub const GEOM_QUAT: usize = 6;
pub const GEOM_OPACITY: usize = 10;
pub const GEOM_MEAN2D: usize = 12;

/// The gradient record layout as WGSL constants (the rasterizer's backward pass writes it;
/// densification and MCMC read it).
pub fn geom_constants() -> Vec<Constant> {
    let at = |name, v: usize| Constant::U32(name, v as u32);
    vec![
        Constant::U32("GEOM_STRIDE", GEOM_STRIDE),
        at("GEOM_MEAN", GEOM_MEAN),
        at("GEOM_SCALE", GEOM_SCALE),
        at("GEOM_QUAT", GEOM_QUAT),
        at("GEOM_OPACITY", GEOM_OPACITY),
        at("GEOM_MEAN2D", GEOM_MEAN2D),
    ]
}

/// Every constant the rasterizer's kernels take from here, as f32 where the GPU computes in f32.
pub fn raster_constants() -> Vec<Constant> {
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let mut out = vec![
        Constant::U32("TILE", TILE),
        Constant::F32("ALPHA_MAX", ALPHA_MAX as f32),
        Constant::F32("ALPHA_MIN", ALPHA_MIN as f32),
        Constant::F32("T_MIN", T_MIN as f32),
        Constant::F32("DILATION", COV2D_DILATION as f32),
        Constant::F32("INSIDE_SIGMAS", INSIDE_SIGMAS as f32),
        Constant::F32("SH_C0", SH_C0 as f32),
        Constant::F32("SH_C1", SH_C1 as f32),
        Constant::F32Array("SH_C2", f32s(&SH_C2)),
        Constant::F32Array("SH_C3", f32s(&SH_C3)),
    ];
    out.extend(geom_constants());
    out
}

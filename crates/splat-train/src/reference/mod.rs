//! The plain-Rust f64 reference of the tile rasterizer: the same maths as the WGSL kernels,
//! written for clarity, used as the oracle in tests (forward images and analytic gradients,
//! the gradients themselves checked against finite differences).
//!
//! Conventions (the 3DGS paper's): COLMAP/OpenCV camera axes; the centre of pixel (i, j) is at
//! (i + 0.5, j + 0.5); a Gaussian's mean lands at (fx·x/z + cx, fy·y/z + cy); its 2D covariance
//! is J W Σ Wᵀ Jᵀ + 0.3·I with the perspective Jacobian J clamped to 1.3× the field of view;
//! it covers the 16×16 tiles within its 3σ radius; α = min(0.99, σ(o)·exp(−½dᵀΣ⁻¹d)), skipped
//! under 1/255; a pixel stops before the Gaussian that would take its transmittance under
//! 1e-4; colour = SH(view direction) + 0.5, clamped at 0.

mod loss;
mod project;
mod raster;
mod smooth;

pub use loss::{LossValue, photometric_loss, photometric_loss_grad};
pub use project::{Projected, project, project_backward};
pub use raster::{Render, backward, blend_weights, forward};
pub use smooth::smoothness;

pub use crate::view::View;
use splat_scene::GaussianCloud;

pub use crate::constants::{
    ALPHA_MAX, ALPHA_MIN, COV2D_DILATION, FOV_CLAMP, INSIDE_SIGMAS, T_MIN, TILE,
};
use crate::model::Gaussians32;

/// Gaussians as the PLY stores them, in f64.
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussians {
    pub sh_degree: u32,
    pub means: Vec<[f64; 3]>,
    pub log_scales: Vec<[f64; 3]>,
    /// Unnormalised (w, x, y, z).
    pub quats: Vec<[f64; 4]>,
    /// Opacity logits.
    pub opacities: Vec<f64>,
    /// `(sh_degree+1)²` coefficients × 3 channels per Gaussian: `sh[(i·K + k)·3 + c]`.
    pub sh: Vec<f64>,
}

impl Gaussians {
    /// The same values as `g`, in f64.
    pub fn from_f32(g: &Gaussians32) -> Self {
        let f = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        let three = |v: &[f32]| {
            v.chunks_exact(3)
                .map(|c| [c[0], c[1], c[2]].map(f64::from))
                .collect()
        };
        Self {
            sh_degree: g.sh_degree,
            means: three(&g.means),
            log_scales: three(&g.log_scales),
            quats: g
                .quats
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]].map(f64::from))
                .collect(),
            opacities: f(&g.opacities),
            sh: f(&g.sh),
        }
    }

    pub fn len(&self) -> usize {
        self.means.len()
    }

    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }

    pub fn coeffs(&self) -> usize {
        crate::sh::coeff_count(self.sh_degree)
    }

    /// Converts a PLY cloud (f_rest channel-major) to coefficient-major SH.
    pub fn from_cloud(c: &GaussianCloud) -> Self {
        let k = crate::sh::coeff_count(c.sh_degree);
        let rest = k - 1;
        let mut sh = Vec::with_capacity(c.len() * k * 3);
        for i in 0..c.len() {
            sh.extend(c.sh_dc[i].iter().map(|&v| f64::from(v)));
            for j in 0..rest {
                for ch in 0..3 {
                    sh.push(f64::from(c.sh_rest[i * 3 * rest + ch * rest + j]));
                }
            }
        }
        let f3 = |v: &[f32; 3]| v.map(f64::from);
        Self {
            sh_degree: c.sh_degree,
            means: c.means.iter().map(f3).collect(),
            log_scales: c.log_scales.iter().map(f3).collect(),
            quats: c.rotations.iter().map(|q| q.map(f64::from)).collect(),
            opacities: c.opacity.iter().map(|&o| f64::from(o)).collect(),
            sh,
        }
    }
}

/// Gradients of a loss with respect to every stored parameter, plus the screen-space mean
/// gradient (pixels) that densification accumulates.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads {
    pub means: Vec<[f64; 3]>,
    pub log_scales: Vec<[f64; 3]>,
    pub quats: Vec<[f64; 4]>,
    pub opacities: Vec<f64>,
    pub sh: Vec<f64>,
    pub mean2d: Vec<[f64; 2]>,
}

impl Grads {
    pub fn zeros(g: &Gaussians) -> Self {
        let n = g.len();
        Self {
            means: vec![[0.0; 3]; n],
            log_scales: vec![[0.0; 3]; n],
            quats: vec![[0.0; 4]; n],
            opacities: vec![0.0; n],
            sh: vec![0.0; g.sh.len()],
            mean2d: vec![[0.0; 2]; n],
        }
    }
}

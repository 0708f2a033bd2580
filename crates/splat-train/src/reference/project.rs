//! Per-Gaussian projection: world → camera, 3D covariance, EWA 2D covariance, conic, radius,
//! tile rectangle and view-dependent colour — and its backward pass.

use super::{COV2D_DILATION, FOV_CLAMP, Gaussians, Grads, INSIDE_SIGMAS, TILE, View};
use crate::sh;
use nalgebra::{Matrix2, Matrix2x3, Matrix3, Vector3};

/// A Gaussian on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Projected {
    pub visible: bool,
    pub p_cam: Vector3<f64>,
    pub mean2d: [f64; 2],
    /// 2D covariance (A, B, C) = [[A, B], [B, C]], dilation included.
    pub cov2d: [f64; 3],
    /// Its inverse (a, b, c).
    pub conic: [f64; 3],
    pub radius: f64,
    /// Covered tiles: x0, y0, x1, y1 (x1, y1 exclusive).
    pub rect: [u32; 4],
    pub depth: f64,
    pub color: [f64; 3],
    pub color_clamped: [bool; 3],
    /// sigmoid(opacity logit).
    pub opacity: f64,
    /// Whether x/z (y/z) was clamped to the widened field of view in the Jacobian.
    pub clamp_x: bool,
    pub clamp_y: bool,
}

/// Rotation matrix of a normalised quaternion (w, x, y, z).
pub fn quat_to_matrix(q: [f64; 4]) -> Matrix3<f64> {
    let [r, x, y, z] = q;
    Matrix3::new(
        1.0 - 2.0 * (y * y + z * z),
        2.0 * (x * y - r * z),
        2.0 * (x * z + r * y),
        2.0 * (x * y + r * z),
        1.0 - 2.0 * (x * x + z * z),
        2.0 * (y * z - r * x),
        2.0 * (x * z - r * y),
        2.0 * (y * z + r * x),
        1.0 - 2.0 * (x * x + y * y),
    )
}

/// d R / d (w, x, y, z) for a normalised quaternion.
fn quat_matrix_derivatives(q: [f64; 4]) -> [Matrix3<f64>; 4] {
    let [r, x, y, z] = q;
    let t = 2.0;
    [
        Matrix3::new(0.0, -t * z, t * y, t * z, 0.0, -t * x, -t * y, t * x, 0.0),
        Matrix3::new(
            0.0,
            t * y,
            t * z,
            t * y,
            -2.0 * t * x,
            -t * r,
            t * z,
            t * r,
            -2.0 * t * x,
        ),
        Matrix3::new(
            -2.0 * t * y,
            t * x,
            t * r,
            t * x,
            0.0,
            t * z,
            -t * r,
            t * z,
            -2.0 * t * y,
        ),
        Matrix3::new(
            -2.0 * t * z,
            -t * r,
            t * x,
            t * r,
            -2.0 * t * z,
            t * y,
            t * x,
            t * y,
            0.0,
        ),
    ]
}

fn normalise(q: [f64; 4]) -> ([f64; 4], f64) {
    let n = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    (q.map(|v| v / n), n)
}

pub(crate) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn hidden() -> Projected {
    Projected {
        visible: false,
        p_cam: Vector3::zeros(),
        mean2d: [0.0; 2],
        cov2d: [0.0; 3],
        conic: [0.0; 3],
        radius: 0.0,
        rect: [0; 4],
        depth: 0.0,
        color: [0.0; 3],
        color_clamped: [false; 3],
        opacity: 0.0,
        clamp_x: false,
        clamp_y: false,
    }
}

/// 3D covariance R S² Rᵀ and the pieces the backward pass needs.
fn covariance3d(g: &Gaussians, i: usize) -> (Matrix3<f64>, Matrix3<f64>, Vector3<f64>) {
    let (q, _) = normalise(g.quats[i]);
    let r = quat_to_matrix(q);
    let s = Vector3::from(g.log_scales[i].map(f64::exp));
    let m = r * Matrix3::from_diagonal(&s);
    (m * m.transpose(), r, s)
}

/// Whether a camera at offset `d` from a Gaussian's mean (rotation `r`, scales `s`) stands inside
/// its `INSIDE_SIGMAS` ellipsoid: |S⁻¹ Rᵀ d|² < k². False for NaN, as on the GPU.
fn camera_inside(r: &Matrix3<f64>, s: &Vector3<f64>, d: Vector3<f64>) -> bool {
    let v = (r.transpose() * d).component_div(s);
    v.norm_squared() < INSIDE_SIGMAS * INSIDE_SIGMAS
}

/// The perspective Jacobian at camera point `p` with the field-of-view clamp.
fn jacobian(view: &View, p: &Vector3<f64>) -> (Matrix2x3<f64>, bool, bool) {
    let lim_x = FOV_CLAMP * f64::from(view.width) / (2.0 * view.fx);
    let lim_y = FOV_CLAMP * f64::from(view.height) / (2.0 * view.fy);
    let (ux, uy) = (p.x / p.z, p.y / p.z);
    let (cx, cy) = (ux.clamp(-lim_x, lim_x), uy.clamp(-lim_y, lim_y));
    let j = Matrix2x3::new(
        view.fx / p.z,
        0.0,
        -view.fx * cx / p.z,
        0.0,
        view.fy / p.z,
        -view.fy * cy / p.z,
    );
    (j, cx != ux, cy != uy)
}

/// Projects Gaussian `i` into `view`.
pub fn project(g: &Gaussians, i: usize, view: &View) -> Projected {
    let w = view.rotation;
    let p = w * Vector3::from(g.means[i]) + view.translation;
    if !p.iter().all(|v| v.is_finite()) || p.z < view.near {
        return hidden();
    }
    let (sigma, r, s) = covariance3d(g, i);
    if camera_inside(&r, &s, view.camera_centre() - Vector3::from(g.means[i])) {
        return hidden();
    }
    let (j, clamp_x, clamp_y) = jacobian(view, &p);
    let t = j * w;
    let cov = t * sigma * t.transpose();
    let (a, b, c) = (
        cov[(0, 0)] + COV2D_DILATION,
        cov[(0, 1)],
        cov[(1, 1)] + COV2D_DILATION,
    );
    let det = a * c - b * b;
    if det <= 0.0 || !det.is_finite() {
        return hidden();
    }
    let conic = [c / det, -b / det, a / det];
    let mid = 0.5 * (a + c);
    let lambda1 = mid + (mid * mid - det).max(0.1).sqrt();
    let radius = (3.0 * lambda1.sqrt()).ceil();
    let mean2d = [view.fx * p.x / p.z + view.cx, view.fy * p.y / p.z + view.cy];
    // Tile rectangle as the reference CUDA code computes it, with pixel centres at integers.
    let (gx, gy) = view.tiles();
    let (px, py) = (mean2d[0] - 0.5, mean2d[1] - 0.5);
    let tile = f64::from(TILE);
    let clamp_tile = |v: f64, max: u32| (v.trunc().max(0.0) as u64).min(u64::from(max)) as u32;
    let rect = [
        clamp_tile((px - radius) / tile, gx),
        clamp_tile((py - radius) / tile, gy),
        clamp_tile((px + radius + tile - 1.0) / tile, gx),
        clamp_tile((py + radius + tile - 1.0) / tile, gy),
    ];
    if rect[2] <= rect[0] || rect[3] <= rect[1] {
        return hidden();
    }
    let dir = (Vector3::from(g.means[i]) - view.camera_centre()).normalize();
    let (basis, _) = sh::basis(g.sh_degree, [dir.x, dir.y, dir.z]);
    let k = g.coeffs();
    let mut color = [0.5; 3];
    for (kk, b) in basis.iter().enumerate() {
        for (ch, col) in color.iter_mut().enumerate() {
            *col += g.sh[(i * k + kk) * 3 + ch] * b;
        }
    }
    let color_clamped = color.map(|c| c < 0.0);
    let color = color.map(|c| c.max(0.0));
    Projected {
        visible: true,
        p_cam: p,
        mean2d,
        cov2d: [a, b, c],
        conic,
        radius,
        rect,
        depth: p.z,
        color,
        color_clamped,
        opacity: sigmoid(g.opacities[i]),
        clamp_x,
        clamp_y,
    }
}

/// Gradients arriving at one projected Gaussian from the pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProjectedGrad {
    pub mean2d: [f64; 2],
    pub conic: [f64; 3],
    /// With respect to sigmoid(opacity).
    pub opacity: f64,
    pub color: [f64; 3],
}

/// Pushes the screen-space gradients of Gaussian `i` back to its stored parameters.
pub fn project_backward(
    g: &Gaussians,
    i: usize,
    view: &View,
    p: &Projected,
    d: &ProjectedGrad,
    out: &mut Grads,
) {
    if !p.visible {
        return;
    }
    out.mean2d[i] = d.mean2d;
    out.opacities[i] = d.opacity * p.opacity * (1.0 - p.opacity);

    // Colour → SH coefficients and view direction.
    let mean = Vector3::from(g.means[i]);
    let v = mean - view.camera_centre();
    let vn = v.norm();
    let dir = v / vn;
    let (basis, dbasis) = sh::basis(g.sh_degree, [dir.x, dir.y, dir.z]);
    let dcol = [0, 1, 2].map(|ch| {
        if p.color_clamped[ch] {
            0.0
        } else {
            d.color[ch]
        }
    });
    let k = g.coeffs();
    let mut d_dir = Vector3::zeros();
    for kk in 0..k {
        for (ch, dc) in dcol.iter().enumerate() {
            out.sh[(i * k + kk) * 3 + ch] = dc * basis[kk];
            d_dir += Vector3::from(dbasis[kk]) * (dc * g.sh[(i * k + kk) * 3 + ch]);
        }
    }
    let mut d_mean = (d_dir - dir * dir.dot(&d_dir)) / vn;

    // Conic → 2D covariance: dΣ₂ = −Q dQ Q with the off-diagonal gradient split over both entries.
    let q = Matrix2::new(p.conic[0], p.conic[1], p.conic[1], p.conic[2]);
    let dq = Matrix2::new(d.conic[0], 0.5 * d.conic[1], 0.5 * d.conic[1], d.conic[2]);
    let d_cov2 = -(q * dq * q);

    // Σ₂ = T Σ Tᵀ (+ dilation), T = J W.
    let w = view.rotation;
    let pc = p.p_cam;
    let (j, _, _) = jacobian(view, &pc);
    let t = j * w;
    let (sigma, r, s) = covariance3d(g, i);
    let d_sigma = t.transpose() * d_cov2 * t;
    let d_t = 2.0 * d_cov2 * t * sigma;
    let d_j = d_t * w.transpose();

    // J → camera point (true derivative of the clamped Jacobian).
    let (z, z2) = (pc.z, pc.z * pc.z);
    let lim_x = FOV_CLAMP * f64::from(view.width) / (2.0 * view.fx);
    let lim_y = FOV_CLAMP * f64::from(view.height) / (2.0 * view.fy);
    let ux = (pc.x / z).clamp(-lim_x, lim_x);
    let uy = (pc.y / z).clamp(-lim_y, lim_y);
    let (dux_dx, dux_dz) = if p.clamp_x {
        (0.0, 0.0)
    } else {
        (1.0 / z, -pc.x / z2)
    };
    let (duy_dy, duy_dz) = if p.clamp_y {
        (0.0, 0.0)
    } else {
        (1.0 / z, -pc.y / z2)
    };
    let mut d_pc = Vector3::zeros();
    // J00 = fx/z, J11 = fy/z, J02 = −fx·ux/z, J12 = −fy·uy/z.
    d_pc.z += d_j[(0, 0)] * (-view.fx / z2) + d_j[(1, 1)] * (-view.fy / z2);
    d_pc.x += d_j[(0, 2)] * (-view.fx / z * dux_dx);
    d_pc.z += d_j[(0, 2)] * (view.fx * ux / z2 - view.fx / z * dux_dz);
    d_pc.y += d_j[(1, 2)] * (-view.fy / z * duy_dy);
    d_pc.z += d_j[(1, 2)] * (view.fy * uy / z2 - view.fy / z * duy_dz);
    // Mean in pixels.
    d_pc.x += d.mean2d[0] * view.fx / z;
    d_pc.y += d.mean2d[1] * view.fy / z;
    d_pc.z += -d.mean2d[0] * view.fx * pc.x / z2 - d.mean2d[1] * view.fy * pc.y / z2;
    d_mean += w.transpose() * d_pc;
    out.means[i] = [d_mean.x, d_mean.y, d_mean.z];

    // Σ = M Mᵀ, M = R diag(s).
    let m = r * Matrix3::from_diagonal(&s);
    let d_m = 2.0 * d_sigma * m;
    let mut d_r = Matrix3::zeros();
    for col in 0..3 {
        let ds = (0..3)
            .map(|row| d_m[(row, col)] * r[(row, col)])
            .sum::<f64>();
        out.log_scales[i][col] = ds * s[col];
        for row in 0..3 {
            d_r[(row, col)] = d_m[(row, col)] * s[col];
        }
    }
    let (qn, norm) = normalise(g.quats[i]);
    let derivs = quat_matrix_derivatives(qn);
    let d_qn: [f64; 4] = derivs.map(|dr| dr.component_mul(&d_r).sum());
    let dot: f64 = (0..4).map(|c| d_qn[c] * qn[c]).sum();
    out.quats[i] = [0, 1, 2, 3].map(|c| (d_qn[c] - qn[c] * dot) / norm);
}

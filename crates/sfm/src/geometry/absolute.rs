//! Absolute pose: P3P (Grunert's distance equations reduced to a quartic in one depth ratio,
//! the quartic's coefficients built by polynomial arithmetic rather than transcribed), the
//! rigid alignment of two point triples (Kabsch), and the undistortion of SIMPLE_RADIAL pixels
//! into bearing vectors.

use super::degenerate;
use crate::linalg;
use nalgebra::{Matrix3, Matrix4, Vector3};

/// Polynomial coefficients, lowest degree first.
fn poly_mul(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; a.len() + b.len() - 1];
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            out[i + j] += x * y;
        }
    }
    out
}

fn poly_add(a: &[f64], b: &[f64], scale: f64) -> Vec<f64> {
    let mut out = vec![0.0; a.len().max(b.len())];
    for (i, x) in a.iter().enumerate() {
        out[i] += x;
    }
    for (i, y) in b.iter().enumerate() {
        out[i] += scale * y;
    }
    out
}

/// Real roots of a quartic (coefficients lowest first) by `linalg::companion_real_roots`,
/// polished by Newton steps.
pub fn quartic_roots(c: &[f64]) -> Vec<f64> {
    let scale = c.iter().fold(0f64, |m, v| m.max(v.abs()));
    if !scale.is_finite() {
        return Vec::new();
    }
    if scale == 0.0 || c[4].abs() < 1e-14 * scale {
        // Degenerate to a cubic.
        return super::fundamental::cubic_roots(c[3], c[2], c[1], c[0]);
    }
    let companion = Matrix4::new(
        -c[3] / c[4],
        -c[2] / c[4],
        -c[1] / c[4],
        -c[0] / c[4],
        1.0,
        0.0,
        0.0,
        0.0,
        0.0,
        1.0,
        0.0,
        0.0,
        0.0,
        0.0,
        1.0,
        0.0,
    );
    let deriv = |x: f64| (1..5).rev().fold(0.0, |acc, i| acc * x + i as f64 * c[i]);
    linalg::companion_real_roots(companion, c, |z| z.im.abs() <= 1e-6 * (1.0 + z.re.abs()))
        .into_iter()
        .map(|mut x| {
            for _ in 0..3 {
                let d = deriv(x);
                if d.abs() > f64::MIN_POSITIVE {
                    x -= linalg::eval_poly(c, x) / d;
                }
            }
            x
        })
        .collect()
}

/// Camera poses (x_cam = R·X + t) that see world points `x` along unit bearings `f`: up to four.
pub fn p3p(f: &[Vector3<f64>; 3], x: &[Vector3<f64>; 3]) -> Vec<(Matrix3<f64>, Vector3<f64>)> {
    if degenerate::p3p_sample(f, x) {
        return Vec::new();
    }
    let a2 = (x[1] - x[2]).norm_squared();
    let b2 = (x[0] - x[2]).norm_squared();
    let c2 = (x[0] - x[1]).norm_squared();
    if a2 < 1e-18 || b2 < 1e-18 || c2 < 1e-18 {
        return Vec::new();
    }
    let (ca, cb, cg) = (f[1].dot(&f[2]), f[0].dot(&f[2]), f[0].dot(&f[1]));
    // With u = s₂/s₁ and v = s₃/s₁: u = N(v)/D(v) (from the difference of two distance
    // equations), and substituting into the third gives a quartic in v.
    let k = (a2 - c2) / b2;
    let q = [1.0, -2.0 * cb, 1.0]; // 1 + v² − 2v·cos β
    let n = poly_add(
        &poly_add(&[1.0 + k], &[0.0, -2.0 * k * cb, 0.0], 1.0),
        &[0.0, 0.0, k - 1.0],
        1.0,
    );
    let d = [2.0 * cg, -2.0 * ca];
    let dd = poly_mul(&d, &d);
    let nn = poly_mul(&n, &n);
    let nd = poly_mul(&n, &d);
    let qdd = poly_mul(&q, &dd);
    // D² + N² − 2cos γ·N·D − (c²/b²)·Q·D² = 0.
    let quartic = poly_add(
        &poly_add(&poly_add(&dd, &nn, 1.0), &nd, -2.0 * cg),
        &qdd,
        -c2 / b2,
    );
    let mut out = Vec::new();
    for v in quartic_roots(&quartic) {
        let den = 2.0 * (cg - v * ca);
        if den.abs() < 1e-12 {
            continue;
        }
        let u = (n[0] + n[1] * v + n[2] * v * v) / den;
        let qv = 1.0 + v * v - 2.0 * v * cb;
        if qv <= 0.0 || u <= 0.0 || v <= 0.0 {
            continue;
        }
        let s1 = (b2 / qv).sqrt();
        let cam = [f[0] * s1, f[1] * (u * s1), f[2] * (v * s1)];
        if let Some(pose) = rigid_alignment(x, &cam)
            && pose.0.iter().chain(pose.1.iter()).all(|v| v.is_finite())
        {
            out.push(pose);
        }
    }
    out
}

/// The rotation and translation with cam ≈ R·world + t (least squares, Kabsch).
pub fn rigid_alignment(
    world: &[Vector3<f64>],
    cam: &[Vector3<f64>],
) -> Option<(Matrix3<f64>, Vector3<f64>)> {
    let n = world.len() as f64;
    let cw = world.iter().sum::<Vector3<f64>>() / n;
    let cc = cam.iter().sum::<Vector3<f64>>() / n;
    let mut h = Matrix3::zeros();
    for (w, c) in world.iter().zip(cam) {
        h += (c - cc) * (w - cw).transpose();
    }
    let svd = linalg::svd(h, true, true)?;
    let (u, vt) = (svd.u?, svd.v_t?);
    let mut s = Matrix3::identity();
    if (u * vt).determinant() < 0.0 {
        s[(2, 2)] = -1.0;
    }
    let r = u * s * vt;
    Some((r, cc - r * cw))
}

/// The unit bearing of a SIMPLE_RADIAL pixel (the distortion inverted by fixed-point steps).
pub fn bearing(focal: f64, cx: f64, cy: f64, k: f64, px: f64, py: f64) -> Vector3<f64> {
    let (ud, vd) = ((px - cx) / focal, (py - cy) / focal);
    let (mut u, mut v) = (ud, vd);
    for _ in 0..20 {
        let d = 1.0 + k * (u * u + v * v);
        if d.abs() < 1e-6 {
            break;
        }
        u = ud / d;
        v = vd / d;
    }
    Vector3::new(u, v, 1.0).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Rotation3;
    use rand::{Rng, SeedableRng};

    #[test]
    fn p3p_recovers_random_poses() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(4);
        let mut errors = Vec::new();
        for _ in 0..500 {
            let r = *Rotation3::from_euler_angles(
                rng.random_range(-3.0..3.0),
                rng.random_range(-1.5..1.5),
                rng.random_range(-3.0..3.0),
            )
            .matrix();
            let t = Vector3::new(
                rng.random_range(-1.0..1.0),
                rng.random_range(-1.0..1.0),
                rng.random_range(-1.0..1.0),
            );
            let mut x = [Vector3::zeros(); 3];
            let mut f = [Vector3::zeros(); 3];
            for i in 0..3 {
                let cam = Vector3::new(
                    rng.random_range(-1.0..1.0),
                    rng.random_range(-1.0..1.0),
                    rng.random_range(2.0..6.0),
                );
                x[i] = r.transpose() * (cam - t);
                f[i] = cam.normalize();
            }
            let best = p3p(&f, &x)
                .iter()
                .map(|(rr, tt)| (rr - r).norm() + (tt - t).norm())
                .fold(f64::MAX, f64::min);
            errors.push(best);
        }
        errors.sort_by(f64::total_cmp);
        // Near-degenerate triples lose digits in the quartic; RANSAC refines afterwards.
        assert!(
            errors[250] < 1e-9 && errors[499] < 1e-4,
            "median {:e}, worst {:e}",
            errors[250],
            errors[499]
        );
    }

    #[test]
    fn bearing_inverts_the_distortion() {
        let (f, cx, cy, k) = (800.0, 400.0, 300.0, -0.08);
        let (u, v) = (0.3, -0.2);
        let d = 1.0 + k * (u * u + v * v);
        let b = bearing(f, cx, cy, k, f * d * u + cx, f * d * v + cy);
        assert!((b - Vector3::new(u, v, 1.0).normalize()).norm() < 1e-12);
    }
}

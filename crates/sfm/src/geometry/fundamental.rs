//! The fundamental matrix from seven correspondences (the cubic det(αF₁ + (1−α)F₂) = 0) and
//! from eight or more (Hartley-normalised linear estimate with rank 2 enforced).

use super::{
    apply, degenerate, epipolar_row, normalizing_transform, null_space, smallest_right_vector,
};
use crate::linalg;
use nalgebra::{Matrix3, Matrix4, Vector2, Vector4};

/// Up to three fundamental matrices through seven correspondences (pixels).
pub fn seven_point(p1: &[Vector2<f64>], p2: &[Vector2<f64>]) -> Vec<Matrix3<f64>> {
    if p1.len() < 7 || p2.len() < 7 || degenerate::epipolar_sample(&p1[..7], &p2[..7]) {
        return Vec::new();
    }
    let t1 = normalizing_transform(&p1[..7]);
    let t2 = normalizing_transform(&p2[..7]);
    let rows: Vec<[f64; 9]> = (0..7)
        .map(|i| epipolar_row(&apply(&t1, &p1[i]), &apply(&t2, &p2[i])))
        .collect();
    let basis = null_space(&rows, 2);
    if basis.len() < 2 {
        return Vec::new();
    }
    let f1 = Matrix3::from_row_slice(basis[0].as_slice());
    let f2 = Matrix3::from_row_slice(basis[1].as_slice());
    // det(f2 + α(f1 − f2)) is a cubic in α: fit it through four values.
    let det = |a: f64| (f2 + (f1 - f2) * a).determinant();
    let alphas: [f64; 4] = [0.0, 1.0, -1.0, 2.0];
    let vander = Matrix4::from_fn(|r, c| alphas[r].powi(c as i32));
    let values = Vector4::from_fn(|r, _| det(alphas[r]));
    let Some(coef) = vander.lu().solve(&values) else {
        return Vec::new();
    };
    cubic_roots(coef[3], coef[2], coef[1], coef[0])
        .into_iter()
        .filter_map(|a| {
            let f = f2 + (f1 - f2) * a;
            denormalize(&f, &t1, &t2)
        })
        .collect()
}

/// Linear estimate from eight or more correspondences (pixels), rank 2 enforced.
pub fn eight_point(p1: &[Vector2<f64>], p2: &[Vector2<f64>]) -> Option<Matrix3<f64>> {
    if p1.len() < 8 {
        return None;
    }
    let t1 = normalizing_transform(p1);
    let t2 = normalizing_transform(p2);
    let rows: Vec<[f64; 9]> = p1
        .iter()
        .zip(p2)
        .map(|(a, b)| epipolar_row(&apply(&t1, a), &apply(&t2, b)))
        .collect();
    let v = smallest_right_vector(&rows)?;
    let f = Matrix3::from_row_slice(v.as_slice());
    let svd = linalg::svd(f, true, true)?;
    let (u, vt) = (svd.u?, svd.v_t?);
    let mut s = svd.singular_values;
    let (imin, _) = s.argmin();
    s[imin] = 0.0;
    let f = u * Matrix3::from_diagonal(&s) * vt;
    denormalize(&f, &t1, &t2)
}

fn denormalize(f: &Matrix3<f64>, t1: &Matrix3<f64>, t2: &Matrix3<f64>) -> Option<Matrix3<f64>> {
    let f = t2.transpose() * f * t1;
    let n = f.norm();
    (n > 0.0 && n.is_finite()).then(|| f / n)
}

/// Real roots of a·x³ + b·x² + c·x + d (degenerating to lower degrees when a is ~0), by
/// `linalg::companion_real_roots`.
pub fn cubic_roots(a: f64, b: f64, c: f64, d: f64) -> Vec<f64> {
    let scale = a.abs().max(b.abs()).max(c.abs()).max(d.abs());
    if scale == 0.0 || !scale.is_finite() {
        return Vec::new();
    }
    if a.abs() < 1e-12 * scale {
        if b.abs() < 1e-12 * scale {
            return if c != 0.0 { vec![-d / c] } else { Vec::new() };
        }
        let disc = c * c - 4.0 * b * d;
        if disc < 0.0 {
            return Vec::new();
        }
        let s = disc.sqrt();
        return vec![(-c + s) / (2.0 * b), (-c - s) / (2.0 * b)];
    }
    let companion = Matrix3::new(-b / a, -c / a, -d / a, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0);
    linalg::companion_real_roots(companion, &[d, c, b, a], |z| {
        z.im.abs() <= 1e-10 * (1.0 + z.re.abs())
    })
}

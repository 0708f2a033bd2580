//! Two-view geometry: minimal and linear solvers for the essential matrix (5-point),
//! fundamental matrix (7- and 8-point) and homography (4-point DLT), LO-RANSAC around them,
//! relative pose from an essential matrix, and COLMAP's choice between the three models.

pub mod absolute;
pub mod degenerate;
pub mod essential;
pub mod fundamental;
pub mod homography;
pub mod pose;
pub mod ransac;
pub mod self_calibration;
pub mod two_view;

use crate::linalg;
use nalgebra::{Matrix3, SMatrix, Vector2, Vector3};

/// The cross-product matrix [t]ₓ (so [t]ₓ·v = t × v).
pub fn skew(t: &Vector3<f64>) -> Matrix3<f64> {
    Matrix3::new(0.0, -t.z, t.y, t.z, 0.0, -t.x, -t.y, t.x, 0.0)
}

/// Signed Sampson distance of a correspondence to the epipolar geometry `m` (E or F): the
/// epipolar residual divided by its first-order standard deviation (`None` where both epipolar
/// lines vanish).
pub fn sampson(m: &Matrix3<f64>, p1: &Vector2<f64>, p2: &Vector2<f64>) -> Option<f64> {
    let x1 = p1.push(1.0);
    let x2 = p2.push(1.0);
    let fx1 = m * x1;
    let ftx2 = m.transpose() * x2;
    let denom = fx1.x * fx1.x + fx1.y * fx1.y + ftx2.x * ftx2.x + ftx2.y * ftx2.y;
    (denom > f64::MIN_POSITIVE).then(|| x2.dot(&fx1) / denom.sqrt())
}

/// Squared Sampson distance of a correspondence to the epipolar geometry `m` (E or F).
pub fn sampson_sq(m: &Matrix3<f64>, p1: &Vector2<f64>, p2: &Vector2<f64>) -> f64 {
    sampson(m, p1, p2).map_or(f64::MAX, |r| r * r)
}

/// Similarity that moves points to zero mean and mean distance √2 (Hartley's normalisation).
pub fn normalizing_transform(points: &[Vector2<f64>]) -> Matrix3<f64> {
    let n = points.len().max(1) as f64;
    let mean = points.iter().fold(Vector2::zeros(), |a, p| a + p) / n;
    let spread = points.iter().map(|p| (p - mean).norm()).sum::<f64>() / n;
    let s = if spread > 0.0 {
        std::f64::consts::SQRT_2 / spread
    } else {
        1.0
    };
    Matrix3::new(s, 0.0, -s * mean.x, 0.0, s, -s * mean.y, 0.0, 0.0, 1.0)
}

pub fn apply(t: &Matrix3<f64>, p: &Vector2<f64>) -> Vector2<f64> {
    let h: Vector3<f64> = t * p.push(1.0);
    Vector2::new(h.x / h.z, h.y / h.z)
}

/// The unit vector minimising |A·v| over the rows of `a` (n×9): the eigenvector of AᵀA with
/// the smallest eigenvalue (`None` where the decomposition fails: non-finite rows, no
/// convergence).
pub fn smallest_right_vector(rows: &[[f64; 9]]) -> Option<SMatrix<f64, 9, 1>> {
    // Few rows: the SVD of A itself (AᵀA would square its condition number).
    if rows.len() <= 9 {
        return null_space(rows, 1).into_iter().next();
    }
    let mut ata = SMatrix::<f64, 9, 9>::zeros();
    for r in rows {
        let v = SMatrix::<f64, 9, 1>::from_column_slice(r);
        ata += v * v.transpose();
    }
    let eig = linalg::symmetric_eigen(ata)?;
    let (i, _) = eig.eigenvalues.argmin();
    Some(eig.eigenvectors.column(i).into_owned())
}

/// A 3×3 matrix from 9 values in row-major order.
pub fn from_row_major(v: &[f64]) -> Matrix3<f64> {
    Matrix3::from_row_slice(v)
}

/// The null space (last `k` right singular vectors) of a matrix with fewer than 9 rows,
/// padded with zero rows to 9×9 so the SVD returns all of V (empty where the SVD fails).
pub fn null_space(rows: &[[f64; 9]], k: usize) -> Vec<SMatrix<f64, 9, 1>> {
    let mut a = SMatrix::<f64, 9, 9>::zeros();
    for (i, r) in rows.iter().enumerate().take(9) {
        for (j, v) in r.iter().enumerate() {
            a[(i, j)] = *v;
        }
    }
    let Some(svd) = linalg::svd(a, false, true) else {
        return Vec::new();
    };
    let Some(vt) = svd.v_t else {
        return Vec::new();
    };
    let mut order: Vec<usize> = (0..9).collect();
    order.sort_by(|&x, &y| svd.singular_values[x].total_cmp(&svd.singular_values[y]));
    order[..k]
        .iter()
        .map(|&i| vt.row(i).transpose().into_owned())
        .collect()
}

/// Row `[q2ᵣ·q1_c]` of the epipolar constraint q2ᵀ·M·q1 = 0 for M in row-major order.
pub fn epipolar_row(p1: &Vector2<f64>, p2: &Vector2<f64>) -> [f64; 9] {
    let (x1, y1, x2, y2) = (p1.x, p1.y, p2.x, p2.y);
    [x2 * x1, x2 * y1, x2, y2 * x1, y2 * y1, y2, x1, y1, 1.0]
}

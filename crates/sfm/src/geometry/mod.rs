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

/// The epipolar residual x₂ᵀ·M·x₁ of a correspondence and its first-order variance (the
/// squared norms of the two epipolar lines' normals), shared by both Sampson forms below.
fn epipolar_residual(m: &Matrix3<f64>, p1: &Vector2<f64>, p2: &Vector2<f64>) -> (f64, f64) {
    let x1 = p1.push(1.0);
    let x2 = p2.push(1.0);
    let fx1 = m * x1;
    let ftx2 = m.tr_mul(&x2);
    let variance = fx1.x * fx1.x + fx1.y * fx1.y + ftx2.x * ftx2.x + ftx2.y * ftx2.y;
    (x2.dot(&fx1), variance)
}

/// Signed Sampson distance of a correspondence to the epipolar geometry `m` (E or F): the
/// epipolar residual divided by its first-order standard deviation (`None` where both epipolar
/// lines vanish).
pub fn sampson(m: &Matrix3<f64>, p1: &Vector2<f64>, p2: &Vector2<f64>) -> Option<f64> {
    let (r, variance) = epipolar_residual(m, p1, p2);
    (variance > f64::MIN_POSITIVE).then(|| r / variance.sqrt())
}

/// Squared Sampson distance of a correspondence to the epipolar geometry `m` (E or F);
/// `f64::MAX` where both epipolar lines vanish. No square root: RANSAC's inner loop.
pub fn sampson_sq(m: &Matrix3<f64>, p1: &Vector2<f64>, p2: &Vector2<f64>) -> f64 {
    let (r, variance) = epipolar_residual(m, p1, p2);
    if variance > f64::MIN_POSITIVE {
        r * r / variance
    } else {
        f64::MAX
    }
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

/// The null space (last `k` right singular vectors) of a matrix with fewer than 9 rows
/// (empty where the decomposition fails). Minimal solvers ask for exactly the `9 − rows`
/// vectors of a full-rank sample's null space: those come from a Householder QR of Aᵀ (the
/// last columns of Q), several times cheaper than the SVD, which RANSAC's tens of thousands of
/// samples per pair feel (benches/RESULTS.md, "Verification"). Any other request, or a sample
/// whose rank falls short, takes the SVD of A padded with zero rows to 9×9.
pub fn null_space(rows: &[[f64; 9]], k: usize) -> Vec<SMatrix<f64, 9, 1>> {
    if rows.len() + k == 9
        && let Some(basis) = exact_null_space(rows)
    {
        return basis;
    }
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

/// The `9 − rows` orthonormal vectors orthogonal to every row (1 ≤ rows ≤ 8): Householder
/// reflections H₁…H_m bring Aᵀ (9×m) to upper-triangular form, and Q = H₁…H_m's last 9 − m
/// columns span A's null space. Written out because nalgebra's QR returns only the thin Q.
/// `None` for a rank-deficient or non-finite A (a diagonal entry of R under 1e-10 of the
/// largest row's norm).
fn exact_null_space(rows: &[[f64; 9]]) -> Option<Vec<SMatrix<f64, 9, 1>>> {
    let m = rows.len();
    if m == 0 || m >= 9 || rows.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    // Column j of Aᵀ is row j of A.
    let mut at: Vec<[f64; 9]> = rows.to_vec();
    let scale = at
        .iter()
        .map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt())
        .fold(0.0, f64::max);
    if scale == 0.0 {
        return None;
    }
    let mut reflections: Vec<[f64; 9]> = Vec::with_capacity(m);
    for j in 0..m {
        let x = &at[j];
        let norm = x[j..].iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm <= 1e-10 * scale {
            return None;
        }
        // v = x + sign(x_j)·|x|·e_j (below row j), so that H·x = −sign(x_j)·|x|·e_j.
        let mut v = [0.0; 9];
        v[j..].copy_from_slice(&x[j..]);
        v[j] += norm.copysign(x[j]);
        let vv: f64 = v[j..].iter().map(|a| a * a).sum();
        for col in at.iter_mut().skip(j) {
            let d: f64 = (j..9).map(|i| v[i] * col[i]).sum::<f64>() * 2.0 / vv;
            for i in j..9 {
                col[i] -= d * v[i];
            }
        }
        let inv = 1.0 / vv.sqrt();
        reflections.push(v.map(|a| a * inv));
    }
    let basis = (m..9)
        .map(|c| {
            // Q·e_c = H₁(H₂(…H_m(e_c))).
            let mut q = [0.0; 9];
            q[c] = 1.0;
            for (j, v) in reflections.iter().enumerate().rev() {
                let d: f64 = (j..9).map(|i| v[i] * q[i]).sum::<f64>() * 2.0;
                for i in j..9 {
                    q[i] -= d * v[i];
                }
            }
            SMatrix::<f64, 9, 1>::from_column_slice(&q)
        })
        .collect();
    Some(basis)
}

/// Row `[q2ᵣ·q1_c]` of the epipolar constraint q2ᵀ·M·q1 = 0 for M in row-major order.
pub fn epipolar_row(p1: &Vector2<f64>, p2: &Vector2<f64>) -> [f64; 9] {
    let (x1, y1, x2, y2) = (p1.x, p1.y, p2.x, p2.y);
    [x2 * x1, x2 * y1, x2, y2 * x1, y2 * y1, y2, x1, y1, 1.0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::SMatrix;

    /// Rows from a fixed linear congruential sequence in [−1, 1].
    fn rows(m: usize, seed: u64) -> Vec<[f64; 9]> {
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        (0..m).map(|_| std::array::from_fn(|_| next())).collect()
    }

    /// The projector onto the span of `basis`.
    fn projector(basis: &[SMatrix<f64, 9, 1>]) -> SMatrix<f64, 9, 9> {
        basis.iter().map(|v| v * v.transpose()).sum()
    }

    #[test]
    fn the_qr_null_space_is_the_svds() {
        for m in 1..9 {
            for seed in 0..20 {
                let a = rows(m, seed * 31 + m as u64);
                let qr = exact_null_space(&a).unwrap();
                assert_eq!(qr.len(), 9 - m);
                for (i, v) in qr.iter().enumerate() {
                    for r in &a {
                        let dot: f64 = r.iter().zip(v.iter()).map(|(x, y)| x * y).sum();
                        assert!(dot.abs() < 1e-12, "m {m}: row · v = {dot}");
                    }
                    for (j, w) in qr.iter().enumerate() {
                        let expected = if i == j { 1.0 } else { 0.0 };
                        assert!((v.dot(w) - expected).abs() < 1e-12);
                    }
                }
                // The same space as the SVD's smallest right singular vectors.
                let mut padded = SMatrix::<f64, 9, 9>::zeros();
                for (i, r) in a.iter().enumerate() {
                    for (j, x) in r.iter().enumerate() {
                        padded[(i, j)] = *x;
                    }
                }
                let svd = linalg::svd(padded, false, true).unwrap();
                let vt = svd.v_t.unwrap();
                let mut order: Vec<usize> = (0..9).collect();
                order.sort_by(|&x, &y| svd.singular_values[x].total_cmp(&svd.singular_values[y]));
                let reference: Vec<_> = order[..9 - m]
                    .iter()
                    .map(|&i| vt.row(i).transpose().into_owned())
                    .collect();
                let gap = (projector(&qr) - projector(&reference)).amax();
                assert!(
                    gap < 1e-10,
                    "m {m}, seed {seed}: projectors differ by {gap}"
                );
            }
        }
    }

    #[test]
    fn a_rank_deficient_sample_falls_back_to_the_svd() {
        let mut a = rows(5, 7);
        a[4] = a[1].map(|x| 2.0 * x);
        assert!(exact_null_space(&a).is_none());
        // null_space still answers, from the SVD: four unit vectors orthogonal to every row.
        let basis = null_space(&a, 4);
        assert_eq!(basis.len(), 4);
        for v in &basis {
            assert!((v.norm() - 1.0).abs() < 1e-12);
            for r in &a {
                let dot: f64 = r.iter().zip(v.iter()).map(|(x, y)| x * y).sum();
                assert!(dot.abs() < 1e-12);
            }
        }
        assert!(exact_null_space(&[[0.0; 9]]).is_none());
        assert!(exact_null_space(&[[f64::NAN; 9]]).is_none());
    }
}

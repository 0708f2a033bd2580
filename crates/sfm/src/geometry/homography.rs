//! The homography from four or more correspondences: Hartley-normalised DLT.

use super::{apply, degenerate, normalizing_transform, smallest_right_vector};
use nalgebra::{Matrix3, Vector2};

/// H with p2 ~ H·p1, scaled to unit Frobenius norm. A minimal sample (four points) is
/// refused when it is degenerate (`degenerate::homography_sample`).
pub fn dlt(p1: &[Vector2<f64>], p2: &[Vector2<f64>]) -> Option<Matrix3<f64>> {
    if p1.len() < 4 || p2.len() != p1.len() {
        return None;
    }
    if p1.len() == 4 && degenerate::homography_sample(p1, p2) {
        return None;
    }
    let t1 = normalizing_transform(p1);
    let t2 = normalizing_transform(p2);
    let mut rows = Vec::with_capacity(2 * p1.len());
    for (a, b) in p1.iter().zip(p2) {
        let (a, b) = (apply(&t1, a), apply(&t2, b));
        let (x, y, u, v) = (a.x, a.y, b.x, b.y);
        rows.push([-x, -y, -1.0, 0.0, 0.0, 0.0, u * x, u * y, u]);
        rows.push([0.0, 0.0, 0.0, -x, -y, -1.0, v * x, v * y, v]);
    }
    let h = Matrix3::from_row_slice(smallest_right_vector(&rows)?.as_slice());
    let h = t2.try_inverse()? * h * t1;
    let n = h.norm();
    (n > 0.0 && n.is_finite()).then(|| h / n)
}

/// Squared distance between p2 and H·p1.
pub fn transfer_sq(h: &Matrix3<f64>, p1: &Vector2<f64>, p2: &Vector2<f64>) -> f64 {
    let q = h * p1.push(1.0);
    if q.z.abs() <= f64::MIN_POSITIVE {
        return f64::MAX;
    }
    (Vector2::new(q.x / q.z, q.y / q.z) - p2).norm_squared()
}

//! Relative pose from an essential matrix: the four (R, t) decompositions, the one that puts
//! the most triangulated correspondences in front of both cameras.

use super::skew;
use crate::linalg;
use nalgebra::{Matrix3, Matrix4, Vector2, Vector3};

/// Camera 2's pose relative to camera 1 (x₂ = R·x₁ + t, |t| = 1) and how many of the
/// correspondences lie in front of both cameras.
#[derive(Debug, Clone, PartialEq)]
pub struct RelativePose {
    pub rotation: Matrix3<f64>,
    pub translation: Vector3<f64>,
    pub in_front: usize,
}

/// Decomposes E (E = [t]ₓR) and picks the solution by the cheirality of `p1`/`p2`
/// (normalised coordinates).
pub fn relative_pose(
    e: &Matrix3<f64>,
    p1: &[Vector2<f64>],
    p2: &[Vector2<f64>],
) -> Option<RelativePose> {
    let svd = linalg::svd(*e, true, true)?;
    let (mut u, mut vt) = (svd.u?, svd.v_t?);
    // Order the singular values descending so the null direction is the last column.
    let mut order: Vec<usize> = (0..3).collect();
    order.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]));
    u = Matrix3::from_columns(&[u.column(order[0]), u.column(order[1]), u.column(order[2])]);
    vt = Matrix3::from_rows(&[vt.row(order[0]), vt.row(order[1]), vt.row(order[2])]);
    if u.determinant() < 0.0 {
        u = -u;
    }
    if vt.determinant() < 0.0 {
        vt = -vt;
    }
    let w = Matrix3::new(0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0);
    let t = u.column(2).into_owned();
    let candidates = [
        (u * w * vt, t),
        (u * w * vt, -t),
        (u * w.transpose() * vt, t),
        (u * w.transpose() * vt, -t),
    ];
    candidates
        .into_iter()
        .map(|(r, t)| {
            let in_front = p1
                .iter()
                .zip(p2)
                .filter(|(a, b)| {
                    triangulate(&r, &t, a, b).is_some_and(|x| x.z > 0.0 && (r * x + t).z > 0.0)
                })
                .count();
            RelativePose {
                rotation: r,
                translation: t,
                in_front,
            }
        })
        .max_by_key(|p| p.in_front)
}

/// Linear (DLT) triangulation with camera 1 at the origin and camera 2 at [R | t].
pub fn triangulate(
    r: &Matrix3<f64>,
    t: &Vector3<f64>,
    p1: &Vector2<f64>,
    p2: &Vector2<f64>,
) -> Option<Vector3<f64>> {
    let mut a = Matrix4::zeros();
    let p1m = [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ];
    let p2m = [
        [r[(0, 0)], r[(0, 1)], r[(0, 2)], t.x],
        [r[(1, 0)], r[(1, 1)], r[(1, 2)], t.y],
        [r[(2, 0)], r[(2, 1)], r[(2, 2)], t.z],
    ];
    for c in 0..4 {
        a[(0, c)] = p1.x * p1m[2][c] - p1m[0][c];
        a[(1, c)] = p1.y * p1m[2][c] - p1m[1][c];
        a[(2, c)] = p2.x * p2m[2][c] - p2m[0][c];
        a[(3, c)] = p2.y * p2m[2][c] - p2m[1][c];
    }
    let eig = linalg::symmetric_eigen(a.transpose() * a)?;
    let (i, _) = eig.eigenvalues.argmin();
    let x = eig.eigenvectors.column(i);
    if x[3].abs() < 1e-12 {
        return None;
    }
    Some(Vector3::new(x[0] / x[3], x[1] / x[3], x[2] / x[3]))
}

/// Two unit vectors orthogonal to `t` and to each other.
fn tangent_basis(t: &Vector3<f64>) -> (Vector3<f64>, Vector3<f64>) {
    let helper = if t.x.abs() < 0.9 {
        Vector3::x()
    } else {
        Vector3::y()
    };
    let b1 = t.cross(&helper).normalize();
    (b1, t.cross(&b1))
}

/// Refines a relative pose by Levenberg–Marquardt on the Sampson distances of `p1`/`p2`
/// (normalised coordinates) under a Cauchy loss of scale `scale` (the RANSAC inliers still
/// hold a few mismatches up to the threshold; a plain least-squares fit would follow them).
/// Rotation moves by a local rotation vector, translation on the unit sphere. The linear
/// estimate inside RANSAC is biased; this brings the pose to the robust optimum. Returns the
/// refined pose with `in_front` unchanged.
pub fn refine(
    pose: &RelativePose,
    p1: &[Vector2<f64>],
    p2: &[Vector2<f64>],
    scale: f64,
) -> RelativePose {
    let s2 = scale * scale;
    let cost = |r: &Matrix3<f64>, t: &Vector3<f64>| {
        let e = skew(t) * r;
        p1.iter()
            .zip(p2)
            .map(|(a, b)| s2 * (1.0 + super::sampson_sq(&e, a, b) / s2).ln())
            .sum::<f64>()
    };
    let residuals = |r: &Matrix3<f64>, t: &Vector3<f64>, out: &mut Vec<f64>| {
        let e = skew(t) * r;
        out.clear();
        out.extend(
            p1.iter()
                .zip(p2)
                .map(|(a, b)| super::sampson(&e, a, b).unwrap_or(0.0)),
        );
    };
    let apply = |r: &Matrix3<f64>, t: &Vector3<f64>, d: &[f64; 5]| {
        let (b1, b2) = tangent_basis(t);
        let dr = nalgebra::Rotation3::new(Vector3::new(d[0], d[1], d[2]));
        (r * dr.matrix(), (t + b1 * d[3] + b2 * d[4]).normalize())
    };
    let (mut r, mut t) = (pose.rotation, pose.translation);
    let mut current = cost(&r, &t);
    let mut lambda = 1e-3;
    let (mut base, mut plus, mut minus) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..30 {
        residuals(&r, &t, &mut base);
        let n = base.len();
        let mut jac = vec![[0.0; 5]; n];
        let h = 1e-7;
        for k in 0..5 {
            let mut d = [0.0; 5];
            d[k] = h;
            let (rp, tp) = apply(&r, &t, &d);
            residuals(&rp, &tp, &mut plus);
            d[k] = -h;
            let (rm, tm) = apply(&r, &t, &d);
            residuals(&rm, &tm, &mut minus);
            for i in 0..n {
                jac[i][k] = (plus[i] - minus[i]) / (2.0 * h);
            }
        }
        let mut jtj = nalgebra::Matrix5::<f64>::zeros();
        let mut jtr = nalgebra::Vector5::<f64>::zeros();
        // Iteratively reweighted: the Cauchy loss's weight 1 / (1 + r²/s²) per residual.
        for (row, &res) in jac.iter().zip(&base) {
            let w = 1.0 / (1.0 + res * res / s2);
            let j = nalgebra::Vector5::from_column_slice(row);
            jtj += j * j.transpose() * w;
            jtr += j * (res * w);
        }
        let mut improved = false;
        for _ in 0..10 {
            let mut damped = jtj;
            for k in 0..5 {
                damped[(k, k)] += lambda * jtj[(k, k)].max(1e-12);
            }
            let Some(step) = damped.cholesky().map(|c| c.solve(&(-jtr))) else {
                lambda *= 10.0;
                continue;
            };
            let d = [step[0], step[1], step[2], step[3], step[4]];
            let (rn, tn) = apply(&r, &t, &d);
            let c = cost(&rn, &tn);
            if c < current {
                let converged = (current - c) <= 1e-10 * current;
                r = rn;
                t = tn;
                current = c;
                lambda = (lambda * 0.1).max(1e-12);
                improved = !converged;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    RelativePose {
        rotation: r,
        translation: t,
        in_front: pose.in_front,
    }
}

/// The essential matrix of a relative pose.
pub fn essential_of(r: &Matrix3<f64>, t: &Vector3<f64>) -> Matrix3<f64> {
    let e = skew(t) * r;
    e / e.norm()
}

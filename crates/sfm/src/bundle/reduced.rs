//! The Schur complement on the points (the reduced camera system), its dense solve, and the
//! cameras' standard deviations from its inverse.

use super::normal::*;
use super::problem::*;
use super::residuals::*;
use super::sparse::{SparseSystem, Terms};
use nalgebra::{DMatrix, DVector, Matrix3};
use rayon::prelude::*;

/// The Schur complement on the points of the damped system: S, its right-hand side, and the
/// inverted damped point blocks.
pub(super) struct Reduced {
    /// S itself with the dense solver; `None` with the iterative one.
    pub(super) s: Option<DMatrix<f64>>,
    pub(super) rhs: DVector<f64>,
    pub(super) v_inv: Vec<Matrix3<f64>>,
}

pub(super) fn reduce(
    l: &Layout,
    ne: &Normal,
    by_point: &[Vec<usize>],
    lambda: f64,
) -> Option<Reduced> {
    let n = l.size;
    let damp = |v: &Matrix3<f64>| {
        let mut v = *v;
        for d in 0..3 {
            v[(d, d)] += lambda * v[(d, d)].max(1e-9);
        }
        v
    };
    let v_inv: Vec<Matrix3<f64>> = (0..ne.v.len())
        .map(|j| {
            if point_is_free(l, by_point, j) {
                damp(&ne.v[j]).try_inverse()
            } else {
                Some(Matrix3::zeros())
            }
        })
        .collect::<Option<_>>()?;
    // S = U − Σⱼ Wⱼ·Vⱼ⁻¹·Wⱼᵀ and rhs = −g_c + Σⱼ Wⱼ·Vⱼ⁻¹·g_pⱼ, summed over chunks of points in
    // parallel; the chunks are added in order, so the result does not depend on the threads.
    let dense = matches!(ne.u, CameraSystem::Dense(_));
    let sn = if dense { n } else { 0 };
    let partial: Vec<(DMatrix<f64>, DVector<f64>)> = (0..ne.v.len().div_ceil(REDUCE_CHUNK))
        .into_par_iter()
        .map(|c| {
            let (mut s, mut rhs) = (DMatrix::<f64>::zeros(sn, sn), DVector::<f64>::zeros(n));
            for (j, vi) in chunk_points(l, by_point, &v_inv, c) {
                let vg = vi * ne.g_p[j];
                let rows = &ne.w[j];
                for (a, wa) in rows {
                    rhs[*a] += wa.dot(&vg);
                    if !dense {
                        continue;
                    }
                    let wv = vi * wa;
                    for (b, wb) in rows {
                        s[(*a, *b)] += wb.dot(&wv);
                    }
                }
            }
            (s, rhs)
        })
        .collect();
    let mut rhs = -ne.g_c.clone();
    let mut s = match &ne.u {
        CameraSystem::Dense(u) => {
            let mut s = u.clone();
            for i in 0..n {
                s[(i, i)] += lambda * ne.u_diag[i].max(1e-9);
            }
            Some(s)
        }
        CameraSystem::Blocks(_) => None,
    };
    for (ps, pr) in partial {
        if let Some(s) = s.as_mut() {
            *s -= ps;
        }
        rhs += pr;
    }
    Some(Reduced { s, rhs, v_inv })
}

/// Standard deviations of each camera's (focal, k, cx, cy) at the solution, from the inverse of
/// the reduced camera system scaled by the residual variance (`None` for parameters held
/// fixed).
pub(super) fn camera_sigmas(
    p: &Problem,
    l: &Layout,
    by_point: &[Vec<usize>],
    loss: Loss,
    sparse: Option<&mut SparseSystem>,
) -> Vec<[Option<f64>; 4]> {
    let lin: Vec<Option<Linearised>> = p.observations.par_iter().map(|o| linearise(p, o)).collect();
    let ne = normal_equations(p, l, &lin, by_point, loss, sparse.is_none());
    let free_points = (0..p.points.len())
        .filter(|&j| point_is_free(l, by_point, j))
        .count();
    let dof = (2 * p.observations.len())
        .saturating_sub(l.size + 3 * free_points)
        .max(1);
    let variance = squared_errors(p, 1e6).iter().sum::<f64>() / dof as f64;
    // The diagonal of S⁻¹ at the cameras' columns.
    let cols: Vec<usize> = l.camera.iter().flatten().flatten().copied().collect();
    let diagonal: Option<Vec<f64>> = reduce(l, &ne, by_point, 0.0).and_then(|r| match sparse {
        Some(system) => {
            let terms = Terms {
                l,
                ne: &ne,
                by_point,
                v_inv: &r.v_inv,
            };
            system.inverse_diagonal(&terms, &cols)
        }
        None => {
            let inverse = r.s?.cholesky()?.inverse();
            Some(cols.iter().map(|&c| inverse[(c, c)]).collect())
        }
    });
    let at = |c: usize| -> Option<f64> {
        let k = cols.iter().position(|&x| x == c)?;
        Some((diagonal.as_ref()?[k] * variance).sqrt())
    };
    l.camera.iter().map(|idx| idx.map(|i| at(i?))).collect()
}

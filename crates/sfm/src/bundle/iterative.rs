//! Preconditioned conjugate gradients on the reduced camera system, for problems past the
//! dense solver's size.

use super::normal::*;
use super::residuals::*;
use nalgebra::{DMatrix, DVector};

/// A Levenberg–Marquardt step by conjugate gradients: an inexact solve (residual 1e-3 of the
/// right-hand side) is all the step needs.
pub(super) fn solve_iterative(
    terms: Terms<'_>,
    lambda: f64,
    rhs: &DVector<f64>,
) -> Option<DVector<f64>> {
    let cap = terms.l.size.clamp(50, 500);
    let system = Schur { terms, lambda };
    system.solve(rhs, 1e-3, cap).map(|(x, _)| x)
}

/// The damped reduced camera system, never formed: S·x through `schur_product`.
pub(super) struct Schur<'a> {
    pub(super) terms: Terms<'a>,
    pub(super) lambda: f64,
}

impl Schur<'_> {
    /// Preconditioned conjugate gradients (block-Jacobi: one block per pose and per camera)
    /// until the residual is `tolerance` of the right-hand side's norm or after `cap`
    /// iterations; the solution and whether it met the tolerance (`None` if not finite).
    pub(super) fn solve(
        &self,
        rhs: &DVector<f64>,
        tolerance: f64,
        cap: usize,
    ) -> Option<(DVector<f64>, bool)> {
        let Terms {
            l,
            ne,
            by_point,
            v_inv,
        } = self.terms;
        let lambda = self.lambda;
        let n = l.size;
        // Block-Jacobi preconditioner: the diagonal blocks of S for each pose's and each camera's
        // columns, (U + λ·diag U)_GG − Σⱼ W_jG·Vⱼ⁻¹·W_jGᵀ, inverted.
        let g = Groups::new(l);
        let groups: Vec<Vec<usize>> = (0..g.count()).map(|k| g.cols(k).collect()).collect();
        let (group_of, position) = (&g.group_of, |c: usize| g.position(c));
        let mut blocks: Vec<DMatrix<f64>> = groups
            .iter()
            .map(|cols| {
                DMatrix::from_fn(cols.len(), cols.len(), |a, b| {
                    let (ca, cb) = (cols[a], cols[b]);
                    let u = match &ne.u {
                        CameraSystem::Dense(u) => u[(ca, cb)],
                        CameraSystem::Blocks(_) => 0.0,
                    };
                    u + if a == b {
                        lambda * ne.u_diag[ca].max(1e-9)
                    } else {
                        0.0
                    }
                })
            })
            .collect();
        if let CameraSystem::Blocks(pose_blocks) = &ne.u {
            for (idx, b) in pose_blocks {
                for (sa, ca) in idx.iter().enumerate() {
                    let Some(ca) = *ca else { continue };
                    for (sb, cb) in idx.iter().enumerate() {
                        let Some(cb) = *cb else { continue };
                        if group_of[ca] == group_of[cb] {
                            blocks[group_of[ca]][(position(ca), position(cb))] += b[(sa, sb)];
                        }
                    }
                }
            }
        }
        for (j, vi) in v_inv.iter().enumerate() {
            if !point_is_free(l, by_point, j) {
                continue;
            }
            let rows = &ne.w[j];
            for (ca, ra) in rows {
                let wv = vi * ra;
                for (cb, rb) in rows {
                    if group_of[*ca] == group_of[*cb] {
                        blocks[group_of[*ca]][(position(*ca), position(*cb))] -= rb.dot(&wv);
                    }
                }
            }
        }
        let inverses: Vec<DMatrix<f64>> = blocks
            .into_iter()
            .map(|b| {
                let k = b.nrows();
                let diag = b.diagonal();
                b.cholesky().map_or_else(
                    || {
                        DMatrix::from_fn(k, k, |a, c| {
                            if a == c && diag[a] > 1e-12 {
                                1.0 / diag[a]
                            } else {
                                0.0
                            }
                        })
                    },
                    |c| c.inverse(),
                )
            })
            .collect();
        let precondition = |r: &DVector<f64>| {
            let mut z = DVector::zeros(n);
            for (g, cols) in groups.iter().enumerate() {
                let rg = DVector::from_fn(cols.len(), |a, _| r[cols[a]]);
                let zg = &inverses[g] * rg;
                for (a, &c) in cols.iter().enumerate() {
                    z[c] = zg[a];
                }
            }
            z
        };
        let mut x = DVector::zeros(n);
        let mut r = rhs.clone();
        let mut z = precondition(&r);
        let mut d = z.clone();
        let mut rz = r.dot(&z);
        let target = tolerance * tolerance * rhs.norm_squared();
        for _ in 0..cap {
            if r.norm_squared() <= target {
                break;
            }
            let q = schur_product(l, ne, by_point, v_inv, lambda, &d);
            let dq = d.dot(&q);
            if dq <= 0.0 || !dq.is_finite() {
                break;
            }
            let alpha = rz / dq;
            x += &d * alpha;
            r -= &q * alpha;
            z = precondition(&r);
            let rz_new = r.dot(&z);
            d = &z + &d * (rz_new / rz);
            rz = rz_new;
        }
        let converged = r.norm_squared() <= target;
        x.iter().all(|v| v.is_finite()).then_some((x, converged))
    }
}

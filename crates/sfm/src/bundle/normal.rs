//! The normal equations JᵀWJ δ = −JᵀW r, split into the camera block, the point blocks and
//! their coupling, and products with them.

use super::problem::*;
use super::residuals::*;
use nalgebra::{DMatrix, DVector, Matrix3, SMatrix, Vector3};
use rayon::prelude::*;

/// JᵀWJ and JᵀW·r split into the camera block U, the point blocks V (3×3 each) and, per point,
/// the coupling W as (camera-side column, 3-vector) rows with one row per column.
/// The camera block U: dense, or as one 10×10 block per pose over its slots (an observation
/// only couples its pose's and its camera's parameters).
pub(super) enum CameraSystem {
    Dense(DMatrix<f64>),
    Blocks(Vec<([Option<usize>; 10], SMatrix<f64, 10, 10>)>),
}

pub(super) struct Normal {
    pub(super) u: CameraSystem,
    /// The diagonal of U.
    pub(super) u_diag: DVector<f64>,
    pub(super) g_c: DVector<f64>,
    pub(super) v: Vec<Matrix3<f64>>,
    /// Per point, its coupling rows (camera-side column, Wⱼ's row), sorted by column.
    pub(super) w: Vec<Vec<(usize, Vector3<f64>)>>,
    pub(super) g_p: Vec<Vector3<f64>>,
}

/// What the reduced system is made of: the layout, the normal equations, each point's
/// observations and its inverted damped block.
#[derive(Clone, Copy)]
pub(super) struct Terms<'a> {
    pub(super) l: &'a Layout,
    pub(super) ne: &'a Normal,
    pub(super) by_point: &'a [Vec<usize>],
    pub(super) v_inv: &'a [Matrix3<f64>],
}

/// One point's V block, gradient and merged coupling rows.
pub(super) type PointBlock = (Matrix3<f64>, Vector3<f64>, Vec<(usize, Vector3<f64>)>);

pub(super) fn normal_equations(
    p: &Problem,
    l: &Layout,
    lin: &[Option<Linearised>],
    by_point: &[Vec<usize>],
    loss: Loss,
    dense: bool,
) -> Normal {
    let n = l.size;
    // Chunks of points in parallel, each with its own g_c, added in order.
    let chunks: Vec<(DVector<f64>, Vec<PointBlock>)> = (0..by_point.len().div_ceil(REDUCE_CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut g_c = DVector::<f64>::zeros(n);
            let mut blocks = Vec::with_capacity(REDUCE_CHUNK);
            let mut rows: Vec<(usize, Vector3<f64>)> = Vec::new();
            for (j, obs) in by_point
                .iter()
                .enumerate()
                .skip(c * REDUCE_CHUNK)
                .take(REDUCE_CHUNK)
            {
                let (mut v, mut g) = (Matrix3::zeros(), Vector3::zeros());
                rows.clear();
                for &k in obs {
                    let Some(li) = &lin[k] else { continue };
                    let wt = loss.weight(li.residual.norm_squared());
                    let idx = slots(l, p, &p.observations[k]);
                    let jtr = li.jc.transpose() * li.residual * wt;
                    for (a, ia) in idx.iter().enumerate() {
                        if let Some(ia) = *ia {
                            g_c[ia] += jtr[a];
                        }
                    }
                    if l.point_free[j] {
                        v += li.jp.transpose() * li.jp * wt;
                        g += li.jp.transpose() * li.residual * wt;
                        let block = li.jc.transpose() * li.jp * wt;
                        for (slot, col) in idx.iter().enumerate() {
                            if let Some(col) = *col {
                                rows.push((col, block.row(slot).transpose()));
                            }
                        }
                    }
                }
                // One row per camera-side column (the intrinsics repeat across observations).
                rows.sort_unstable_by_key(|r| r.0);
                let mut merged: Vec<(usize, Vector3<f64>)> = Vec::with_capacity(rows.len());
                for &(col, r) in &rows {
                    match merged.last_mut() {
                        Some(last) if last.0 == col => last.1 += r,
                        _ => merged.push((col, r)),
                    }
                }
                blocks.push((v, g, merged));
            }
            (g_c, blocks)
        })
        .collect();
    let mut ne = Normal {
        u: CameraSystem::Blocks(Vec::new()),
        u_diag: DVector::zeros(n),
        g_c: DVector::zeros(n),
        v: Vec::with_capacity(by_point.len()),
        w: Vec::with_capacity(by_point.len()),
        g_p: Vec::with_capacity(by_point.len()),
    };
    for (g_c, blocks) in chunks {
        ne.g_c += g_c;
        for (v, g, rows) in blocks {
            ne.v.push(v);
            ne.g_p.push(g);
            ne.w.push(rows);
        }
    }
    // U from its blocks per pose (an observation couples only its pose's and its camera's
    // parameters), spread into one n × n matrix for the dense solver. Summing U per chunk of
    // points instead cost an n × n matrix per chunk: quadratic in the images, a tenth of a
    // 128-photo mapping.
    let blocks = pose_blocks(p, l, lin, loss);
    for (idx, b) in &blocks {
        for (a, ia) in idx.iter().enumerate() {
            if let Some(ia) = *ia {
                ne.u_diag[ia] += b[(a, a)];
            }
        }
    }
    ne.u = if dense {
        let mut u = DMatrix::zeros(n, n);
        for (idx, b) in &blocks {
            for (a, ia) in idx.iter().enumerate() {
                let Some(ia) = *ia else { continue };
                for (c, ic) in idx.iter().enumerate() {
                    if let Some(ic) = *ic {
                        u[(ia, ic)] += b[(a, c)];
                    }
                }
            }
        }
        CameraSystem::Dense(u)
    } else {
        CameraSystem::Blocks(blocks)
    };
    ne
}

/// U as one 10×10 block per pose (its own and its camera's slots), summed over its observations.
pub(super) fn pose_blocks(
    p: &Problem,
    l: &Layout,
    lin: &[Option<Linearised>],
    loss: Loss,
) -> Vec<([Option<usize>; 10], SMatrix<f64, 10, 10>)> {
    let mut by_pose: Vec<Vec<usize>> = vec![Vec::new(); p.poses.len()];
    for (k, o) in p.observations.iter().enumerate() {
        by_pose[o.pose].push(k);
    }
    by_pose
        .par_iter()
        .map(|obs| {
            let mut b = SMatrix::<f64, 10, 10>::zeros();
            let mut idx = [None; 10];
            for &k in obs {
                let Some(li) = &lin[k] else { continue };
                idx = slots(l, p, &p.observations[k]);
                b += li.jc.transpose() * li.jc * loss.weight(li.residual.norm_squared());
            }
            (idx, b)
        })
        .collect()
}

/// S·x for the damped Schur complement without forming S: (U + λ·diag U)·x − Σⱼ Wⱼ·Vⱼ⁻¹·Wⱼᵀ·x.
pub(super) fn schur_product(
    l: &Layout,
    ne: &Normal,
    by_point: &[Vec<usize>],
    v_inv: &[Matrix3<f64>],
    lambda: f64,
    x: &DVector<f64>,
) -> DVector<f64> {
    let n = l.size;
    let mut y = match &ne.u {
        CameraSystem::Dense(u) => u * x,
        CameraSystem::Blocks(blocks) => {
            let mut y = DVector::zeros(n);
            for (idx, b) in blocks {
                let xs = SMatrix::<f64, 10, 1>::from_fn(|a, _| idx[a].map_or(0.0, |i| x[i]));
                let ys = b * xs;
                for (a, ia) in idx.iter().enumerate() {
                    if let Some(ia) = *ia {
                        y[ia] += ys[a];
                    }
                }
            }
            y
        }
    };
    for i in 0..n {
        y[i] += lambda * ne.u_diag[i].max(1e-9) * x[i];
    }
    let partial: Vec<DVector<f64>> = (0..ne.v.len().div_ceil(REDUCE_CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut acc = DVector::<f64>::zeros(n);
            for (j, vi) in chunk_points(l, by_point, v_inv, c) {
                let t: Vector3<f64> = ne.w[j].iter().map(|(col, r)| r * x[*col]).sum();
                let z = vi * t;
                for (col, r) in &ne.w[j] {
                    acc[*col] += r.dot(&z);
                }
            }
            acc
        })
        .collect();
    for pa in partial {
        y -= pa;
    }
    y
}

//! The Schur complement on the points (the reduced camera system), built for the dense solve
//! (`cholesky`) or as its right-hand side alone, and the cameras' standard deviations from its
//! inverse.

use super::iterative::Schur;
use super::normal::*;
use super::problem::*;
use super::residuals::*;
use nalgebra::{DMatrix, DVector, Matrix3};
use rayon::prelude::*;

/// The Schur complement on the points of the damped system: S, its right-hand side, and the
/// inverted damped point blocks.
pub(super) struct Reduced {
    /// S with the dense solver (its lower triangle: the strict upper one is not reduced);
    /// `None` with the others.
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
    // rhs = −g_c + Σⱼ Wⱼ·Vⱼ⁻¹·g_pⱼ, summed over chunks of points in parallel; the chunks are
    // added in order, so the result does not depend on the threads.
    let partial: Vec<DVector<f64>> = (0..ne.v.len().div_ceil(REDUCE_CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut rhs = DVector::<f64>::zeros(n);
            for (j, vi) in chunk_points(l, by_point, &v_inv, c) {
                let vg = vi * ne.g_p[j];
                for (a, wa) in &ne.w[j] {
                    rhs[*a] += wa.dot(&vg);
                }
            }
            rhs
        })
        .collect();
    let mut rhs = -ne.g_c.clone();
    for pr in partial {
        rhs += pr;
    }
    // S = U − Σⱼ Wⱼ·Vⱼ⁻¹·Wⱼᵀ, damped, with the dense solver.
    let s = match &ne.u {
        CameraSystem::Dense(u) => {
            let mut s = u.clone();
            for i in 0..n {
                s[(i, i)] += lambda * ne.u_diag[i].max(1e-9);
            }
            Terms {
                l,
                ne,
                by_point,
                v_inv: &v_inv,
            }
            .subtract_from(&mut s);
            Some(s)
        }
        CameraSystem::Blocks(_) => None,
    };
    Some(Reduced { s, rhs, v_inv })
}

/// S's point terms are summed per chunk of points, each chunk into its own n × n matrix
/// (`Terms::subtract_chunked`), while those copies (chunks × n² entries to zero and add)
/// stay under `CHUNKED_SHARE` of the terms' own products (Σⱼ rowsⱼ² / 2); past it, per pose and
/// camera (`Terms::subtract_by_slab`). Small systems (local adjustments, the first global
/// ones) are faster chunked: each point's rows are read once. Measured on south-building's
/// 128-photo mapping (CPU per reduction): 462 columns, 48k points (copies 0.33 of the products)
/// 66 ms chunked against 72 ms by slab; 768 columns, 72k points (0.82) 180 ms against 130 ms;
/// on the rings of `benches/sfm.rs`: 295 columns (0.04) chunked 96 ms against 104 ms, 1,195
/// columns (0.53) 1.52 s against 0.88 s.
const CHUNKED_SHARE: f64 = 0.5;

/// The points' terms of S, `Σⱼ Wⱼ·Vⱼ⁻¹·Wⱼᵀ` over the free points, summed into a dense S.
impl Terms<'_> {
    /// `S −= Σⱼ Wⱼ·Vⱼ⁻¹·Wⱼᵀ`, chunked or by slab (`CHUNKED_SHARE`).
    fn subtract_from(&self, s: &mut DMatrix<f64>) {
        let n = s.nrows() as f64;
        let chunks = self.ne.v.len().div_ceil(REDUCE_CHUNK) as f64;
        let products: f64 = (0..self.ne.w.len())
            .filter(|&j| point_is_free(self.l, self.by_point, j))
            .map(|j| (self.ne.w[j].len() as f64).powi(2) / 2.0)
            .sum();
        if chunks * n * n <= CHUNKED_SHARE * products {
            self.subtract_chunked(s);
        } else {
            self.subtract_by_slab(s);
        }
    }

    /// Over chunks of points in parallel, each chunk summing its own S (all of it), the chunks
    /// subtracted in order so the result does not depend on the threads.
    fn subtract_chunked(&self, s: &mut DMatrix<f64>) {
        let n = s.nrows();
        let partial: Vec<DMatrix<f64>> = (0..self.ne.v.len().div_ceil(REDUCE_CHUNK))
            .into_par_iter()
            .map(|c| {
                let mut part = DMatrix::<f64>::zeros(n, n);
                for (j, vi) in chunk_points(self.l, self.by_point, self.v_inv, c) {
                    let rows = &self.ne.w[j];
                    for (a, wa) in rows {
                        let wv = vi * wa;
                        for (b, wb) in rows {
                            part[(*a, *b)] += wb.dot(&wv);
                        }
                    }
                }
                part
            })
            .collect();
        for part in partial {
            *s -= part;
        }
    }

    /// On S's lower triangle (all the Cholesky factorizations read), one task per pose or
    /// camera (`Groups`: its columns are consecutive, so each task owns a slab of S): the task
    /// sums, in point order, the free points that pose or camera sees, reading each point's
    /// rows once for all its columns. No thread keeps its own copy of S (an n × n matrix per
    /// chunk of points cost a tenth of the mapper's time in allocation and page faults at a few
    /// hundred views), and every entry is summed in the same order whatever the threads. The
    /// strict upper triangle keeps U's values.
    fn subtract_by_slab(&self, s: &mut DMatrix<f64>) {
        let (l, ne, v_inv) = (self.l, self.ne, self.v_inv);
        let n = s.nrows();
        if n == 0 {
            return;
        }
        let groups = Groups::new(l);
        // The free points each group's columns touch, in point order.
        let mut touching: Vec<Vec<u32>> = vec![Vec::new(); groups.count()];
        for (j, rows) in ne.w.iter().enumerate() {
            if !point_is_free(l, self.by_point, j) {
                continue;
            }
            for (a, _) in rows {
                let seen = &mut touching[groups.group_of[*a]];
                if seen.last() != Some(&(j as u32)) {
                    seen.push(j as u32);
                }
            }
        }
        // S's columns cut into each group's slab.
        let mut slabs = Vec::with_capacity(groups.count());
        let mut rest = s.as_mut_slice();
        for g in 0..groups.count() {
            let (slab, tail) = rest.split_at_mut(groups.len(g) * n);
            slabs.push(slab);
            rest = tail;
        }
        slabs
            .into_par_iter()
            .zip(touching.par_iter())
            .enumerate()
            .for_each(|(g, (slab, points))| {
                let cols = groups.cols(g);
                for &j in points {
                    // A point's rows are sorted by column: the group's are one run, and the
                    // rows from column a on are the lower triangle's part of column a.
                    let rows = &ne.w[j as usize];
                    let from = rows.partition_point(|r| r.0 < cols.start);
                    let to = rows.partition_point(|r| r.0 < cols.end);
                    for (k, (a, wa)) in rows.iter().enumerate().take(to).skip(from) {
                        let wv = v_inv[j as usize] * wa;
                        let col = &mut slab[(a - cols.start) * n..(a - cols.start + 1) * n];
                        for (b, wb) in &rows[k..] {
                            col[*b] -= wb.dot(&wv);
                        }
                    }
                }
            });
    }
}

/// Standard deviations of each camera's (focal, k, cx, cy) at the solution, from the diagonal
/// of the reduced camera system's inverse at the cameras' columns (one solve per column, by the
/// solve's own method) scaled by the residual variance (`None` for parameters held fixed, or
/// where conjugate gradients do not reach 1e-5 of the right-hand side in 1,000 iterations).
pub(super) fn camera_sigmas(
    p: &Problem,
    l: &Layout,
    by_point: &[Vec<usize>],
    loss: Loss,
    method: &mut super::Method,
) -> Vec<[Option<f64>; 4]> {
    let lin: Vec<Option<Linearised>> = p.observations.par_iter().map(|o| linearise(p, o)).collect();
    let dense = matches!(method, super::Method::Dense);
    let ne = normal_equations(p, l, &lin, by_point, loss, dense);
    let free_points = (0..p.points.len())
        .filter(|&j| point_is_free(l, by_point, j))
        .count();
    let dof = (2 * p.observations.len())
        .saturating_sub(l.size + 3 * free_points)
        .max(1);
    let variance = squared_errors(p, 1e6).iter().sum::<f64>() / dof as f64;
    let cols: Vec<usize> = l.camera.iter().flatten().flatten().copied().collect();
    let unit = |c: usize| {
        let mut e = DVector::zeros(l.size);
        e[c] = 1.0;
        e
    };
    let diagonal: Option<Vec<Option<f64>>> = reduce(l, &ne, by_point, 0.0).and_then(|r| {
        let terms = Terms {
            l,
            ne: &ne,
            by_point,
            v_inv: &r.v_inv,
        };
        match method {
            super::Method::Sparse(system) => system
                .inverse_diagonal(&terms, &cols)
                .map(|d| d.into_iter().map(Some).collect()),
            super::Method::Dense => {
                // Only the cameras' columns of S⁻¹ are needed: one solve each, not the inverse.
                let factor = super::cholesky::Factor::new(r.s?)?;
                Some(
                    cols.iter()
                        .map(|&c| Some(factor.solve(&unit(c))[c]))
                        .collect(),
                )
            }
            super::Method::Iterative => {
                let system = Schur { terms, lambda: 0.0 };
                Some(
                    cols.iter()
                        .map(|&c| {
                            // x[c] = eᵀS⁻¹e converges as the square of the error in x
                            // (conjugate gradients minimise it in S's norm), so a loose
                            // residual gives it to many digits.
                            let (x, converged) = system.solve(&unit(c), 1e-5, 1000)?;
                            converged.then_some(x[c])
                        })
                        .collect(),
                )
            }
        }
    });
    let at = |c: usize| -> Option<f64> {
        let k = cols.iter().position(|&x| x == c)?;
        let d = diagonal.as_ref()?[k]?;
        (d > 0.0).then(|| (d * variance).sqrt())
    };
    l.camera.iter().map(|idx| idx.map(|i| at(i?))).collect()
}

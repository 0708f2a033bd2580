//! A blocked dense Cholesky factorization for the reduced camera system, and its solve.
//!
//! nalgebra's `Cholesky` works a column at a time (matrix–vector operations): on a 300-view
//! orbit it was a third of the mapper's time (`perf`). Here the matrix is factored in blocks of
//! `BLOCK` columns, right-looking: the diagonal block is factored directly, the panel below it
//! solved against it, and the rest of the matrix updated by a matrix product
//! (`matrixmultiply::dgemm`, a dependency already), the block columns of that update in parallel
//! with rayon. Each entry is summed in the same order whatever the threads, so the factor is
//! deterministic. (faer has a blocked Cholesky too, but it is a large dependency to build on a
//! two-core CI machine for one routine.) Only the lower triangle of the input is read.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

/// Columns per block: the panel (n × `BLOCK`) stays in cache while the trailing update runs.
const BLOCK: usize = 96;

/// The lower Cholesky factor of a symmetric positive-definite matrix.
pub(super) struct Factor {
    /// L in the lower triangle (the strict upper triangle holds leftovers, never read).
    l: DMatrix<f64>,
}

impl Factor {
    /// Factors `a` (only its lower triangle is read); `None` unless it is positive definite
    /// (a pivot that is not positive and finite).
    pub(super) fn new(mut a: DMatrix<f64>) -> Option<Factor> {
        let n = a.nrows();
        if a.ncols() != n {
            return None;
        }
        for k0 in (0..n).step_by(BLOCK) {
            let kb = BLOCK.min(n - k0);
            let data = a.as_mut_slice();
            factor_diagonal_block(data, n, k0, kb)?;
            solve_panel(data, n, k0, kb);
            update_trailing(data, n, k0, kb);
        }
        Some(Factor { l: a })
    }

    /// Solves `L·Lᵀ·x = b`.
    pub(super) fn solve(&self, b: &DVector<f64>) -> DVector<f64> {
        let n = self.l.nrows();
        let l = self.l.as_slice();
        let mut x = b.clone();
        // L·y = b, column by column (each column contiguous).
        for j in 0..n {
            let col = &l[j * n..(j + 1) * n];
            let yj = x[j] / col[j];
            x[j] = yj;
            for (xi, &lij) in x.as_mut_slice()[j + 1..].iter_mut().zip(&col[j + 1..]) {
                *xi -= yj * lij;
            }
        }
        // Lᵀ·x = y, from the last row up (row j of Lᵀ is column j of L).
        for j in (0..n).rev() {
            let col = &l[j * n..(j + 1) * n];
            let s: f64 = col[j + 1..]
                .iter()
                .zip(&x.as_slice()[j + 1..])
                .map(|(a, b)| a * b)
                .sum();
            x[j] = (x[j] - s) / col[j];
        }
        x
    }
}

/// Factors the `kb × kb` diagonal block at `k0` in place (every earlier block's update already
/// applied), column by column.
fn factor_diagonal_block(a: &mut [f64], n: usize, k0: usize, kb: usize) -> Option<()> {
    for j in k0..k0 + kb {
        let mut d = a[j * n + j];
        for p in k0..j {
            d -= a[p * n + j] * a[p * n + j];
        }
        if !(d > 0.0 && d.is_finite()) {
            return None;
        }
        let ljj = d.sqrt();
        a[j * n + j] = ljj;
        for i in j + 1..k0 + kb {
            let mut v = a[j * n + i];
            for p in k0..j {
                v -= a[p * n + i] * a[p * n + j];
            }
            a[j * n + i] = v / ljj;
        }
    }
    Some(())
}

/// The panel below the diagonal block: `L21 = A21·L11⁻ᵀ`, by forward substitution over the
/// block's columns (each an update of contiguous column segments).
fn solve_panel(a: &mut [f64], n: usize, k0: usize, kb: usize) {
    let below = k0 + kb;
    if below >= n {
        return;
    }
    for j in k0..k0 + kb {
        let (done, rest) = a.split_at_mut(j * n);
        let col = &mut rest[..n];
        for p in k0..j {
            let ljp = done[p * n + j];
            if ljp != 0.0 {
                for (c, &lp) in col[below..]
                    .iter_mut()
                    .zip(&done[p * n + below..(p + 1) * n])
                {
                    *c -= ljp * lp;
                }
            }
        }
        let inv = 1.0 / col[j];
        for c in &mut col[below..] {
            *c *= inv;
        }
    }
}

/// `A22 −= L21·L21ᵀ` on the lower part of the trailing matrix, a block column at a time in
/// parallel.
#[allow(unsafe_code)] // audited: the one unsafe block says why it is sound
fn update_trailing(a: &mut [f64], n: usize, k0: usize, kb: usize) {
    let start = k0 + kb;
    if start >= n {
        return;
    }
    let (left, right) = a.split_at_mut(start * n);
    let panel = &left[k0 * n..];
    right
        .par_chunks_mut(BLOCK * n)
        .enumerate()
        .for_each(|(blk, cols)| {
            let j0 = start + blk * BLOCK;
            let jb = cols.len() / n;
            let rows = n - j0;
            // C (rows × jb, from row j0 of these columns) −= P (rows × kb: the panel's rows from
            // j0) · Q (kb × jb: the panel's rows j0..j0+jb, transposed).
            // SAFETY: the strides describe sub-blocks of `panel` and `cols` within their
            // lengths: P reads panel[p·n + j0 + r] for p < kb, r < rows ≤ n − j0 (inside
            // the kb columns of `panel`); Q reads panel[p·n + j0 + q] for q < jb; C writes
            // cols[q·n + j0 + r] for q < jb, r < rows. `panel` and `cols` do not overlap.
            unsafe {
                matrixmultiply::dgemm(
                    rows,
                    kb,
                    jb,
                    -1.0,
                    panel.as_ptr().add(j0),
                    1,
                    n as isize,
                    panel.as_ptr().add(j0),
                    n as isize,
                    1,
                    1.0,
                    cols.as_mut_ptr().add(j0),
                    1,
                    n as isize,
                );
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn spd(n: usize, seed: u64) -> DMatrix<f64> {
        let mut r = rand_pcg::Pcg64::seed_from_u64(seed);
        let m = DMatrix::from_fn(n, n, |_, _| r.random_range(-1.0..1.0));
        &m * m.transpose() + DMatrix::identity(n, n) * (n as f64 * 0.1)
    }

    #[test]
    fn agrees_with_nalgebra_across_block_boundaries() {
        for (n, seed) in [
            (1, 1),
            (7, 2),
            (95, 3),
            (96, 4),
            (97, 5),
            (250, 6),
            (300, 7),
        ] {
            let a = spd(n, seed);
            let mut r = rand_pcg::Pcg64::seed_from_u64(seed + 100);
            let b = DVector::from_fn(n, |_, _| r.random_range(-1.0..1.0));
            // Garbage in the strict upper triangle must not be read.
            let mut lower_only = a.clone();
            for j in 0..n {
                for i in 0..j {
                    lower_only[(i, j)] = f64::NAN;
                }
            }
            let x = Factor::new(lower_only)
                .expect("positive definite")
                .solve(&b);
            let want = a.clone().cholesky().expect("positive definite").solve(&b);
            let err = (&x - &want).amax() / want.amax();
            assert!(err < 1e-10, "n = {n}: relative difference {err}");
            let residual = (&a * &x - &b).amax();
            assert!(residual < 1e-9, "n = {n}: residual {residual}");
        }
    }

    #[test]
    fn rejects_what_is_not_positive_definite() {
        let mut a = spd(200, 9);
        a[(150, 150)] = -1.0;
        assert!(Factor::new(a).is_none());
        let mut a = spd(120, 10);
        a[(110, 3)] = f64::NAN;
        assert!(Factor::new(a).is_none());
        assert!(Factor::new(DMatrix::zeros(3, 3)).is_none());
        assert!(Factor::new(DMatrix::zeros(0, 0)).is_some());
    }
}

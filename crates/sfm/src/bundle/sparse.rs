//! The reduced camera system stored sparse, for problems past the dense solver's size.
//!
//! The camera-side columns are grouped per pose (its free rotation and translation) and per
//! camera (its free intrinsics). Two groups are coupled only where they share a point (or are a
//! pose and its camera), so S is kept as the blocks of coupled groups; the groups are ordered
//! by minimum degree to keep the factor's fill small, and the matrix is factored by
//! nalgebra-sparse's Cholesky, whose symbolic analysis is done once per solve (the pattern
//! does not change between Levenberg–Marquardt iterations).
//!
//! The ordering is written here: nalgebra-sparse factors in the order it is given and has no
//! fill-reducing ordering, and at the level of groups (a few thousand at most) an exact
//! minimum degree over bit sets takes milliseconds.

use super::normal::*;
use super::problem::*;
use super::residuals::*;
use nalgebra::{DVector, Matrix3};
use nalgebra_sparse::factorization::{CscCholesky, CscSymbolicCholesky};
use nalgebra_sparse::pattern::SparsityPattern;
use rayon::prelude::*;

/// The structure of S for one problem: its groups, their order and where each block's values
/// sit in the permuted matrix (compressed sparse columns, both triangles stored).
pub(super) struct SparseSystem {
    groups: Groups,
    /// Column of the permuted matrix of each original column.
    new_col: Vec<usize>,
    /// Per group: the groups coupled with it (itself included), ascending, each with the offset
    /// of its rows inside any column of this group.
    coupled: Vec<Vec<(usize, usize)>>,
    /// Start of each permuted column's values.
    col_offsets: Vec<usize>,
    nnz: usize,
    symbolic: CscSymbolicCholesky,
    factor: Option<CscCholesky<f64>>,
}

/// The groups of a problem's reduced camera system, their coupling graph and its
/// minimum-degree order, with the work a sparse and a dense factorization would take: enough to
/// choose between them before anything is assembled.
pub(super) struct Plan {
    groups: Groups,
    adjacency: Vec<Vec<usize>>,
    order: Vec<usize>,
    /// Multiply-adds of the sparse factorization in `order` (Σ over columns of the squared
    /// column count of the factor), from the groups' elimination.
    pub(super) sparse_flops: f64,
}

impl Plan {
    pub(super) fn new(p: &Problem, l: &Layout, by_point: &[Vec<usize>]) -> Self {
        let groups = Groups::new(l);
        let (pose_group, camera_group) = (&groups.pose, &groups.camera);
        // The coupling graph: a pose with its camera, and every two groups sharing a point.
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for (i, pose) in p.poses.iter().enumerate() {
            if let (Some(a), Some(b)) = (pose_group[i], camera_group[pose.camera]) {
                edges.push((a, b));
            }
        }
        let mut seen: Vec<usize> = Vec::new();
        for (j, obs) in by_point.iter().enumerate() {
            if !point_is_free(l, by_point, j) {
                continue;
            }
            seen.clear();
            for &k in obs {
                let o = &p.observations[k];
                seen.extend(pose_group[o.pose]);
                seen.extend(camera_group[p.poses[o.pose].camera]);
            }
            seen.sort_unstable();
            seen.dedup();
            for (x, &a) in seen.iter().enumerate() {
                for &b in &seen[x + 1..] {
                    edges.push((a, b));
                }
            }
        }
        edges.sort_unstable();
        edges.dedup();
        let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); groups.count()];
        for &(a, b) in &edges {
            adjacency[a].push(b);
            adjacency[b].push(a);
        }
        let sizes: Vec<usize> = (0..groups.count()).map(|g| groups.len(g)).collect();
        let (order, sparse_flops) = minimum_degree(&adjacency, &sizes);
        Self {
            groups,
            adjacency,
            order,
            sparse_flops,
        }
    }

    /// Multiply-adds of a dense Cholesky of `n` columns.
    pub(super) fn dense_flops(n: usize) -> f64 {
        (n as f64).powi(3) / 3.0
    }
}

impl SparseSystem {
    /// The structure of the reduced camera system `plan` describes, under layout `l`.
    pub(super) fn new(plan: Plan, l: &Layout) -> Option<Self> {
        let Plan {
            groups: g,
            adjacency,
            order,
            ..
        } = plan;
        let groups = g.count();
        let group_len = |h: usize| g.len(h);
        let mut position = vec![0; groups];
        let mut start = vec![0; groups];
        let mut next = 0;
        for (k, &g) in order.iter().enumerate() {
            position[g] = k;
            start[g] = next;
            next += group_len(g);
        }
        let new_col: Vec<usize> = (0..l.size)
            .map(|c| start[g.group_of[c]] + g.position(c))
            .collect();
        // Each group's coupled groups in the permuted order (the order of its columns' rows),
        // and the permuted pattern, column by column.
        let by_position: Vec<Vec<usize>> = (0..groups)
            .map(|g| {
                let mut with: Vec<usize> = adjacency[g].iter().copied().chain([g]).collect();
                with.sort_unstable_by_key(|&h| position[h]);
                with
            })
            .collect();
        let mut col_offsets = Vec::with_capacity(l.size + 1);
        let mut rows = Vec::new();
        col_offsets.push(0);
        for &g in &order {
            for _ in 0..group_len(g) {
                for &h in &by_position[g] {
                    rows.extend(start[h]..start[h] + group_len(h));
                }
                col_offsets.push(rows.len());
            }
        }
        // For lookups: by group, with the offset of its rows inside the column.
        let coupled: Vec<Vec<(usize, usize)>> = by_position
            .iter()
            .map(|with| {
                let mut offset = 0;
                let mut at: Vec<(usize, usize)> = with
                    .iter()
                    .map(|&h| {
                        offset += group_len(h);
                        (h, offset - group_len(h))
                    })
                    .collect();
                at.sort_unstable();
                at
            })
            .collect();
        let nnz = rows.len();
        let offsets = col_offsets.clone();
        // The rows are sorted and in range by construction; `None` would be a bug here, and the
        // caller falls back to the dense solver.
        let pattern =
            SparsityPattern::try_from_offsets_and_indices(l.size, l.size, offsets, rows).ok()?;
        let symbolic = CscSymbolicCholesky::factor(pattern);
        Some(Self {
            groups: g,
            new_col,
            coupled,
            col_offsets,
            nnz,
            symbolic,
            factor: None,
        })
    }

    /// Where S's entry (row `r`, column `c`), original columns, sits among the values.
    fn index(&self, r: usize, c: usize) -> usize {
        let g = &self.groups;
        self.col_offsets[self.new_col[c]]
            + self.offset(g.group_of[c], g.group_of[r])
            + g.position(r)
    }

    /// Where the rows of group `h` start inside each column of group `g`.
    fn offset(&self, g: usize, h: usize) -> usize {
        let coupled = &self.coupled[g];
        match coupled.binary_search_by_key(&h, |&(x, _)| x) {
            Ok(at) => coupled[at].1,
            Err(_) => unreachable!("groups {g} and {h} share no point"),
        }
    }

    /// The damped S = U + λ·diag U − Σⱼ Wⱼ·Vⱼ⁻¹·Wⱼᵀ, as the permuted matrix's values.
    fn assemble(&self, t: &Terms<'_>, lambda: f64) -> Vec<f64> {
        let Terms {
            l,
            ne,
            by_point,
            v_inv,
        } = *t;
        let mut values = vec![0.0; self.nnz];
        if let CameraSystem::Blocks(blocks) = &ne.u {
            for (idx, b) in blocks {
                for (sa, ca) in idx.iter().enumerate() {
                    let Some(ca) = *ca else { continue };
                    for (sb, cb) in idx.iter().enumerate() {
                        if let Some(cb) = *cb {
                            values[self.index(cb, ca)] += b[(sb, sa)];
                        }
                    }
                }
            }
        }
        for i in 0..l.size {
            values[self.index(i, i)] += lambda * ne.u_diag[i].max(1e-9);
        }
        // The points' terms, in a fixed number of chunks added in order (the sum does not
        // depend on the threads).
        let chunk = ne.v.len().div_ceil(SCHUR_CHUNKS).max(1);
        let partial: Vec<Vec<f64>> = (0..ne.v.len().div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let mut acc = vec![0.0; self.nnz];
                for (j, (rows, vi)) in
                    ne.w.iter()
                        .zip(v_inv)
                        .enumerate()
                        .skip(c * chunk)
                        .take(chunk)
                {
                    if point_is_free(l, by_point, j) {
                        self.subtract_point(rows, vi, &mut acc);
                    }
                }
                acc
            })
            .collect();
        for acc in partial {
            for (v, a) in values.iter_mut().zip(acc) {
                *v -= a;
            }
        }
        values
    }

    /// Adds one point's Wⱼ·Vⱼ⁻¹·Wⱼᵀ to `acc`, a block of groups at a time.
    fn subtract_point(
        &self,
        rows: &[(usize, nalgebra::Vector3<f64>)],
        vi: &Matrix3<f64>,
        acc: &mut [f64],
    ) {
        // The rows are sorted by column, so each group's rows are a run.
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        for (k, (col, _)) in rows.iter().enumerate() {
            let g = self.groups.group_of[*col];
            match runs.last_mut() {
                Some(run) if run.0 == g => run.2 = k + 1,
                _ => runs.push((g, k, k + 1)),
            }
        }
        for &(ga, a0, a1) in &runs {
            for &(gb, b0, b1) in &runs {
                let (offset, first_b) = (self.offset(ga, gb), self.groups.cols(gb).start);
                for (ca, ra) in &rows[a0..a1] {
                    let wv = vi * ra;
                    let base = self.col_offsets[self.new_col[*ca]] + offset;
                    for (cb, rb) in &rows[b0..b1] {
                        acc[base + cb - first_b] += rb.dot(&wv);
                    }
                }
            }
        }
    }

    /// Factors the damped S and solves S·x = rhs; `None` where S is not positive definite.
    pub(super) fn solve(
        &mut self,
        t: &Terms<'_>,
        lambda: f64,
        rhs: &DVector<f64>,
    ) -> Option<DVector<f64>> {
        self.factor_at(t, lambda)?;
        let mut b = DVector::zeros(t.l.size);
        for (i, &c) in self.new_col.iter().enumerate() {
            b[c] = rhs[i];
        }
        let x = self.factor.as_ref()?.solve(&b);
        let out = DVector::from_fn(t.l.size, |i, _| x[self.new_col[i]]);
        out.iter().all(|v| v.is_finite()).then_some(out)
    }

    /// The diagonal entries of S⁻¹ (undamped) at original columns `cols`.
    pub(super) fn inverse_diagonal(&mut self, t: &Terms<'_>, cols: &[usize]) -> Option<Vec<f64>> {
        self.factor_at(t, 0.0)?;
        let factor = self.factor.as_ref()?;
        Some(
            cols.iter()
                .map(|&c| {
                    let mut e = DVector::zeros(t.l.size);
                    e[self.new_col[c]] = 1.0;
                    factor.solve(&e)[self.new_col[c]]
                })
                .collect(),
        )
    }

    fn factor_at(&mut self, t: &Terms<'_>, lambda: f64) -> Option<()> {
        let values = self.assemble(t, lambda);
        let factored = match self.factor.as_mut() {
            Some(f) => f.refactor(&values).map(|()| None),
            None => CscCholesky::factor_numerical(self.symbolic.clone(), &values).map(Some),
        };
        match factored {
            Ok(Some(f)) => self.factor = Some(f),
            Ok(None) => {}
            Err(_) => {
                // A failed refactor leaves the factor half written; the next one rewrites it.
                return None;
            }
        }
        Some(())
    }
}

/// Chunks of points whose Schur terms are summed in parallel (each holds a copy of S's values).
const SCHUR_CHUNKS: usize = 8;

/// An elimination order of the graph's nodes by minimum degree: each step takes the node with
/// the fewest neighbours left (the lowest index among equals), and its neighbours become one
/// clique, as eliminating it in a Cholesky factorization fills them in. Also returns the
/// multiply-adds of a factorization in that order when node `v` stands for `sizes[v]` columns
/// (each of its columns has as many entries as its own and its neighbours' columns then).
pub(super) fn minimum_degree(adjacency: &[Vec<usize>], sizes: &[usize]) -> (Vec<usize>, f64) {
    let n = adjacency.len();
    let words = n.div_ceil(64).max(1);
    let mut bits = vec![0u64; n * words];
    let set =
        |bits: &mut [u64], row: usize, col: usize| bits[row * words + col / 64] |= 1 << (col % 64);
    for (a, list) in adjacency.iter().enumerate() {
        for &b in list {
            if a != b {
                set(&mut bits, a, b);
                set(&mut bits, b, a);
            }
        }
    }
    let count = |bits: &[u64], row: usize| -> u32 {
        bits[row * words..(row + 1) * words]
            .iter()
            .map(|w| w.count_ones())
            .sum()
    };
    let mut degree: Vec<u32> = (0..n).map(|v| count(&bits, v)).collect();
    let mut alive = vec![true; n];
    let mut order = Vec::with_capacity(n);
    let mut neighbours = Vec::new();
    let mut flops = 0.0;
    for _ in 0..n {
        let Some(v) = (0..n).filter(|&v| alive[v]).min_by_key(|&v| (degree[v], v)) else {
            break;
        };
        order.push(v);
        alive[v] = false;
        neighbours.clear();
        for w in 0..words {
            let mut word = bits[v * words + w];
            while word != 0 {
                neighbours.push(w * 64 + word.trailing_zeros() as usize);
                word &= word - 1;
            }
        }
        let entries = sizes[v] + neighbours.iter().map(|&u| sizes[u]).sum::<usize>();
        flops += sizes[v] as f64 * (entries as f64).powi(2);
        let row_v: Vec<u64> = bits[v * words..(v + 1) * words].to_vec();
        for &u in &neighbours {
            let row_u = &mut bits[u * words..(u + 1) * words];
            for (x, y) in row_u.iter_mut().zip(&row_v) {
                *x |= y;
            }
            row_u[u / 64] &= !(1 << (u % 64));
            row_u[v / 64] &= !(1 << (v % 64));
            degree[u] = count(&bits, u);
        }
    }
    (order, flops)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fill a Cholesky factorization in `order` makes: every later pair of neighbours of an
    /// eliminated node becomes an edge.
    fn fill(adjacency: &[Vec<usize>], order: &[usize]) -> usize {
        let n = adjacency.len();
        let mut sets: Vec<std::collections::BTreeSet<usize>> = adjacency
            .iter()
            .map(|l| l.iter().copied().collect())
            .collect();
        let mut gone = vec![false; n];
        let mut added = 0;
        for &v in order {
            gone[v] = true;
            let later: Vec<usize> = sets[v].iter().copied().filter(|&u| !gone[u]).collect();
            for &a in &later {
                for &b in &later {
                    if a != b && sets[a].insert(b) {
                        added += 1;
                    }
                }
            }
        }
        added / 2
    }

    #[test]
    fn minimum_degree_orders_every_node_once_and_fills_less_than_the_natural_order() {
        // A star: its centre first fills a clique of all leaves; minimum degree leaves it last.
        let mut star: Vec<Vec<usize>> = vec![(1..10).collect()];
        star.extend((1..10).map(|_| vec![0]));
        let (order, flops) = minimum_degree(&star, &[1; 10]);
        // Each leaf's column holds itself and the centre; the centre's, itself.
        assert_eq!(flops, 9.0 * 4.0 + 1.0);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_eq!(fill(&star, &order), 0);
        assert_eq!(fill(&star, &(0..10).collect::<Vec<_>>()), 36);
        // A ring whose nodes are numbered out of order (images around an object, in no
        // particular file order), each coupled with its two neighbours on either side and with
        // a hub (their shared intrinsics): minimum degree keeps the fill of the band, the
        // numbering's order fills far more.
        let n = 40;
        let label = |i: usize| (i * 17) % n;
        let mut ring: Vec<Vec<usize>> = vec![Vec::new(); n + 1];
        for i in 0..n {
            for d in [1, 2, n - 1, n - 2] {
                ring[label(i)].push(label((i + d) % n));
            }
            ring[label(i)].push(n);
            ring[n].push(label(i));
        }
        let md = fill(&ring, &minimum_degree(&ring, &[6; 41]).0);
        let natural = fill(&ring, &(0..=n).collect::<Vec<_>>());
        eprintln!("ring fill: minimum degree {md}, numbering order {natural}");
        assert!(2 * md < natural, "{md} against {natural}");
    }
}

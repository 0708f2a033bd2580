//! The higher-order SH palette: k-means (Lloyd, squared L2) over the `3K`-dimensional `f_rest`
//! vectors, with the palette size rule of SOG v2.
//!
//! The palette is large (up to 65 536 centroids for ~1 point in 1.5), so a brute-force
//! assignment costs `N·k·3K` per iteration — splat-transform's CPU path needs minutes to hours.
//! Here each assignment searches an inverted file: ~√k coarse centres (a small k-means of the
//! initial centroids) split the centroids into cells, a point visits its `PROBES` nearest cells,
//! and its current centroid is always a candidate, so no iteration makes the objective worse
//! (test below). Distances come from matrix products (`|x|² + |c|² − 2x·c`, batched per cell over
//! a chunk of points); the final choice between the new and the current centroid is made on
//! exact distances. Up to 1024 centroids there is one cell, which makes the search exhaustive. Seeded: the same input and seed
//! give the same palette on any thread count.

use rand::SeedableRng;
use rayon::prelude::*;

/// Cells a point searches in the inverted file.
const PROBES: usize = 8;
/// Palettes up to this size are searched exhaustively.
const EXACT_LIMIT: usize = 1024;

/// Centroids (`count × dim`, row-major) and one label per point.
#[derive(Debug, Clone, PartialEq)]
pub struct Palette {
    pub dim: usize,
    pub centroids: Vec<f32>,
    pub labels: Vec<u32>,
}

impl Palette {
    pub fn count(&self) -> usize {
        self.centroids.len() / self.dim.max(1)
    }

    pub fn centroid(&self, i: usize) -> &[f32] {
        &self.centroids[i * self.dim..(i + 1) * self.dim]
    }

    /// Mean squared error per coefficient of the points against their centroids.
    pub fn mse(&self, data: &[f32]) -> f64 {
        let total: f64 = data
            .par_chunks(self.dim)
            .zip(self.labels.par_iter())
            .map(|(p, &l)| f64::from(dist2(p, self.centroid(l as usize))))
            .sum();
        total / data.len().max(1) as f64
    }
}

/// SOG v2's palette size for `n` Gaussians: `min(64, 2^⌊log2(n / 1024)⌋) · 1024`.
pub fn palette_size(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let p = (n as f64 / 1024.0).log2().floor().exp2().min(64.0);
    ((p * 1024.0) as usize).max(1)
}

/// Squared Euclidean distance, in eight independent lanes so that it vectorises.
pub fn dist2(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, ar) = a.split_at(a.len() / 8 * 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for l in 0..8 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += (x - y) * (x - y);
    }
    s
}

/// Lloyd's k-means of `data` (`n × dim`) into `k` centroids seeded from `k` distinct points.
/// With `k ≥ n` every point is its own centroid. `progress` is told each finished iteration.
pub fn fit(
    data: &[f32],
    dim: usize,
    k: usize,
    iterations: usize,
    seed: u64,
    progress: &(dyn Fn(usize) + Sync),
) -> Palette {
    fit_weighted(data, dim, k, iterations, seed, None, progress)
}

/// Below this share of the mean weight a point's weight is raised to it, so that every point
/// still pulls a little (a centroid whose points all weigh 0 would have no mean).
const WEIGHT_FLOOR: f64 = 1e-3;

/// As [`fit`], minimising `Σ wᵢ·|xᵢ − c(xᵢ)|²` when `weights` (one per point) are given: the
/// seeds are drawn in proportion to the weights (without replacement) and each centroid is its
/// points' weighted mean, so the points that matter most (compaction weighs each Gaussian by
/// how much of the training views it paints) are the ones the palette keeps exact. Weights
/// that are not finite or negative count as 0; every weight is raised to `WEIGHT_FLOOR` of
/// the mean; all zero means unweighted.
pub fn fit_weighted(
    data: &[f32],
    dim: usize,
    k: usize,
    iterations: usize,
    seed: u64,
    weights: Option<&[f32]>,
    progress: &(dyn Fn(usize) + Sync),
) -> Palette {
    let n = data.len() / dim.max(1);
    if k >= n || dim == 0 {
        return Palette {
            dim,
            centroids: data.to_vec(),
            labels: (0..n as u32).collect(),
        };
    }
    let weights = weights.and_then(|w| floored(w, n));
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let seeds = match &weights {
        Some(w) => rand::seq::index::sample_weighted(&mut rng, n, |i| w[i], k)
            // Every weight is positive and finite after `floored`, and k < n.
            .unwrap_or_else(|_| rand::seq::index::sample(&mut rng, n, k)),
        None => rand::seq::index::sample(&mut rng, n, k),
    };
    let mut centroids = Vec::with_capacity(k * dim);
    for i in seeds {
        centroids.extend_from_slice(&data[i * dim..(i + 1) * dim]);
    }
    let mut cells = Cells::new(&centroids, dim);
    let mut palette = Palette {
        dim,
        centroids,
        labels: vec![u32::MAX; n],
    };
    assign(data, &mut palette, &mut cells);
    for it in 0..iterations {
        update(data, weights.as_deref(), &mut palette);
        assign(data, &mut palette, &mut cells);
        progress(it + 1);
    }
    palette
}

/// `weights` made usable (see [`fit_weighted`]); `None` when they are all zero or there is not
/// one per point.
fn floored(weights: &[f32], n: usize) -> Option<Vec<f64>> {
    if weights.len() != n {
        return None;
    }
    let clean = |w: f32| {
        if w.is_finite() && w > 0.0 {
            f64::from(w)
        } else {
            0.0
        }
    };
    let mean = weights.iter().map(|&w| clean(w)).sum::<f64>() / n.max(1) as f64;
    (mean > 0.0).then(|| {
        weights
            .iter()
            .map(|&w| clean(w).max(WEIGHT_FLOOR * mean))
            .collect()
    })
}

/// Moves every centroid to the (weighted) mean of its points; an empty centroid takes the point
/// whose (weighted) squared distance to its own centroid is largest (one point per empty
/// centroid, largest first).
fn update(data: &[f32], weights: Option<&[f64]>, p: &mut Palette) {
    let (dim, k) = (p.dim, p.count());
    let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
    let mut sums = vec![0.0f64; k * dim];
    let mut counts = vec![0.0f64; k];
    for (i, (x, &l)) in data.chunks_exact(dim).zip(&p.labels).enumerate() {
        let (l, w) = (l as usize, weight(i));
        counts[l] += w;
        for (s, &v) in sums[l * dim..(l + 1) * dim].iter_mut().zip(x) {
            *s += w * f64::from(v);
        }
    }
    let empty: Vec<usize> = (0..k).filter(|&c| counts[c] == 0.0).collect();
    for c in 0..k {
        if counts[c] > 0.0 {
            let inv = 1.0 / counts[c];
            for (dst, s) in p.centroids[c * dim..(c + 1) * dim]
                .iter_mut()
                .zip(&sums[c * dim..])
            {
                *dst = (s * inv) as f32;
            }
        }
    }
    if empty.is_empty() {
        return;
    }
    let mut far: Vec<(f32, usize)> = data
        .par_chunks(dim)
        .zip(p.labels.par_iter())
        .enumerate()
        .map(|(i, (x, &l))| {
            (
                (weight(i) * f64::from(dist2(x, p.centroid(l as usize)))) as f32,
                i,
            )
        })
        .collect();
    let take = empty.len().min(far.len());
    far.select_nth_unstable_by(take.saturating_sub(1), |a, b| {
        b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
    });
    far[..take].sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (&c, &(_, i)) in empty.iter().zip(&far[..take]) {
        p.centroids[c * dim..(c + 1) * dim].copy_from_slice(&data[i * dim..(i + 1) * dim]);
        p.labels[i] = c as u32;
    }
}

/// Points handled together: one coarse product and one product per probed cell.
const CHUNK: usize = 2048;

/// `out[r·cols + j] = a_r · b_j` for row-major `a` (`rows × dim`) and `b` (`cols × dim`).
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
fn dot_products(a: &[f32], rows: usize, b: &[f32], cols: usize, dim: usize, out: &mut Vec<f32>) {
    out.clear();
    out.resize(rows * cols, 0.0);
    if rows == 0 || cols == 0 {
        return;
    }
    // SAFETY: the strides describe `a` (rows × dim), `b` read as dim × cols (its transpose) and
    // `out` (rows × cols), all within the slices' lengths checked above.
    unsafe {
        matrixmultiply::sgemm(
            rows,
            dim,
            cols,
            1.0,
            a.as_ptr(),
            dim as isize,
            1,
            b.as_ptr(),
            1,
            dim as isize,
            0.0,
            out.as_mut_ptr(),
            cols as isize,
            1,
        );
    }
}

fn norms(rows: &[f32], dim: usize) -> Vec<f32> {
    rows.chunks_exact(dim)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

/// The inverted file over the centroids: coarse centres, fixed for a whole fit, and the
/// centroids nearest each, regathered as the centroids move.
struct Cells {
    dim: usize,
    centres: Vec<f32>,
    centre_norms: Vec<f32>,
    /// Per cell: centroid ids, their coordinates (row-major) and squared norms.
    members: Vec<(Vec<u32>, Vec<f32>, Vec<f32>)>,
}

impl Cells {
    fn new(centroids: &[f32], dim: usize) -> Cells {
        let k = centroids.len() / dim;
        let centres = if k <= EXACT_LIMIT {
            centroids[..dim].to_vec()
        } else {
            let m = ((k as f64).sqrt().round() as usize).max(1);
            fit(centroids, dim, m, 4, 0x5eed, &|_| {}).centroids
        };
        Cells {
            dim,
            centre_norms: norms(&centres, dim),
            centres,
            members: Vec::new(),
        }
    }

    fn count(&self) -> usize {
        self.centres.len() / self.dim
    }

    /// Puts every centroid in the cell of its nearest coarse centre.
    fn regather(&mut self, centroids: &[f32]) {
        let (dim, m) = (self.dim, self.count());
        let labels = self.nearest_centres(centroids, 1);
        let mut members: Vec<(Vec<u32>, Vec<f32>, Vec<f32>)> =
            vec![(Vec::new(), Vec::new(), Vec::new()); m];
        for (c, &label) in labels.iter().enumerate() {
            let cell = &mut members[label as usize];
            let row = &centroids[c * dim..(c + 1) * dim];
            cell.0.push(c as u32);
            cell.1.extend_from_slice(row);
            cell.2.push(row.iter().map(|v| v * v).sum());
        }
        self.members = members;
    }

    /// The `probes` nearest coarse cells of every row of `points`, nearest first.
    fn nearest_centres(&self, points: &[f32], probes: usize) -> Vec<u32> {
        let (dim, m) = (self.dim, self.count());
        let probes = probes.min(m);
        let mut out = vec![0u32; points.len() / dim * probes];
        out.par_chunks_mut(CHUNK * probes)
            .zip(points.par_chunks(CHUNK * dim))
            .for_each(|(out, pts)| {
                let rows = pts.len() / dim;
                let mut dots = Vec::new();
                dot_products(pts, rows, &self.centres, m, dim, &mut dots);
                for r in 0..rows {
                    let mut best = vec![(f32::INFINITY, 0u32); probes];
                    for (j, (&d, &n)) in dots[r * m..(r + 1) * m]
                        .iter()
                        .zip(&self.centre_norms)
                        .enumerate()
                    {
                        let dist = n - 2.0 * d;
                        if dist < best[probes - 1].0 {
                            let mut i = probes - 1;
                            while i > 0 && best[i - 1].0 > dist {
                                best[i] = best[i - 1];
                                i -= 1;
                            }
                            best[i] = (dist, j as u32);
                        }
                    }
                    for (o, b) in out[r * probes..(r + 1) * probes].iter_mut().zip(best) {
                        *o = b.1;
                    }
                }
            });
        out
    }
}

/// Gives every point its nearest centroid among the probed cells, keeping its current one when
/// that is as near (compared exactly, so the objective never grows).
fn assign(data: &[f32], p: &mut Palette, cells: &mut Cells) {
    let dim = p.dim;
    cells.regather(&p.centroids);
    let probes = if cells.count() == 1 { 1 } else { PROBES };
    let probed = cells.nearest_centres(data, probes);
    let centroids = &p.centroids;
    let cells = &*cells;
    p.labels
        .par_chunks_mut(CHUNK)
        .zip(data.par_chunks(CHUNK * dim))
        .zip(probed.par_chunks(CHUNK * probes))
        .for_each(|((labels, pts), probed)| {
            let rows = pts.len() / dim;
            let mut best = vec![(f32::INFINITY, u32::MAX); rows];
            // Invert: the points of this chunk that probe each cell.
            let mut visitors: Vec<Vec<u32>> = vec![Vec::new(); cells.count()];
            for (r, cs) in probed.chunks_exact(probes).enumerate() {
                for &c in cs {
                    visitors[c as usize].push(r as u32);
                }
            }
            let mut gathered = Vec::new();
            let mut dots = Vec::new();
            for (cell, rows_in) in visitors.iter().enumerate() {
                let (ids, coords, cnorms) = &cells.members[cell];
                if rows_in.is_empty() || ids.is_empty() {
                    continue;
                }
                gathered.clear();
                for &r in rows_in {
                    gathered.extend_from_slice(&pts[r as usize * dim..(r as usize + 1) * dim]);
                }
                dot_products(&gathered, rows_in.len(), coords, ids.len(), dim, &mut dots);
                for (i, &r) in rows_in.iter().enumerate() {
                    let b = &mut best[r as usize];
                    for ((&d, &n), &id) in dots[i * ids.len()..(i + 1) * ids.len()]
                        .iter()
                        .zip(cnorms)
                        .zip(ids)
                    {
                        let dist = n - 2.0 * d;
                        if dist < b.0 || (dist == b.0 && id < b.1) {
                            *b = (dist, id);
                        }
                    }
                }
            }
            for (r, (l, b)) in labels.iter_mut().zip(best).enumerate() {
                let x = &pts[r * dim..(r + 1) * dim];
                let at = |c: u32| dist2(x, &centroids[c as usize * dim..(c as usize + 1) * dim]);
                *l = match (*l, b.1) {
                    (cur, u32::MAX) => cur,
                    (u32::MAX, cand) => cand,
                    (cur, cand) if at(cand) < at(cur) => cand,
                    (cur, _) => cur,
                };
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let centres: Vec<f32> = (0..clusters * dim)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        (0..n)
            .flat_map(|_| {
                let c = rng.random_range(0..clusters);
                (0..dim)
                    .map(|j| centres[c * dim + j] + rng.random_range(-0.05..0.05))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn objective(data: &[f32], p: &Palette) -> f64 {
        p.mse(data)
    }

    #[test]
    fn palette_size_follows_the_format_rule() {
        assert_eq!(palette_size(100_000), 65_536);
        assert_eq!(palette_size(20_000), 16_384);
        assert_eq!(palette_size(5_000), 4_096);
        assert_eq!(palette_size(10_000_000), 65_536);
        assert_eq!(palette_size(700), 512);
    }

    #[test]
    fn labels_are_the_nearest_centroid_when_exact() {
        let data = clustered(3000, 9, 40, 1);
        let p = fit(&data, 9, 64, 5, 7, &|_| {});
        for (x, &l) in data.chunks_exact(9).zip(&p.labels) {
            let d = dist2(x, p.centroid(l as usize));
            for c in 0..p.count() {
                assert!(dist2(x, p.centroid(c)) >= d);
            }
        }
        // Recovers well-separated clusters: error near the cluster noise (uniform ±0.05: 8.3e-4).
        assert!(objective(&data, &p) < 2e-3, "{}", objective(&data, &p));
    }

    #[test]
    fn inverted_file_search_never_increases_the_objective_and_is_near_exhaustive() {
        let dim = 24;
        let data = clustered(12_000, dim, 3000, 2);
        let k = 2048; // above EXACT_LIMIT: the inverted file is used
        let mut errors = Vec::new();
        for iterations in [0, 1, 3, 6] {
            let p = fit(&data, dim, k, iterations, 11, &|_| {});
            errors.push(objective(&data, &p));
        }
        assert!(
            errors.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-6)),
            "{errors:?}"
        );
        // Against the exhaustive assignment for the same centroids.
        let p = fit(&data, dim, k, 6, 11, &|_| {});
        let exact: f64 = data
            .chunks_exact(dim)
            .map(|x| {
                f64::from(
                    (0..p.count())
                        .map(|c| dist2(x, p.centroid(c)))
                        .fold(f32::INFINITY, f32::min),
                )
            })
            .sum::<f64>()
            / data.len() as f64;
        assert!(
            p.mse(&data) <= exact * 1.05,
            "ivf {} vs exhaustive {}",
            p.mse(&data),
            exact
        );
    }

    /// `Σ wᵢ·|xᵢ − c(xᵢ)|² / Σ wᵢ` in f64, from the labels and centroids alone.
    fn weighted_error(data: &[f32], weights: &[f32], p: &Palette) -> f64 {
        let total: f64 = data
            .chunks_exact(p.dim)
            .zip(&p.labels)
            .zip(weights)
            .map(|((x, &l), &w)| {
                let c = p.centroid(l as usize);
                f64::from(w)
                    * x.iter()
                        .zip(c)
                        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                        .sum::<f64>()
            })
            .sum();
        total / weights.iter().map(|&w| f64::from(w)).sum::<f64>()
    }

    #[test]
    fn weighted_fit_keeps_the_heavy_points_exact_and_never_grows_its_objective() {
        // As a compacted model's palette: ~1.5 points per centroid, a tenth of the points
        // carrying most of the weight (they paint most of the views).
        let dim = 45;
        let data = clustered(6000, dim, 5000, 4);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(9);
        let weights: Vec<f32> = (0..6000)
            .map(|_| if rng.random_bool(0.1) { 100.0 } else { 1.0 })
            .collect();
        let k = 4096;
        let plain = fit(&data, dim, k, 10, 3, &|_| {});
        let weighted = fit_weighted(&data, dim, k, 10, 3, Some(&weights), &|_| {});
        let (e_plain, e_weighted) = (
            weighted_error(&data, &weights, &plain),
            weighted_error(&data, &weights, &weighted),
        );
        assert!(
            e_weighted < 0.3 * e_plain,
            "weighted error: unweighted fit {e_plain}, weighted fit {e_weighted}"
        );
        let errors: Vec<f64> = [0, 1, 3, 6]
            .iter()
            .map(|&it| {
                let p = fit_weighted(&data, dim, k, it, 3, Some(&weights), &|_| {});
                weighted_error(&data, &weights, &p)
            })
            .collect();
        assert!(
            errors.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-6)),
            "{errors:?}"
        );
    }

    #[test]
    fn unusable_weights_fit_as_unweighted() {
        let data = clustered(2000, 6, 50, 3);
        let plain = fit(&data, 6, 100, 3, 5, &|_| {});
        let zeros = vec![0.0f32; 2000];
        assert_eq!(
            fit_weighted(&data, 6, 100, 3, 5, Some(&zeros), &|_| {}),
            plain
        );
        let wrong_length = vec![1.0f32; 1999];
        assert_eq!(
            fit_weighted(&data, 6, 100, 3, 5, Some(&wrong_length), &|_| {}),
            plain
        );
        // NaN, infinite and negative weights count as 0 (raised to the floor).
        let odd: Vec<f32> = (0..2000)
            .map(|i| [f32::NAN, f32::INFINITY, -1.0, 1.0][i % 4])
            .collect();
        let p = fit_weighted(&data, 6, 100, 3, 5, Some(&odd), &|_| {});
        assert!(p.centroids.iter().all(|v| v.is_finite()));
        assert!(objective(&data, &p) < 1e-2, "{}", objective(&data, &p));
    }

    #[test]
    fn same_seed_same_palette_and_small_inputs_are_kept() {
        let data = clustered(2000, 6, 50, 3);
        let a = fit(&data, 6, 100, 3, 5, &|_| {});
        let b = fit(&data, 6, 100, 3, 5, &|_| {});
        assert_eq!(a, b);
        let small = fit(&data[..60], 6, 100, 3, 5, &|_| {});
        assert_eq!(small.count(), 10);
        assert_eq!(small.mse(&data[..60]), 0.0);
    }
}

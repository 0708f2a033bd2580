//! The 256-entry codebooks SOG v2 stores for log-scales, DC colour and the SH palette: an optimal
//! 1-D quantizer rather than uniform bins.
//!
//! The sorted values are binned into at most 1024 bins placed by a blend of quantile and uniform
//! position (dense regions get narrow bins, tails still get some), each bin weighted by the square
//! root of its count so that a few hundred levels are not all spent on the densest spot; an exact
//! dynamic programme then splits the bins into 256 contiguous groups of least weighted squared
//! error. Each entry is the plain mean of the values in its group (the error-minimising value for
//! that group). With a `max_error`, groups are also limited to twice that width and each entry is
//! kept within `max_error` of every value in its group, so the worst case is bounded, not only the
//! mean (the bound is relaxed step by step when 256 groups cannot cover the range under it).
//! Written here because no crate offers an optimal 1-D k-segmentation.

use rayon::prelude::*;

pub const CODEBOOK_SIZE: usize = 256;
const MAX_BINS: usize = 4096;

/// 256 ascending values; a value is stored as the index of its nearest entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Codebook {
    pub entries: Vec<f32>,
    midpoints: Vec<f32>,
}

/// Per-bin sums of the values that fell in it.
#[derive(Debug, Clone, Copy, Default)]
struct Bin {
    count: f64,
    sum: f64,
    min: f32,
    max: f32,
}

impl Codebook {
    /// A codebook from its entries (as read from `meta.json`).
    pub fn from_entries(entries: Vec<f32>) -> Self {
        let midpoints = entries.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
        Codebook { entries, midpoints }
    }

    /// Fits 256 entries to `values` (non-finite values are ignored), least weighted error.
    pub fn fit(values: &[f32]) -> Self {
        Self::fit_bounded(values, None)
    }

    /// As [`Codebook::fit`], keeping every value within `max_error` of its entry where 256
    /// entries allow it (see the module comment).
    pub fn fit_bounded(values: &[f32], max_error: Option<f32>) -> Self {
        Self::fit_levels(values, max_error, CODEBOOK_SIZE)
    }

    /// As [`Codebook::fit_bounded`] with at most `levels` distinct entries (1–256; the table is
    /// still 256 long, its last entry repeated): fewer symbols for the image codec, at more error.
    pub fn fit_levels(values: &[f32], max_error: Option<f32>, levels: usize) -> Self {
        let levels = levels.clamp(1, CODEBOOK_SIZE);
        let mut sorted: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.par_sort_unstable_by(f32::total_cmp);
        let Some((&lo, &hi)) = sorted.first().zip(sorted.last()) else {
            return Self::from_entries(vec![0.0; CODEBOOK_SIZE]);
        };
        if hi <= lo {
            return Self::from_entries(vec![lo; CODEBOOK_SIZE]);
        }
        let bins = bin_sorted(&sorted, lo, hi);
        let weights: Vec<f64> = bins.iter().map(|b| b.count.sqrt()).collect();
        let means: Vec<f64> = bins.iter().map(|b| b.sum / b.count).collect();
        let width = max_error.map(|e| feasible_width(&bins, 2.0 * e, levels));
        let span = |r: &std::ops::Range<usize>| bins[r.end - 1].max - bins[r.start].min;
        let allowed = |r: std::ops::Range<usize>| width.is_none_or(|w| span(&r) <= w);
        let mut groups = optimal_segmentation(&means, &weights, levels, &allowed);
        if !is_partition(&groups, bins.len(), &allowed) {
            // The programme's prefix sums lose every small value's digits next to a huge one
            // (a log-scale of 1e17 beside ones near -5), and its search then finds no allowed
            // split. The greedy cover by width is always valid, if not least-error.
            groups = greedy_groups(&bins, width.unwrap_or(f32::INFINITY));
        }
        let mut entries: Vec<f32> = groups
            .iter()
            .map(|r| {
                let (c, s) = bins[r.clone()]
                    .iter()
                    .fold((0.0, 0.0), |(c, s), b| (c + b.count, s + b.sum));
                let mean = (s / c) as f32;
                match width {
                    // Within half the allowed width of both ends of the group.
                    Some(w) => mean.clamp(
                        bins[r.end - 1].max - 0.5 * w,
                        (bins[r.start].min + 0.5 * w).max(bins[r.end - 1].max - 0.5 * w),
                    ),
                    None => mean,
                }
            })
            .collect();
        entries.sort_by(f32::total_cmp);
        let last = *entries.last().unwrap_or(&lo);
        entries.resize(CODEBOOK_SIZE, last);
        Self::from_entries(entries)
    }

    /// Index of the entry nearest to `v` (the first of equal entries).
    pub fn index(&self, v: f32) -> u8 {
        let i = self.midpoints.partition_point(|&m| m <= v);
        // Past the last distinct entry every midpoint equals it: take its first copy, so that
        // a table of fewer levels uses only that many indices.
        let value = self.entries[i];
        self.entries[..i].partition_point(|&e| e < value) as u8
    }

    pub fn value(&self, i: u8) -> f32 {
        self.entries[i as usize]
    }
}

/// The smallest width ≥ `width` (growing by 25 %) at which `k` groups of bins cover all bins.
fn feasible_width(bins: &[Bin], width: f32, k: usize) -> f32 {
    let needed = |w: f32| {
        let mut groups = 0;
        let mut start = f32::NEG_INFINITY;
        for b in bins {
            if b.max - start > w {
                groups += 1;
                start = b.min;
            }
        }
        groups
    };
    let mut w = width;
    while needed(w) > k {
        w *= 1.25;
    }
    w
}

/// Whether `groups` are non-empty, contiguous, cover `0..n` and are each allowed.
fn is_partition(
    groups: &[std::ops::Range<usize>],
    n: usize,
    allowed: &dyn Fn(std::ops::Range<usize>) -> bool,
) -> bool {
    let mut end = 0;
    for r in groups {
        if r.start != end || r.end <= r.start || !allowed(r.clone()) {
            return false;
        }
        end = r.end;
    }
    end == n
}

/// Bins grouped left to right, each group as wide as `width` allows (the cover
/// [`feasible_width`] counts).
fn greedy_groups(bins: &[Bin], width: f32) -> Vec<std::ops::Range<usize>> {
    let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = f32::NEG_INFINITY;
    for (i, b) in bins.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if b.max - start <= width => g.end = i + 1,
            _ => {
                groups.push(i..i + 1);
                start = b.min;
            }
        }
    }
    groups
}

/// Non-empty bins of the sorted values, in ascending order.
fn bin_sorted(sorted: &[f32], lo: f32, hi: f32) -> Vec<Bin> {
    let n = sorted.len();
    let h = n.min(MAX_BINS);
    let range = f64::from(hi - lo);
    let iqr = f64::from(sorted[3 * n / 4] - sorted[n / 4]);
    let beta = (1.0 - iqr / range).clamp(0.5, 0.999);
    let mut bins = vec![Bin::default(); h];
    for (i, &v) in sorted.iter().enumerate() {
        let t = beta * i as f64 / n as f64 + (1.0 - beta) * f64::from(v - lo) / range;
        let b = ((t * h as f64) as usize).min(h - 1);
        let bin = &mut bins[b];
        if bin.count == 0.0 {
            bin.min = v;
        }
        bin.count += 1.0;
        bin.sum += f64::from(v);
        bin.max = v;
    }
    bins.retain(|b| b.count > 0.0);
    bins
}

/// Splits `values` (ascending, with weights) into at most `k` contiguous groups minimising the
/// weighted sum of squared deviations from each group's weighted mean. Exact: a dynamic programme
/// over split points, each layer solved by divide and conquer (the best split point is monotone
/// in the end point for this cost). `allowed` rules groups out (it must also allow every
/// sub-range of an allowed range, which keeps the split points monotone).
fn optimal_segmentation(
    values: &[f64],
    weights: &[f64],
    k: usize,
    allowed: &dyn Fn(std::ops::Range<usize>) -> bool,
) -> Vec<std::ops::Range<usize>> {
    let n = values.len();
    if n <= k {
        return (0..n).map(|i| i..i + 1).collect();
    }
    let mut pw = vec![0.0; n + 1];
    let mut pwx = vec![0.0; n + 1];
    let mut pwxx = vec![0.0; n + 1];
    for i in 0..n {
        pw[i + 1] = pw[i] + weights[i];
        pwx[i + 1] = pwx[i] + weights[i] * values[i];
        pwxx[i + 1] = pwxx[i] + weights[i] * values[i] * values[i];
    }
    let cost = |i: usize, j: usize| -> f64 {
        if j > i && !allowed(i..j) {
            return f64::INFINITY;
        }
        let w = pw[j] - pw[i];
        if w <= 0.0 {
            return 0.0;
        }
        let s = pwx[j] - pwx[i];
        (pwxx[j] - pwxx[i] - s * s / w).max(0.0)
    };
    // best[j]: least cost of the first j values in the current number of groups.
    let mut best: Vec<f64> = (0..=n).map(|j| cost(0, j)).collect();
    let mut splits: Vec<Vec<u32>> = Vec::with_capacity(k);
    for groups in 2..=k {
        let mut next = vec![f64::INFINITY; n + 1];
        let mut arg = vec![0u32; n + 1];
        layer(
            &best,
            &mut next,
            &mut arg,
            groups,
            n,
            groups - 1,
            n - 1,
            &cost,
        );
        best = next;
        splits.push(arg);
    }
    let mut ranges = Vec::with_capacity(k);
    let mut end = n;
    for arg in splits.iter().rev() {
        let start = arg[end] as usize;
        ranges.push(start..end);
        end = start;
    }
    ranges.push(0..end);
    ranges.reverse();
    ranges
}

/// Fills `next[j]` for `j ∈ [lo, hi]` as `min over s ∈ [opt_lo, opt_hi], s < j` of
/// `prev[s] + cost(s, j)`, recursing on the midpoint.
#[allow(clippy::too_many_arguments)]
fn layer(
    prev: &[f64],
    next: &mut [f64],
    arg: &mut [u32],
    lo: usize,
    hi: usize,
    opt_lo: usize,
    opt_hi: usize,
    cost: &dyn Fn(usize, usize) -> f64,
) {
    if lo > hi {
        return;
    }
    let mid = (lo + hi) / 2;
    let mut best = (f64::INFINITY, opt_lo);
    let last = opt_hi.min(mid - 1);
    for (s, &p) in prev.iter().enumerate().take(last + 1).skip(opt_lo) {
        let c = p + cost(s, mid);
        if c < best.0 {
            best = (c, s);
        }
    }
    next[mid] = best.0;
    arg[mid] = best.1 as u32;
    if !best.0.is_finite() {
        // No allowed split for `mid`: none for larger end points either (more values are never
        // easier to cover), and smaller ones may split anywhere.
        next[mid + 1..=hi].fill(f64::INFINITY);
        if mid > lo {
            layer(prev, next, arg, lo, mid - 1, opt_lo, opt_hi, cost);
        }
        return;
    }
    if mid > lo {
        layer(prev, next, arg, lo, mid - 1, opt_lo, best.1, cost);
    }
    layer(prev, next, arg, mid + 1, hi, best.1, opt_hi, cost);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn brute_force(values: &[f64], weights: &[f64], k: usize) -> f64 {
        // O(k n²) reference dynamic programme.
        let n = values.len();
        let cost = |i: usize, j: usize| {
            let w: f64 = weights[i..j].iter().sum();
            let m: f64 = (i..j).map(|t| weights[t] * values[t]).sum::<f64>() / w;
            (i..j)
                .map(|t| weights[t] * (values[t] - m).powi(2))
                .sum::<f64>()
        };
        let mut d = vec![vec![f64::INFINITY; n + 1]; k + 1];
        d[0][0] = 0.0;
        for g in 1..=k {
            for j in 1..=n {
                for s in 0..j {
                    d[g][j] = d[g][j].min(d[g - 1][s] + cost(s, j));
                }
            }
        }
        d[k][n]
    }

    #[test]
    fn fewer_levels_use_that_many_indices_and_stay_nearest() {
        let mut r = 0x2545_f491u64;
        let values: Vec<f32> = (0..20_000)
            .map(|_| {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                ((r >> 11) as f64 / (1u64 << 53) as f64) as f32 * 2.0 - 1.0
            })
            .collect();
        let full = Codebook::fit(&values);
        let mut last_error = 0.0f64;
        for levels in [256usize, 64, 16] {
            let book = Codebook::fit_levels(&values, None, levels);
            assert_eq!(book.entries.len(), CODEBOOK_SIZE);
            let used: std::collections::BTreeSet<u8> =
                values.iter().map(|&v| book.index(v)).collect();
            assert!(used.len() <= levels, "{levels}: {} indices", used.len());
            let mut error = 0.0f64;
            for &v in &values {
                let got = book.value(book.index(v));
                // Nearest entry.
                let best = book
                    .entries
                    .iter()
                    .map(|&e| (e - v).abs())
                    .fold(f32::INFINITY, f32::min);
                assert!((got - v).abs() <= best + 1e-6, "{levels}: {v}");
                error += f64::from((got - v) * (got - v));
            }
            assert!(error >= last_error, "fewer levels, more error");
            last_error = error;
        }
        assert_eq!(Codebook::fit_levels(&values, None, 256), full);
    }

    #[test]
    fn segmentation_matches_the_quadratic_programme() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let mut values: Vec<f64> = (0..60)
            .map(|_| rng.random::<f64>().powi(3) * 10.0)
            .collect();
        values.sort_by(f64::total_cmp);
        let weights: Vec<f64> = (0..60).map(|_| rng.random_range(0.5..3.0)).collect();
        for k in [2, 5, 11] {
            let groups = optimal_segmentation(&values, &weights, k, &|_| true);
            assert_eq!(groups.len(), k);
            let total: f64 = groups
                .iter()
                .map(|r| {
                    let w: f64 = weights[r.clone()].iter().sum();
                    let m: f64 = r.clone().map(|t| weights[t] * values[t]).sum::<f64>() / w;
                    r.clone()
                        .map(|t| weights[t] * (values[t] - m).powi(2))
                        .sum::<f64>()
                })
                .sum();
            let reference = brute_force(&values, &weights, k);
            assert!(
                (total - reference).abs() <= 1e-9 * reference.max(1.0),
                "k={k}: {total} vs {reference}"
            );
        }
    }

    #[test]
    fn codebook_is_ascending_and_beats_uniform_bins_on_skewed_data() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(9);
        // Log-scales look like this: a bulk around -4 with a long tail.
        let values: Vec<f32> = (0..50_000)
            .map(|_| {
                let g: f32 = (0..4).map(|_| rng.random::<f32>()).sum::<f32>() - 2.0;
                if rng.random::<f32>() < 0.02 {
                    g * 4.0 + 2.0
                } else {
                    g * 0.6 - 4.0
                }
            })
            .collect();
        let cb = Codebook::fit(&values);
        assert_eq!(cb.entries.len(), CODEBOOK_SIZE);
        assert!(cb.entries.windows(2).all(|w| w[0] <= w[1]));
        let mse = |f: &dyn Fn(f32) -> f32| {
            values
                .iter()
                .map(|&v| f64::from(f(v) - v).powi(2))
                .sum::<f64>()
                / values.len() as f64
        };
        let ours = mse(&|v| cb.value(cb.index(v)));
        let (lo, hi) = values
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let uniform = mse(&|v| {
            let i = ((v - lo) / (hi - lo) * 255.0).round();
            lo + i / 255.0 * (hi - lo)
        });
        assert!(
            ours < 0.5 * uniform,
            "optimal {ours:e} vs uniform {uniform:e}"
        );
        // Nearest entry really is the nearest.
        for &v in values.iter().take(2000) {
            let i = cb.index(v) as usize;
            let d = (cb.entries[i] - v).abs();
            assert!(cb.entries.iter().all(|&e| (e - v).abs() >= d - 1e-6));
        }
    }

    #[test]
    fn a_bound_caps_the_worst_error() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(12);
        let values: Vec<f32> = (0..40_000)
            .map(|_| {
                let g: f32 = (0..6).map(|_| rng.random::<f32>()).sum::<f32>() - 3.0;
                g * 1.4
            })
            .collect();
        let worst = |cb: &Codebook| {
            values
                .iter()
                .map(|&v| (cb.value(cb.index(v)) - v).abs())
                .fold(0.0, f32::max)
        };
        let free = Codebook::fit(&values);
        let bounded = Codebook::fit_bounded(&values, Some(0.02));
        assert!(
            worst(&bounded) <= 0.02 + 1e-6,
            "bounded worst {}",
            worst(&bounded)
        );
        assert!(
            worst(&free) > worst(&bounded),
            "free {} bounded {}",
            worst(&free),
            worst(&bounded)
        );
        // A bound 256 entries cannot meet is relaxed, not failed.
        let relaxed = Codebook::fit_bounded(&values, Some(1e-4));
        assert!(worst(&relaxed) < 0.03);
    }

    #[test]
    fn few_distinct_values_are_kept_exactly() {
        let values = [1.0f32, 2.0, 2.0, 5.0, 1.0];
        let cb = Codebook::fit(&values);
        for v in values {
            assert_eq!(cb.value(cb.index(v)), v);
        }
        let constant = Codebook::fit(&[3.5; 10]);
        assert_eq!(constant.value(constant.index(3.5)), 3.5);
    }

    /// Issue 24: `splat compress` on a PLY with two mutated log-scales panicked here (an empty
    /// group from the programme, whose prefix sums had lost the bulk's digits next to 1.6e17).
    #[test]
    fn huge_outliers_beside_the_bulk_keep_the_bound() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let mut values: Vec<f32> = (0..1213).map(|_| rng.random_range(-5.0..2.0)).collect();
        values.extend([1.638_960_2e17, -9.620_064e12]);
        for bound in [0.02, 0.08] {
            let book = Codebook::fit_bounded(&values, Some(bound));
            assert!(book.entries.windows(2).all(|w| w[0] <= w[1]));
            for &v in &values[..1213] {
                let e = book.value(book.index(v));
                assert!(
                    (e - v).abs() <= bound * 1.001,
                    "{v} stored as {e} (bound {bound})"
                );
            }
            let top = book.value(book.index(1.638_960_2e17));
            assert!((top / 1.638_960_2e17 - 1.0).abs() < 1e-6, "{top}");
            // The low outlier shares the first bin with the bulk's minimum: it keeps its rank.
            assert_eq!(book.index(-9.620_064e12), 0);
        }
    }
}

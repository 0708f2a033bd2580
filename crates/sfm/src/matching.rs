//! Descriptor matching: exact nearest neighbours by brute force (one SGEMM of the two
//! descriptor sets per pair, in row blocks), Lowe's ratio test and a cross-check.
//!
//! Distances follow COLMAP: the angle between the unit descriptors, acos(d₁·d₂), with a
//! maximum of 0.7 and a ratio of 0.8 between the best and second-best angle.

use crate::features::DESCRIPTOR_LEN;
use rayon::prelude::*;

/// Rows of the first image matched per block (bounds the score matrix to `BLOCK × n₂`).
const BLOCK: usize = 512;
/// Bytes are 512·v (see `root_sift_bytes`).
const BYTE_SCALE: f32 = 1.0 / 512.0;

#[derive(Debug, Clone, PartialEq)]
pub struct MatchOptions {
    pub max_ratio: f32,
    /// Largest angle (radians) between matched descriptors.
    pub max_distance: f32,
    pub cross_check: bool,
}

impl Default for MatchOptions {
    fn default() -> Self {
        Self {
            max_ratio: 0.8,
            max_distance: 0.7,
            cross_check: true,
        }
    }
}

/// Descriptors as unit f32 rows, ready for the dot products.
pub struct DescriptorMatrix {
    rows: usize,
    data: Vec<f32>,
}

impl DescriptorMatrix {
    pub fn new(descriptors: &[[u8; DESCRIPTOR_LEN]]) -> Self {
        let mut data = Vec::with_capacity(descriptors.len() * DESCRIPTOR_LEN);
        for d in descriptors {
            data.extend(d.iter().map(|&b| f32::from(b) * BYTE_SCALE));
        }
        Self {
            rows: descriptors.len(),
            data,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

/// Best and second-best similarity seen for one descriptor.
#[derive(Debug, Clone, Copy)]
struct Best {
    first: f32,
    second: f32,
    index: u32,
}

impl Best {
    const NONE: Best = Best {
        first: -1.0,
        second: -1.0,
        index: u32::MAX,
    };

    #[inline]
    fn offer(&mut self, score: f32, index: u32) {
        if score > self.first {
            self.second = self.first;
            self.first = score;
            self.index = index;
        } else if score > self.second {
            self.second = score;
        }
    }

    fn merge(&mut self, other: &Best) {
        // Blocks are merged in order, so the lower index wins ties as in one pass.
        if other.first > self.first {
            self.second = self.first.max(other.second);
            self.first = other.first;
            self.index = other.index;
        } else {
            self.second = self.second.max(other.first);
        }
    }

    fn passes(&self, opts: &MatchOptions) -> bool {
        if self.index == u32::MAX {
            return false;
        }
        let best = self.first.min(1.0).acos();
        let second = self.second.clamp(-1.0, 1.0).acos();
        best <= opts.max_distance && best < opts.max_ratio * second
    }
}

/// Matches between two descriptor sets as (index in `a`, index in `b`), in `a`'s order.
pub fn match_descriptors(
    a: &DescriptorMatrix,
    b: &DescriptorMatrix,
    opts: &MatchOptions,
) -> Vec<[u32; 2]> {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let blocks: Vec<(Vec<Best>, Vec<Best>)> = (0..a.rows.div_ceil(BLOCK))
        .into_par_iter()
        .map(|blk| score_block(a, b, blk * BLOCK, ((blk + 1) * BLOCK).min(a.rows)))
        .collect();
    let mut cols = vec![Best::NONE; b.rows];
    let mut rows = Vec::with_capacity(a.rows);
    for (r, c) in blocks {
        rows.extend(r);
        for (acc, blk) in cols.iter_mut().zip(&c) {
            acc.merge(blk);
        }
    }
    rows.iter()
        .enumerate()
        .filter(|(_, best)| best.passes(opts))
        .filter(|(i, best)| {
            !opts.cross_check || {
                let back = &cols[best.index as usize];
                back.index as usize == *i && back.passes(opts)
            }
        })
        .map(|(i, best)| [i as u32, best.index])
        .collect()
}

/// Scores rows `start..end` of `a` against all of `b`: each row's best two, and each column's
/// best two within the block.
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
fn score_block(
    a: &DescriptorMatrix,
    b: &DescriptorMatrix,
    start: usize,
    end: usize,
) -> (Vec<Best>, Vec<Best>) {
    let m = end - start;
    let n = b.rows;
    let mut scores = vec![0f32; m * n];
    // SAFETY: the pointers and strides describe `m×128`, `128×n` (b transposed through its
    // strides) and `m×n` row-major matrices inside the three slices, which outlive the call.
    unsafe {
        matrixmultiply::sgemm(
            m,
            DESCRIPTOR_LEN,
            n,
            1.0,
            a.data[start * DESCRIPTOR_LEN..].as_ptr(),
            DESCRIPTOR_LEN as isize,
            1,
            b.data.as_ptr(),
            1,
            DESCRIPTOR_LEN as isize,
            0.0,
            scores.as_mut_ptr(),
            n as isize,
            1,
        );
    }
    // The scan over the scores is as long as the product itself: it is written without
    // branches, columns as three arrays updated a row at a time and each row in LANES
    // interleaved runs, so that it vectorises. Same results as offering every score in order.
    let mut cols = Columns::new(n);
    let rows: Vec<Best> = scores
        .chunks_exact(n)
        .enumerate()
        .map(|(i, row)| {
            cols.offer_row(row, (start + i) as u32);
            best_of_row(row)
        })
        .collect();
    (rows, cols.into_best())
}

/// The larger of two scores (no NaN handling: scores are finite), in one vector instruction.
#[inline]
fn max(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

#[inline]
fn min(a: f32, b: f32) -> f32 {
    if a < b { a } else { b }
}

/// Interleaved runs a row's best two are tracked in (a multiple of the vector width).
const LANES: usize = 16;

/// Each column's best two scores and the row of the best, as separate arrays.
struct Columns {
    first: Vec<f32>,
    second: Vec<f32>,
    index: Vec<u32>,
}

impl Columns {
    fn new(n: usize) -> Self {
        Self {
            first: vec![Best::NONE.first; n],
            second: vec![Best::NONE.second; n],
            index: vec![Best::NONE.index; n],
        }
    }

    /// Offers row `i`'s scores to every column: `Best::offer` without branches (a later
    /// equal score leaves the index, as there).
    fn offer_row(&mut self, row: &[f32], i: u32) {
        for (((&s, f), sec), idx) in row
            .iter()
            .zip(&mut self.first)
            .zip(&mut self.second)
            .zip(&mut self.index)
        {
            let better = s > *f;
            *sec = max(*sec, min(*f, s));
            *idx = if better { i } else { *idx };
            *f = max(*f, s);
        }
    }

    fn into_best(self) -> Vec<Best> {
        self.first
            .into_iter()
            .zip(self.second)
            .zip(self.index)
            .map(|((first, second), index)| Best {
                first,
                second,
                index,
            })
            .collect()
    }
}

/// The best two scores of a row and the column of the best (the first on ties), as offering
/// them in order would give.
fn best_of_row(row: &[f32]) -> Best {
    let mut first = [Best::NONE.first; LANES];
    let mut second = [Best::NONE.second; LANES];
    let mut index = [Best::NONE.index; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for (c, chunk) in chunks.enumerate() {
        let base = (c * LANES) as u32;
        // `take(LANES)` tells the compiler `l < LANES`: no bounds checks, so it vectorises.
        for (l, &s) in chunk.iter().enumerate().take(LANES) {
            let better = s > first[l];
            second[l] = max(second[l], min(first[l], s));
            index[l] = if better { base + l as u32 } else { index[l] };
            first[l] = max(first[l], s);
        }
    }
    // Lanes hold interleaved runs: the best is the highest first score, the lowest column
    // among equals; the second is the highest of everything else.
    let mut best = Best::NONE;
    for l in 0..LANES {
        if index[l] == u32::MAX {
            continue;
        }
        if first[l] > best.first || (first[l] == best.first && index[l] < best.index) {
            best.second = best.first.max(second[l]);
            best.first = first[l];
            best.index = index[l];
        } else {
            best.second = best.second.max(first[l]);
        }
    }
    let base = row.len() - tail.len();
    for (k, &s) in tail.iter().enumerate() {
        best.offer(s, (base + k) as u32);
    }
    best
}

/// Image pairs to match: every pair, or each image with its `overlap` successors in name order.
pub fn pairs(count: usize, sequential_overlap: Option<usize>) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for i in 0..count {
        let last = match sequential_overlap {
            Some(k) => (i + k).min(count - 1),
            None => count - 1,
        };
        out.extend((i + 1..=last).map(|j| (i, j)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit_bytes(seed: u64) -> [u8; DESCRIPTOR_LEN] {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut v = [0f32; DESCRIPTOR_LEN];
        for x in v.iter_mut() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *x = (s % 1000) as f32;
        }
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.map(|x| (512.0 * x / n).round().min(255.0) as u8)
    }

    /// Plain double loop with f64 angles: the reference the SGEMM path must agree with.
    fn reference(
        a: &[[u8; DESCRIPTOR_LEN]],
        b: &[[u8; DESCRIPTOR_LEN]],
        opts: &MatchOptions,
    ) -> Vec<[u32; 2]> {
        let angle = |x: &[u8; DESCRIPTOR_LEN], y: &[u8; DESCRIPTOR_LEN]| {
            let dot: f64 = x
                .iter()
                .zip(y)
                .map(|(&p, &q)| f64::from(p) * f64::from(q))
                .sum::<f64>()
                / (512.0 * 512.0);
            dot.min(1.0).acos()
        };
        let nearest = |x: &[u8; DESCRIPTOR_LEN], set: &[[u8; DESCRIPTOR_LEN]]| {
            let mut d: Vec<(f64, usize)> = set
                .iter()
                .enumerate()
                .map(|(j, y)| (angle(x, y), j))
                .collect();
            d.sort_by(|p, q| p.0.total_cmp(&q.0));
            let ok = d[0].0 <= f64::from(opts.max_distance)
                && d[0].0 < f64::from(opts.max_ratio) * d[1].0;
            ok.then_some(d[0].1)
        };
        let mut out = Vec::new();
        for (i, x) in a.iter().enumerate() {
            if let Some(j) = nearest(x, b)
                && nearest(&b[j], a) == Some(i)
            {
                out.push([i as u32, j as u32]);
            }
        }
        out
    }

    #[test]
    fn brute_force_agrees_with_the_reference_and_finds_planted_pairs() {
        // 1200 rows (three blocks) against 900; 300 of b are noisy copies of rows of a.
        let a: Vec<_> = (0..1200).map(unit_bytes).collect();
        let mut b: Vec<_> = (5000..5600).map(unit_bytes).collect();
        for k in 0..300 {
            let mut d = a[k * 4];
            d[k % DESCRIPTOR_LEN] = d[k % DESCRIPTOR_LEN].saturating_add(20);
            b.push(d);
        }
        let opts = MatchOptions::default();
        let got = match_descriptors(
            &DescriptorMatrix::new(&a),
            &DescriptorMatrix::new(&b),
            &opts,
        );
        assert_eq!(got, reference(&a, &b, &opts));
        for k in 0..300u32 {
            assert!(got.contains(&[k * 4, 600 + k]), "planted pair {k} missing");
        }
        assert_eq!(
            got.len(),
            300,
            "random descriptors must fail the ratio test"
        );
    }

    /// The branch-free scan against offering every score in order, on rows with many ties
    /// (scores from a handful of values) and lengths around the lane count.
    #[test]
    fn the_vectorised_scan_equals_offering_in_order() {
        let mut s = 12345u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 5) as f32 * 0.25 - 0.5
        };
        for n in [1, 7, LANES - 1, LANES, LANES + 1, 3 * LANES + 5, 100] {
            let rows = 9;
            let scores: Vec<f32> = (0..rows * n).map(|_| next()).collect();
            let mut cols = Columns::new(n);
            let mut want_cols = vec![Best::NONE; n];
            for (i, row) in scores.chunks_exact(n).enumerate() {
                let mut want = Best::NONE;
                for (j, &v) in row.iter().enumerate() {
                    want.offer(v, j as u32);
                    want_cols[j].offer(v, i as u32);
                }
                let got = best_of_row(row);
                assert_eq!(
                    (got.first, got.second, got.index),
                    (want.first, want.second, want.index),
                    "row {i} of length {n}: {row:?}"
                );
                cols.offer_row(row, i as u32);
            }
            for (got, want) in cols.into_best().iter().zip(&want_cols) {
                assert_eq!(
                    (got.first, got.second, got.index),
                    (want.first, want.second, want.index)
                );
            }
        }
    }

    #[test]
    fn pair_lists() {
        assert_eq!(
            pairs(4, None),
            vec![(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
        );
        assert_eq!(pairs(4, Some(1)), vec![(0, 1), (1, 2), (2, 3)]);
    }
}

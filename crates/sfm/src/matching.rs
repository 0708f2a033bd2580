//! Descriptor matching: exact nearest neighbours by brute force (each descriptor's best two from
//! `dot_products`, blocks of rows in parallel), Lowe's ratio test and a cross-check.
//!
//! Distances follow COLMAP: the angle between the unit descriptors, acos(d₁·d₂), with a
//! maximum of 0.7 and a ratio of 0.8 between the best and second-best angle.

use crate::dot_products::{self, Best};
pub use crate::dot_products::{DescriptorMatrix, Kernel};
use rayon::prelude::*;

/// Rows of the first image per parallel task (bounds SGEMM's score matrix to `BLOCK × n₂`).
const BLOCK: usize = 512;
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

/// Whether a descriptor's best two pass the distance cap and the ratio test.
fn passes(best: &Best, opts: &MatchOptions) -> bool {
    if best.index == u32::MAX {
        return false;
    }
    let first = best.first.min(1.0).acos();
    let second = best.second.clamp(-1.0, 1.0).acos();
    first <= opts.max_distance && first < opts.max_ratio * second
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
    let blocks: Vec<(Vec<Best>, Vec<Best>)> = (0..a.len().div_ceil(BLOCK))
        .into_par_iter()
        .map(|blk| dot_products::best_two(a, blk * BLOCK, ((blk + 1) * BLOCK).min(a.len()), b))
        .collect();
    let mut cols = vec![Best::NONE; b.len()];
    let mut rows = Vec::with_capacity(a.len());
    for (r, c) in blocks {
        rows.extend(r);
        for (acc, blk) in cols.iter_mut().zip(&c) {
            acc.merge(blk);
        }
    }
    rows.iter()
        .enumerate()
        .filter(|(_, best)| passes(best, opts))
        .filter(|(i, best)| {
            !opts.cross_check || {
                let back = &cols[best.index as usize];
                back.index as usize == *i && passes(back, opts)
            }
        })
        .map(|(i, best)| [i as u32, best.index])
        .collect()
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
    use crate::features::DESCRIPTOR_LEN;

    /// A xorshift sequence from `seed`.
    fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    fn unit_bytes(seed: u64) -> [u8; DESCRIPTOR_LEN] {
        let mut next = xorshift(seed);
        let v: [f32; DESCRIPTOR_LEN] = std::array::from_fn(|_| (next() % 1000) as f32);
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.map(|x| (512.0 * x / n).round().min(255.0) as u8)
    }

    /// `match_descriptors` with every dot-product kernel this CPU runs gives the reference's
    /// matches, which are returned.
    fn every_kernel_agrees_with_the_reference(
        a: &[[u8; DESCRIPTOR_LEN]],
        b: &[[u8; DESCRIPTOR_LEN]],
        opts: &MatchOptions,
    ) -> Vec<[u32; 2]> {
        let expected = reference(a, b, opts);
        for kernel in [Kernel::Sgemm, Kernel::Vnni] {
            if kernel.available() {
                let got = match_descriptors(
                    &DescriptorMatrix::with_kernel(a, kernel),
                    &DescriptorMatrix::with_kernel(b, kernel),
                    opts,
                );
                assert_eq!(got, expected, "{opts:?} {kernel:?}");
            }
        }
        expected
    }

    /// Plain double loop with f64 angles: the reference every kernel must agree with.
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
                && (!opts.cross_check || nearest(&b[j], a) == Some(i))
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
        let expected = every_kernel_agrees_with_the_reference(&a, &b, &opts);
        for k in 0..300u32 {
            assert!(
                expected.contains(&[k * 4, 600 + k]),
                "planted pair {k} missing"
            );
        }
        assert_eq!(
            expected.len(),
            300,
            "random descriptors must fail the ratio test"
        );
    }

    /// Sparse non-negative descriptors (about a third of the bins set), closer to SIFT's than
    /// uniform ones.
    fn sparse_bytes(seed: u64) -> [f32; DESCRIPTOR_LEN] {
        let mut next = xorshift(seed);
        std::array::from_fn(|_| {
            let s = next();
            if s.is_multiple_of(3) {
                (s % 997) as f32
            } else {
                0.0
            }
        })
    }

    fn quantise(v: &[f32; DESCRIPTOR_LEN]) -> [u8; DESCRIPTOR_LEN] {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.map(|x| (512.0 * x / n).round().min(255.0) as u8)
    }

    #[test]
    fn second_neighbours_at_every_distance_decide_as_in_the_reference() {
        // Each row of a has, in b, a copy moved by a small turn and a rival mixed from it and
        // an unrelated descriptor at one of 40 weights: the rivals sweep the angles around
        // max_distance and max_distance / max_ratio.
        let n = 400;
        let base: Vec<_> = (0..n).map(|k| sparse_bytes(k as u64 + 1)).collect();
        let a: Vec<_> = base.iter().map(quantise).collect();
        let mut b = Vec::new();
        for (k, v) in base.iter().enumerate() {
            let mix = |w: f32, seed: u64| -> [f32; DESCRIPTOR_LEN] {
                let other = sparse_bytes(seed);
                std::array::from_fn(|i| (1.0 - w) * v[i] + w * other[i])
            };
            // The copy about 0.55–0.7 rad away, the rival 0.02–0.14 of mixing farther: about
            // 0.6–0.9 rad, around the default max_distance (0.7) and its / max_ratio (0.875),
            // where the ratio test and the distance cap decide.
            let w = 0.42 + 0.1 * (k % 7) as f32 / 7.0;
            b.push(quantise(&mix(w, 10_000 + k as u64)));
            b.push(quantise(&mix(
                w + 0.02 + 0.12 * (k % 40) as f32 / 40.0,
                20_000 + k as u64,
            )));
        }
        for opts in [
            MatchOptions::default(),
            MatchOptions {
                max_ratio: 0.9,
                max_distance: 0.9,
                cross_check: true,
            },
            MatchOptions {
                max_ratio: 1.2,
                max_distance: 0.65,
                cross_check: false,
            },
        ] {
            let expected = every_kernel_agrees_with_the_reference(&a, &b, &opts);
            assert!(
                expected.len() > n / 10,
                "{opts:?}: {} matches",
                expected.len()
            );
            if opts.max_ratio < 1.0 {
                assert!(
                    expected.len() < n,
                    "{opts:?}: {} matches, the ratio test must refuse some",
                    expected.len()
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

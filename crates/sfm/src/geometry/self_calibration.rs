//! A focal length from fundamental matrices, for photos without EXIF: the focal f (shared, with
//! the principal points known) for which every E = K₂ᵀ·F·K₁ comes closest to an essential
//! matrix (two equal singular values), found by a log-spaced scan and a golden-section search.
//! A better start than the 1.2·max(w, h) guess lets verification use E (5 degrees of freedom)
//! instead of F (7) on weak wide-baseline pairs, where F can bend to fit wrong matches.

use nalgebra::Matrix3;

/// One pair's F (pixels, x₂ᵀ·F·x₁ = 0), principal points and weight.
#[derive(Debug, Clone, Copy)]
pub struct PairObservation {
    pub f: Matrix3<f64>,
    pub pp1: (f64, f64),
    pub pp2: (f64, f64),
    pub weight: f64,
}

fn k(f: f64, pp: (f64, f64)) -> Matrix3<f64> {
    Matrix3::new(f, 0.0, pp.0, 0.0, f, pp.1, 0.0, 0.0, 1.0)
}

/// (σ₁ − σ₂)/(σ₁ + σ₂) of K₂ᵀ·F·K₁: 0 for an essential matrix.
pub fn essential_defect(obs: &PairObservation, focal: f64) -> f64 {
    let e = k(focal, obs.pp2).transpose() * obs.f * k(focal, obs.pp1);
    let Some(values) = crate::linalg::singular_values3(&e) else {
        return 1.0;
    };
    let mut s: Vec<f64> = values.iter().copied().collect();
    s.sort_by(|a, b| b.total_cmp(a));
    if s[0] + s[1] <= 0.0 {
        return 1.0;
    }
    (s[0] - s[1]) / (s[0] + s[1])
}

/// The weighted mean defect over the pairs.
pub fn cost(pairs: &[PairObservation], focal: f64) -> f64 {
    let w: f64 = pairs.iter().map(|p| p.weight).sum();
    pairs
        .iter()
        .map(|p| p.weight * essential_defect(p, focal))
        .sum::<f64>()
        / w.max(f64::MIN_POSITIVE)
}

/// The focal in `[lo, hi]` pixels that minimises [`cost`], or `None` when the minimum sits on
/// the edge of the range or is not clearly better than the range's typical cost (the pairs
/// do not constrain the focal).
pub fn estimate_focal(pairs: &[PairObservation], lo: f64, hi: f64) -> Option<f64> {
    const SAMPLES: usize = 120;
    if pairs.is_empty() || !(lo > 0.0 && hi > lo) {
        return None;
    }
    let at = |i: usize| lo * (hi / lo).powf(i as f64 / (SAMPLES - 1) as f64);
    let costs: Vec<f64> = (0..SAMPLES).map(|i| cost(pairs, at(i))).collect();
    let (best, &min) = costs.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1))?;
    if best == 0 || best == SAMPLES - 1 {
        return None;
    }
    let mut sorted = costs.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[SAMPLES / 2];
    if min > 0.5 * median {
        return None;
    }
    // Golden-section search between the neighbours of the best sample, in log focal.
    let (mut a, mut b) = (at(best - 1).ln(), at(best + 1).ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let f = |x: f64| cost(pairs, x.exp());
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..60 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    Some((0.5 * (a + b)).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::skew;
    use nalgebra::{Rotation3, Vector3};

    #[test]
    fn recovers_the_focal_of_exact_fundamental_matrices() {
        let focal = 2759.0;
        let pp = (1536.0, 1024.0);
        let kinv = k(focal, pp).try_inverse().unwrap();
        let pairs: Vec<PairObservation> =
            [(0.1, 0.3, 0.05), (-0.2, 0.15, 0.1), (0.05, -0.4, -0.02)]
                .iter()
                .zip([
                    Vector3::new(1.0, 0.1, 0.2),
                    Vector3::new(-0.8, 0.3, 0.1),
                    Vector3::new(0.5, -0.2, 0.4),
                ])
                .map(|(&(a, b, c), t)| {
                    let r = *Rotation3::from_euler_angles(a, b, c).matrix();
                    let f = kinv.transpose() * skew(&t.normalize()) * r * kinv;
                    PairObservation {
                        f,
                        pp1: pp,
                        pp2: pp,
                        weight: 1.0,
                    }
                })
                .collect();
        let est = estimate_focal(&pairs, 0.3 * 3072.0, 5.0 * 3072.0).unwrap();
        assert!((est - focal).abs() < 1e-3 * focal, "{est}");
        assert!(cost(&pairs, est) < 1e-6);
    }
}

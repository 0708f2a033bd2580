//! LO-RANSAC (Chum, Matas & Kittler 2003): minimal samples, and each time a sample's model
//! beats the best so far, a local optimisation that re-estimates from its inliers with the
//! non-minimal solver while that improves the support. The number of samples adapts to the
//! inlier ratio for the requested confidence. Seeded, so a run is repeatable.

use crate::watchdog::{Deadline, Expired};
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// A model family for RANSAC: minimal and non-minimal solvers and a squared residual.
pub trait Estimator {
    type Model: Clone;
    /// Correspondences a minimal sample needs.
    const SAMPLE_SIZE: usize;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Models through the correspondences `sample` (minimal solver: several may come out).
    fn minimal(&self, sample: &[usize]) -> Vec<Self::Model>;
    /// Least-squares style fit to many correspondences, starting from `current` where the
    /// solver is iterative.
    fn refine(&self, inliers: &[usize], current: &Self::Model) -> Option<Self::Model>;
    fn residual_sq(&self, model: &Self::Model, i: usize) -> f64;
}

#[derive(Debug, Clone, PartialEq)]
pub struct RansacOptions {
    /// Largest residual (in the estimator's units) an inlier may have.
    pub max_error: f64,
    pub confidence: f64,
    pub min_iterations: usize,
    pub max_iterations: usize,
    /// Multiplies the adaptive number of samples (COLMAP uses 3).
    pub iteration_factor: f64,
    /// The lowest inlier ratio the search must find a model for with `confidence`: samples
    /// stop at the count that ratio needs, below `max_iterations` (COLMAP's two-view geometry
    /// assumes 0.25, which ends a homography's search on a non-planar pair at about 5,300
    /// samples instead of 10,000). 0: no such bound.
    pub min_inlier_ratio: f64,
    pub seed: u64,
    /// Abandon the search when this passes (checked before every sample).
    pub deadline: Deadline,
}

impl Default for RansacOptions {
    fn default() -> Self {
        Self {
            max_error: 4.0,
            confidence: 0.999,
            min_iterations: 50,
            max_iterations: 10_000,
            iteration_factor: 3.0,
            min_inlier_ratio: 0.0,
            seed: 0,
            deadline: Deadline::none(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RansacResult<M> {
    pub model: M,
    pub inliers: Vec<usize>,
    pub iterations: usize,
}

/// Support of a model: inlier count, then the sum of truncated residuals (lower is better).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Support {
    count: usize,
    cost: f64,
}

impl Support {
    fn better_than(&self, other: &Support) -> bool {
        self.count > other.count || (self.count == other.count && self.cost < other.cost)
    }
}

/// The support of `model`, its inliers in `inliers`. With `to_beat`, scoring stops (`None`)
/// once the model cannot reach that many inliers any more: it could not be the best.
fn evaluate<E: Estimator>(
    est: &E,
    model: &E::Model,
    max_sq: f64,
    inliers: &mut Vec<usize>,
    to_beat: Option<usize>,
) -> Option<Support> {
    inliers.clear();
    let n = est.len();
    // Outliers allowed before the model can no longer reach `to_beat` inliers.
    let allowed = to_beat.map_or(usize::MAX, |b| n.saturating_sub(b));
    let mut outliers = 0;
    let mut cost = 0.0;
    for i in 0..n {
        let r = est.residual_sq(model, i);
        if r <= max_sq {
            inliers.push(i);
            cost += r;
        } else {
            cost += max_sq;
            outliers += 1;
            if outliers > allowed {
                return None;
            }
        }
    }
    Some(Support {
        count: inliers.len(),
        cost,
    })
}

/// Runs LO-RANSAC; `Ok(None)` when there are too few correspondences or no model was found,
/// `Err` when the deadline passed first.
pub fn lo_ransac<E: Estimator>(
    est: &E,
    opts: &RansacOptions,
) -> Result<Option<RansacResult<E::Model>>, Expired> {
    let n = est.len();
    if n < E::SAMPLE_SIZE {
        return Ok(None);
    }
    let max_sq = opts.max_error * opts.max_error;
    let mut rng = Pcg64::seed_from_u64(opts.seed);
    let mut best: Option<(E::Model, Support, Vec<usize>)> = None;
    let mut scratch = Vec::with_capacity(n);
    let cap = if opts.min_inlier_ratio > 0.0 {
        opts.max_iterations.min(adaptive_iterations(
            opts.min_inlier_ratio,
            E::SAMPLE_SIZE,
            opts,
        ))
    } else {
        opts.max_iterations
    };
    let mut needed = cap;
    let mut iterations = 0;
    while iterations < needed.max(opts.min_iterations).min(cap) {
        opts.deadline.check()?;
        iterations += 1;
        let sample = rand::seq::index::sample(&mut rng, n, E::SAMPLE_SIZE).into_vec();
        for model in est.minimal(&sample) {
            let to_beat = best.as_ref().map(|b| b.1.count);
            let Some(support) = evaluate(est, &model, max_sq, &mut scratch, to_beat) else {
                continue;
            };
            if best.as_ref().is_some_and(|b| !support.better_than(&b.1)) {
                continue;
            }
            let mut current = (model, support, scratch.clone());
            local_optimize(est, max_sq, &mut current, &mut scratch);
            best = Some(current);
            let ratio = best.as_ref().map_or(0.0, |b| b.1.count as f64 / n as f64);
            needed = adaptive_iterations(ratio, E::SAMPLE_SIZE, opts);
        }
    }
    Ok(best.map(|(model, _, inliers)| RansacResult {
        model,
        inliers,
        iterations,
    }))
}

/// Re-fits to the inliers while that raises the support (at most ten rounds).
fn local_optimize<E: Estimator>(
    est: &E,
    max_sq: f64,
    current: &mut (E::Model, Support, Vec<usize>),
    scratch: &mut Vec<usize>,
) {
    for _ in 0..10 {
        let Some(model) = est.refine(&current.2, &current.0) else {
            return;
        };
        let Some(support) = evaluate(est, &model, max_sq, scratch, Some(current.1.count)) else {
            return;
        };
        if !support.better_than(&current.1) {
            return;
        }
        *current = (model, support, scratch.clone());
    }
}

/// Samples needed to draw one all-inlier sample with the requested confidence.
fn adaptive_iterations(inlier_ratio: f64, sample_size: usize, opts: &RansacOptions) -> usize {
    let good = inlier_ratio.powi(sample_size as i32);
    if good >= 1.0 - f64::EPSILON {
        return opts.min_iterations;
    }
    if good <= 0.0 {
        return opts.max_iterations;
    }
    let k = (1.0 - opts.confidence).ln() / (1.0 - good).ln();
    (k * opts.iteration_factor)
        .ceil()
        .min(opts.max_iterations as f64) as usize
}

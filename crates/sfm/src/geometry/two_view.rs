//! Geometric verification of an image pair the way COLMAP does it: E (with the focal prior),
//! F and H each by LO-RANSAC, then the configuration (calibrated, uncalibrated,
//! planar-or-panoramic or degenerate) from their inlier counts, and the inlier matches of the
//! chosen model.

use super::ransac::{Estimator, RansacOptions, lo_ransac};
use super::{essential, fundamental, homography, pose, sampson_sq};
use crate::watchdog::{Expired, TimeLimit};
use nalgebra::{Matrix3, UnitQuaternion, Vector2, Vector3};

/// COLMAP's `TwoViewGeometry::ConfigurationType` values, as stored in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Config {
    Undefined = 0,
    Degenerate = 1,
    Calibrated = 2,
    Uncalibrated = 3,
    Planar = 4,
    Panoramic = 5,
    PlanarOrPanoramic = 6,
    Watermark = 7,
    Multiple = 8,
}

impl Config {
    pub fn is_verified(self) -> bool {
        !matches!(self, Config::Undefined | Config::Degenerate)
    }
}

/// A pinhole approximation of a camera for verification: focal and principal point in pixels,
/// and whether the focal is known (EXIF, or estimated from other pairs) rather than guessed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intrinsics {
    pub focal: f64,
    pub cx: f64,
    pub cy: f64,
    pub known_focal: bool,
}

impl Intrinsics {
    pub fn normalize(&self, p: &Vector2<f64>) -> Vector2<f64> {
        Vector2::new((p.x - self.cx) / self.focal, (p.y - self.cy) / self.focal)
    }

    pub fn matrix(&self) -> Matrix3<f64> {
        Matrix3::new(
            self.focal, 0.0, self.cx, 0.0, self.focal, self.cy, 0.0, 0.0, 1.0,
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TwoViewOptions {
    pub min_inliers: usize,
    /// Inlier threshold in pixels.
    pub max_error: f64,
    pub confidence: f64,
    pub max_iterations: usize,
    /// Samples stop where this inlier ratio would be found with `confidence`, below
    /// `max_iterations` (COLMAP's `min_inlier_ratio`, 0.25: a homography's search ends at
    /// about 5,300 samples; E's and F's stay at the 10,000 cap).
    pub min_inlier_ratio: f64,
    /// E is preferred when it explains at least this fraction of F's inliers.
    pub min_e_f_inlier_ratio: f64,
    /// Above this ratio of H's inliers to E's or F's, the pair is planar or a pure rotation.
    pub max_h_inlier_ratio: f64,
    /// A pair whose verification runs past this (per match) is abandoned.
    pub time_limit: TimeLimit,
}

impl Default for TwoViewOptions {
    fn default() -> Self {
        Self {
            min_inliers: 15,
            max_error: 4.0,
            confidence: 0.999,
            max_iterations: 10_000,
            min_inlier_ratio: 0.25,
            min_e_f_inlier_ratio: 0.95,
            max_h_inlier_ratio: 0.8,
            time_limit: TimeLimit::VERIFICATION,
        }
    }
}

/// The verified geometry of a pair. Matrices map image 1 to image 2 (x₂ᵀ·F·x₁ = 0,
/// x₂ ~ H·x₁), in the pixel coordinates of the keypoints.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoViewGeometry {
    pub config: Config,
    /// Indices into the pair's matches.
    pub inliers: Vec<usize>,
    pub f: Matrix3<f64>,
    pub e: Matrix3<f64>,
    pub h: Matrix3<f64>,
    /// Camera 2 relative to camera 1 (x₂ = R·x₁ + t, |t| = 1), for calibrated pairs.
    pub rotation: Option<UnitQuaternion<f64>>,
    pub translation: Option<Vector3<f64>>,
    pub e_inliers: usize,
    pub f_inliers: usize,
    pub h_inliers: usize,
}

impl TwoViewGeometry {
    /// A pair that was not verified (abandoned at its time limit): no geometry, no inliers.
    pub fn unverified() -> Self {
        Self {
            config: Config::Undefined,
            ..Self::degenerate()
        }
    }

    fn degenerate() -> Self {
        Self {
            config: Config::Degenerate,
            inliers: Vec::new(),
            f: Matrix3::zeros(),
            e: Matrix3::zeros(),
            h: Matrix3::zeros(),
            rotation: None,
            translation: None,
            e_inliers: 0,
            f_inliers: 0,
            h_inliers: 0,
        }
    }
}

struct PointPairs<'a> {
    p1: &'a [Vector2<f64>],
    p2: &'a [Vector2<f64>],
}

impl PointPairs<'_> {
    fn pick(&self, idx: &[usize]) -> (Vec<Vector2<f64>>, Vec<Vector2<f64>>) {
        (
            idx.iter().map(|&i| self.p1[i]).collect(),
            idx.iter().map(|&i| self.p2[i]).collect(),
        )
    }
}

struct EssentialEstimator<'a>(PointPairs<'a>);
struct FundamentalEstimator<'a>(PointPairs<'a>);
struct HomographyEstimator<'a>(PointPairs<'a>);

impl Estimator for EssentialEstimator<'_> {
    type Model = Matrix3<f64>;
    const SAMPLE_SIZE: usize = 5;
    fn len(&self) -> usize {
        self.0.p1.len()
    }
    fn minimal(&self, sample: &[usize]) -> Vec<Matrix3<f64>> {
        let (a, b) = self.0.pick(sample);
        essential::five_point(&a, &b)
    }
    fn refine(&self, inliers: &[usize], _: &Matrix3<f64>) -> Option<Matrix3<f64>> {
        let (a, b) = self.0.pick(inliers);
        essential::linear(&a, &b)
    }
    fn residual_sq(&self, m: &Matrix3<f64>, i: usize) -> f64 {
        sampson_sq(m, &self.0.p1[i], &self.0.p2[i])
    }
}

impl Estimator for FundamentalEstimator<'_> {
    type Model = Matrix3<f64>;
    const SAMPLE_SIZE: usize = 7;
    fn len(&self) -> usize {
        self.0.p1.len()
    }
    fn minimal(&self, sample: &[usize]) -> Vec<Matrix3<f64>> {
        let (a, b) = self.0.pick(sample);
        fundamental::seven_point(&a, &b)
    }
    fn refine(&self, inliers: &[usize], _: &Matrix3<f64>) -> Option<Matrix3<f64>> {
        let (a, b) = self.0.pick(inliers);
        fundamental::eight_point(&a, &b)
    }
    fn residual_sq(&self, m: &Matrix3<f64>, i: usize) -> f64 {
        sampson_sq(m, &self.0.p1[i], &self.0.p2[i])
    }
}

impl Estimator for HomographyEstimator<'_> {
    type Model = Matrix3<f64>;
    const SAMPLE_SIZE: usize = 4;
    fn len(&self) -> usize {
        self.0.p1.len()
    }
    fn minimal(&self, sample: &[usize]) -> Vec<Matrix3<f64>> {
        let (a, b) = self.0.pick(sample);
        homography::dlt(&a, &b).into_iter().collect()
    }
    fn refine(&self, inliers: &[usize], _: &Matrix3<f64>) -> Option<Matrix3<f64>> {
        let (a, b) = self.0.pick(inliers);
        homography::dlt(&a, &b)
    }
    fn residual_sq(&self, m: &Matrix3<f64>, i: usize) -> f64 {
        homography::transfer_sq(m, &self.0.p1[i], &self.0.p2[i])
    }
}

/// Torr's geometric robust information criterion for a relation of dimension 3 in the
/// 4-dimensional space of correspondences (E and F), with `params` degrees of freedom, from
/// squared residuals in pixels² and the noise variance (lower is better).
pub fn gric(residuals_sq: &[f64], sigma_sq: f64, params: usize) -> f64 {
    let (r, d) = (4.0f64, 3.0f64);
    let n = residuals_sq.len() as f64;
    let cap = 2.0 * (r - d);
    let fit: f64 = residuals_sq.iter().map(|e| (e / sigma_sq).min(cap)).sum();
    fit + r.ln() * d * n + (r * n).ln() * params as f64
}

/// Verifies a pair from its matched keypoint positions (pixels) and the two cameras' priors.
/// `seed` makes the sampling repeatable (use something unique to the pair). `Err` when the
/// pair ran past its time limit (`opts.time_limit`) and was abandoned.
pub fn verify(
    cam1: &Intrinsics,
    cam2: &Intrinsics,
    p1: &[Vector2<f64>],
    p2: &[Vector2<f64>],
    opts: &TwoViewOptions,
    seed: u64,
) -> Result<TwoViewGeometry, Expired> {
    if p1.len() < opts.min_inliers.max(8) || p2.len() != p1.len() {
        return Ok(TwoViewGeometry::degenerate());
    }
    let deadline = opts.time_limit.start(p1.len());
    let ransac = |max_error: f64, salt: u64| RansacOptions {
        max_error,
        confidence: opts.confidence,
        max_iterations: opts.max_iterations,
        min_inlier_ratio: opts.min_inlier_ratio,
        seed: seed ^ salt,
        deadline,
        ..RansacOptions::default()
    };
    let n1: Vec<_> = p1.iter().map(|p| cam1.normalize(p)).collect();
    let n2: Vec<_> = p2.iter().map(|p| cam2.normalize(p)).collect();
    let e_error = opts.max_error * 0.5 * (1.0 / cam1.focal + 1.0 / cam2.focal);
    let pixels = || PointPairs { p1, p2 };
    let e = lo_ransac(
        &EssentialEstimator(PointPairs { p1: &n1, p2: &n2 }),
        &ransac(e_error, 1),
    )?;
    let f = lo_ransac(&FundamentalEstimator(pixels()), &ransac(opts.max_error, 2))?;
    let h = lo_ransac(&HomographyEstimator(pixels()), &ransac(opts.max_error, 3))?;
    let count = |r: &Option<super::ransac::RansacResult<Matrix3<f64>>>| {
        r.as_ref().map_or(0, |r| r.inliers.len())
    };
    let (ne, nf, nh) = (count(&e), count(&f), count(&h));
    let mut out = TwoViewGeometry::degenerate();
    out.e_inliers = ne;
    out.f_inliers = nf;
    out.h_inliers = nh;
    let min = opts.min_inliers;
    if ne < min && nf < min && nh < min {
        return Ok(out);
    }
    // With known focals, E and F compete on Torr's GRIC, which charges F for its two extra
    // degrees of freedom: on weak pairs F bends to take in a few wrong matches and beats E on
    // the inlier count alone. An E that wins but has too few inliers leaves the pair unverified.
    let prefer_e = cam1.known_focal && cam2.known_focal && {
        let focal_sq = cam1.focal * cam2.focal;
        let sigma_sq = 0.5 * opts.max_error * opts.max_error;
        let n = p1.len();
        let e_res = e.as_ref().map(|r| {
            (0..n)
                .map(|i| focal_sq * sampson_sq(&r.model, &n1[i], &n2[i]))
                .collect::<Vec<_>>()
        });
        let f_res = f.as_ref().map(|r| {
            (0..n)
                .map(|i| sampson_sq(&r.model, &p1[i], &p2[i]))
                .collect::<Vec<_>>()
        });
        match (e_res, f_res) {
            (Some(er), Some(fr)) => gric(&er, sigma_sq, 5) <= gric(&fr, sigma_sq, 7),
            (Some(_), None) => true,
            _ => false,
        }
    };
    if prefer_e && ne < min {
        return Ok(out);
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let k1 = cam1.matrix();
    let k2 = cam2.matrix();
    if let Some(f) = &f {
        out.f = f.model;
    }
    if let Some(h) = &h {
        out.h = h.model;
    }
    if let (Some(er), true) = (
        &e,
        ne >= min && (prefer_e || ratio(ne, nf) >= opts.min_e_f_inlier_ratio),
    ) {
        // COLMAP keeps whichever of E and F has more inliers (unless GRIC preferred E).
        let keep_f_inliers = nf > ne && !prefer_e;
        out.inliers = match (&f, keep_f_inliers) {
            (Some(fr), true) => fr.inliers.clone(),
            _ => er.inliers.clone(),
        };
        out.config = if ratio(nh, ne) > opts.max_h_inlier_ratio {
            Config::PlanarOrPanoramic
        } else {
            Config::Calibrated
        };
        out.e = er.model;
        let (a, b): (Vec<_>, Vec<_>) = er.inliers.iter().map(|&i| (n1[i], n2[i])).unzip();
        if let Some(rel) = pose::relative_pose(&er.model, &a, &b) {
            let rel = pose::refine(&rel, &a, &b, e_error / opts.max_error);
            out.e = pose::essential_of(&rel.rotation, &rel.translation);
            out.rotation = crate::linalg::nearest_rotation(&rel.rotation).map(UnitQuaternion::from);
            out.translation = Some(rel.translation);
        }
        // F in pixels from E (F = K₂⁻ᵀ·E·K₁⁻¹), unless F's own inliers are the ones kept.
        if !keep_f_inliers && let (Some(k1i), Some(k2i)) = (k1.try_inverse(), k2.try_inverse()) {
            out.f = k2i.transpose() * out.e * k1i;
        }
    } else if let (Some(fr), true) = (&f, nf >= min) {
        out.e = k2.transpose() * fr.model * k1;
        out.inliers = fr.inliers.clone();
        out.config = if ratio(nh, nf) > opts.max_h_inlier_ratio {
            Config::PlanarOrPanoramic
        } else {
            Config::Uncalibrated
        };
    } else if let (Some(hr), true) = (&h, nh >= min) {
        out.inliers = hr.inliers.clone();
        out.config = Config::PlanarOrPanoramic;
    }
    deadline.check()?;
    Ok(out)
}

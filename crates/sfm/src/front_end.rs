//! The front end of SfM for a folder of photos: features for every image, descriptor matches
//! for every pair to match, their geometric verification, all written to a COLMAP database,
//! and a report of what was found and what it cost.

use crate::database::DatabaseWriter;
use crate::error::{Result, SfmError};
use crate::features::{self, Features, SiftOptions};
use crate::geometry::self_calibration::{self, PairObservation};
use crate::geometry::two_view::{self, Config, Intrinsics, TwoViewGeometry, TwoViewOptions};
use crate::input::{self, FocalSource, InputImage};
use crate::linalg;
use crate::matching::{self, DescriptorMatrix, MatchOptions};
use crate::timing::{StepTime, timed};
use nalgebra::Vector2;
use rayon::prelude::*;
use std::path::Path;

pub use crate::observer::{Observer, Silent};
pub use crate::pairs::Matcher;
use crate::pairs::{self, SelectionReport};

/// Which images share a camera (intrinsics) in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraMode {
    /// Images of the same size and the same EXIF camera and focal length (or all without
    /// EXIF) share one camera.
    Auto,
    /// One camera for all images (they must have the same size).
    Single,
    PerImage,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FrontEndOptions {
    /// Longest side of the images features are extracted from; keypoints are reported in
    /// the original pixels.
    pub max_image_size: u32,
    pub sift: SiftOptions,
    pub matcher: Matcher,
    pub matching: MatchOptions,
    pub two_view: TwoViewOptions,
    pub camera_mode: CameraMode,
}

impl Default for FrontEndOptions {
    fn default() -> Self {
        Self {
            max_image_size: 1600,
            sift: SiftOptions::default(),
            matcher: Matcher::default(),
            matching: MatchOptions::default(),
            two_view: TwoViewOptions::default(),
            camera_mode: CameraMode::Auto,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ImageReport {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub camera_id: u32,
    pub focal_prior: f64,
    pub focal_source: FocalSource,
    pub features: usize,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SkippedFile {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PairReport {
    pub image1: String,
    pub image2: String,
    pub matches: usize,
    pub inliers: usize,
    pub config: Config,
    pub e_inliers: usize,
    pub f_inliers: usize,
    pub h_inliers: usize,
    /// Wall time of the pair's verification (both runs where the focal was re-estimated), ms.
    #[serde(default)]
    pub verify_ms: f64,
    /// Samples refused as degenerate and decompositions that failed while verifying it.
    #[serde(default, skip_serializing_if = "linalg::Counts::is_zero")]
    pub solver: linalg::Counts,
    /// Set when the verification ran past its time limit and the pair was given up.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub abandoned: bool,
}

/// What verifying a pair cost and what went wrong on the way.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct VerifyStats {
    pub wall_ms: f64,
    pub solver: linalg::Counts,
    pub abandoned: bool,
}

impl VerifyStats {
    fn add(&mut self, other: &VerifyStats) {
        self.wall_ms += other.wall_ms;
        self.solver.add(&other.solver);
        self.abandoned |= other.abandoned;
    }
}

/// Solver failures summed over every verified pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VerificationSummary {
    pub solver: linalg::Counts,
    /// Pairs abandoned at their time limit.
    pub abandoned_pairs: usize,
    /// The slowest pair's verification, ms.
    pub max_verify_ms: f64,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    pub extract: StepTime,
    /// Choosing the pairs (vocabulary and retrieval when they ran).
    #[serde(default)]
    pub pair_selection: StepTime,
    pub matching: StepTime,
    pub verification: StepTime,
    pub database: StepTime,
}

/// `match-report.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MatchReport {
    pub images: Vec<ImageReport>,
    pub skipped: Vec<SkippedFile>,
    /// Which pairs were matched and why.
    #[serde(default)]
    pub selection: SelectionReport,
    pub pairs: Vec<PairReport>,
    pub verified_pairs: usize,
    #[serde(default)]
    pub verification: VerificationSummary,
    pub max_image_size: u32,
    pub time: Timings,
}

/// One photo's features, in original pixels, with what the database needs about it.
pub struct ImageFeatures {
    pub image: InputImage,
    pub features: Features,
}

/// Reads every image under `dir` and extracts its features; files that are not usable images
/// are returned with the reason.
pub fn extract_folder(
    dir: &Path,
    opts: &FrontEndOptions,
    obs: &dyn Observer,
) -> Result<(Vec<ImageFeatures>, Vec<SkippedFile>)> {
    let files = input::list_files(dir)?;
    obs.begin("features", files.len());
    let results: Vec<std::result::Result<ImageFeatures, SkippedFile>> = files
        .par_iter()
        .map(|path| {
            let out = input::load(dir, path, opts.max_image_size)
                .map(|mut image| {
                    let mut features = features::extract(&image.gray, &opts.sift);
                    features.rescale(image.scale);
                    // The pixels are not needed past this point.
                    image.gray = crate::gray::GrayImage::new(0, 0);
                    ImageFeatures { image, features }
                })
                .map_err(|reason| SkippedFile {
                    name: input::image_name(dir, path),
                    reason: reason.to_string(),
                });
            obs.tick();
            out
        })
        .collect();
    obs.end();
    let mut ok = Vec::new();
    let mut skipped = Vec::new();
    for r in results {
        match r {
            Ok(f) => ok.push(f),
            Err(s) => {
                obs.warn(&format!(
                    "skipping {}: {}",
                    dir.join(&s.name).display(),
                    s.reason
                ));
                skipped.push(s);
            }
        }
    }
    if ok.len() < 2 {
        let skipped_text = if skipped.is_empty() {
            String::new()
        } else {
            format!(
                " ({} file(s) skipped: {})",
                skipped.len(),
                skipped
                    .iter()
                    .map(|s| format!("{}: {}", s.name, s.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        return Err(SfmError::TooFewImages {
            dir: dir.to_path_buf(),
            usable: ok.len(),
            skipped: skipped_text,
        });
    }
    Ok((ok, skipped))
}

/// Camera index (0-based) of each image under `mode`.
pub fn assign_cameras(images: &[InputImage], mode: CameraMode) -> Vec<usize> {
    match mode {
        CameraMode::PerImage => (0..images.len()).collect(),
        CameraMode::Single => vec![0; images.len()],
        CameraMode::Auto => {
            let mut keys: Vec<(u32, u32, Option<String>, u64)> = Vec::new();
            images
                .iter()
                .map(|im| {
                    let focal = if im.focal_source == FocalSource::Exif {
                        im.focal.to_bits()
                    } else {
                        0
                    };
                    let key = (im.width, im.height, im.camera_name.clone(), focal);
                    keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                        keys.push(key);
                        keys.len() - 1
                    })
                })
                .collect()
        }
    }
}

/// One matched pair: image indices, descriptor matches, verified geometry.
pub type PairResult = ((usize, usize), Vec<[u32; 2]>, TwoViewGeometry, VerifyStats);

/// The pairs of `images` to match under `matcher`, and why.
pub fn select_pairs(
    images: &[ImageFeatures],
    matcher: &Matcher,
    obs: &dyn Observer,
) -> (Vec<(usize, usize)>, SelectionReport) {
    let candidates: Vec<pairs::Candidate> = images
        .iter()
        .map(|f| pairs::Candidate {
            descriptors: &f.features.descriptors,
            gps: f.image.gps,
        })
        .collect();
    pairs::select(&candidates, matcher, obs)
}

/// Matches and verifies the pairs of `images` chosen by the matcher; returns (pair, matches,
/// geometry) in pair order and the account of the choice. Cameras (`camera_of`) whose images
/// have no EXIF focal get a focal estimated from their well-verified pairs, and those pairs
/// are verified again with it.
pub fn match_and_verify(
    images: &mut [ImageFeatures],
    camera_of: &[usize],
    opts: &FrontEndOptions,
    obs: &dyn Observer,
    time: &mut Timings,
) -> (Vec<PairResult>, SelectionReport) {
    let ((pairs, selection), t) = timed(|| select_pairs(images, &opts.matcher, obs));
    time.pair_selection = t;
    obs.begin("matching", pairs.len());
    let (all_matches, t) = timed(|| {
        pairs
            .par_iter()
            .map(|&(i, j)| {
                // Each pair's descriptors are laid out for the kernel here rather than all
                // images' up front: a small part of a pair's work, and host memory stays at
                // the bytes (all images' f32 copies would be 8 GB for 1,000 photos of 16k
                // features).
                let (a, b) = (
                    DescriptorMatrix::new(&images[i].features.descriptors),
                    DescriptorMatrix::new(&images[j].features.descriptors),
                );
                let m = matching::match_descriptors(&a, &b, &opts.matching);
                obs.tick();
                m
            })
            .collect::<Vec<_>>()
    });
    obs.end();
    time.matching = t;
    let all = vec![true; pairs.len()];
    obs.begin("verification", pairs.len());
    let (first, t) = timed(|| verify_pairs(images, &pairs, &all_matches, &all, opts, obs, None));
    let (mut geometries, mut stats): (Vec<TwoViewGeometry>, Vec<VerifyStats>) =
        first.into_iter().unzip();
    obs.end();
    time.verification = t;
    let ((), t) = timed(|| {
        let changed = self_calibrate(images, camera_of, &pairs, &all_matches, &geometries);
        let redo: Vec<bool> = pairs
            .iter()
            .map(|&(i, j)| changed[i] || changed[j])
            .collect();
        if redo.iter().any(|&r| r) {
            obs.begin(
                "verification (estimated focal)",
                redo.iter().filter(|&&r| r).count(),
            );
            let again = verify_pairs(
                images,
                &pairs,
                &all_matches,
                &redo,
                opts,
                obs,
                Some(&geometries),
            );
            obs.end();
            geometries = Vec::with_capacity(again.len());
            for (k, (g, s)) in again.into_iter().enumerate() {
                if redo[k] {
                    stats[k].add(&s);
                }
                geometries.push(g);
            }
        }
    });
    time.verification.wall_s += t.wall_s;
    time.verification.cpu_s += t.cpu_s;
    let results = pairs
        .into_iter()
        .zip(all_matches)
        .zip(geometries)
        .zip(stats)
        .map(|(((p, m), g), s)| (p, m, g, s))
        .collect();
    (results, selection)
}

/// Verifies the pairs flagged in `which` (the others are copied from `previous`, with empty
/// stats). A pair abandoned at its time limit is left unverified, with a warning naming it.
fn verify_pairs(
    images: &[ImageFeatures],
    pairs: &[(usize, usize)],
    matches: &[Vec<[u32; 2]>],
    which: &[bool],
    opts: &FrontEndOptions,
    obs: &dyn Observer,
    previous: Option<&[TwoViewGeometry]>,
) -> Vec<(TwoViewGeometry, VerifyStats)> {
    pairs
        .par_iter()
        .zip(matches)
        .enumerate()
        .map(|(k, (&(i, j), m))| match previous {
            Some(prev) if !which[k] => (prev[k].clone(), VerifyStats::default()),
            _ => {
                let seed = (i as u64) << 32 | j as u64;
                let before = linalg::counts();
                let start = std::time::Instant::now();
                let result = verify_pair(&images[i], &images[j], m, &opts.two_view, seed);
                let mut stats = VerifyStats {
                    wall_ms: start.elapsed().as_secs_f64() * 1e3,
                    solver: linalg::counts().since(&before),
                    abandoned: false,
                };
                let g = result.unwrap_or_else(|expired| {
                    obs.warn(&format!(
                        "pair {} – {} ({} matches): verification {expired}; left unverified",
                        images[i].image.name,
                        images[j].image.name,
                        m.len()
                    ));
                    stats.abandoned = true;
                    TwoViewGeometry::unverified()
                });
                obs.tick();
                (g, stats)
            }
        })
        .collect()
}

/// Pairs need this many inliers to inform the focal estimate.
const CALIBRATION_MIN_INLIERS: usize = 50;
/// Of these, at least this many pairs.
const CALIBRATION_MIN_PAIRS: usize = 2;

/// Estimates the focal of every camera without an EXIF focal from its images' non-planar
/// verified pairs (F re-fitted to the inliers, so the guess does not bias it); returns which
/// images changed.
fn self_calibrate(
    images: &mut [ImageFeatures],
    camera_of: &[usize],
    pairs: &[(usize, usize)],
    matches: &[Vec<[u32; 2]>],
    geometries: &[TwoViewGeometry],
) -> Vec<bool> {
    let mut changed = vec![false; images.len()];
    let cameras = camera_of.iter().copied().max().map_or(0, |m| m + 1);
    for cam in 0..cameras {
        let members: Vec<usize> = (0..images.len()).filter(|&i| camera_of[i] == cam).collect();
        if members
            .iter()
            .any(|&i| images[i].image.focal_source == FocalSource::Exif)
        {
            continue;
        }
        let observations: Vec<PairObservation> = pairs
            .iter()
            .zip(matches)
            .zip(geometries)
            .filter(|(((i, j), _), g)| {
                camera_of[*i] == cam
                    && camera_of[*j] == cam
                    && matches!(g.config, Config::Calibrated | Config::Uncalibrated)
                    && g.inliers.len() >= CALIBRATION_MIN_INLIERS
            })
            .filter_map(|(((i, j), m), g)| {
                let pt = |f: &Features, k: u32| {
                    let kp = &f.keypoints[k as usize];
                    Vector2::new(f64::from(kp.x), f64::from(kp.y))
                };
                let (a, b): (Vec<_>, Vec<_>) = g
                    .inliers
                    .iter()
                    .map(|&k| {
                        (
                            pt(&images[*i].features, m[k][0]),
                            pt(&images[*j].features, m[k][1]),
                        )
                    })
                    .unzip();
                let f = crate::geometry::fundamental::eight_point(&a, &b)?;
                let pp = |im: &InputImage| (f64::from(im.width) / 2.0, f64::from(im.height) / 2.0);
                Some(PairObservation {
                    f,
                    pp1: pp(&images[*i].image),
                    pp2: pp(&images[*j].image),
                    weight: (g.inliers.len() as f64).sqrt(),
                })
            })
            .collect();
        if observations.len() < CALIBRATION_MIN_PAIRS {
            continue;
        }
        let longest = f64::from(
            images[members[0]]
                .image
                .width
                .max(images[members[0]].image.height),
        );
        if let Some(focal) =
            self_calibration::estimate_focal(&observations, 0.3 * longest, 5.0 * longest)
        {
            for &i in &members {
                images[i].image.focal = focal;
                images[i].image.focal_source = FocalSource::SelfCalibrated;
                changed[i] = true;
            }
        }
    }
    changed
}

fn intrinsics(im: &InputImage) -> Intrinsics {
    Intrinsics {
        focal: im.focal,
        cx: f64::from(im.width) / 2.0,
        cy: f64::from(im.height) / 2.0,
        known_focal: im.focal_source != FocalSource::Default,
    }
}

/// Geometric verification of one pair's matches.
pub fn verify_pair(
    a: &ImageFeatures,
    b: &ImageFeatures,
    matches: &[[u32; 2]],
    opts: &TwoViewOptions,
    seed: u64,
) -> std::result::Result<TwoViewGeometry, crate::watchdog::Expired> {
    let pt = |f: &Features, i: u32| {
        let k = &f.keypoints[i as usize];
        Vector2::new(f64::from(k.x), f64::from(k.y))
    };
    let p1: Vec<_> = matches.iter().map(|m| pt(&a.features, m[0])).collect();
    let p2: Vec<_> = matches.iter().map(|m| pt(&b.features, m[1])).collect();
    two_view::verify(
        &intrinsics(&a.image),
        &intrinsics(&b.image),
        &p1,
        &p2,
        opts,
        seed,
    )
}

/// The whole front end: `dir` → `database` (written atomically) and the report.
pub fn run(
    dir: &Path,
    database: &Path,
    opts: &FrontEndOptions,
    obs: &dyn Observer,
) -> Result<MatchReport> {
    let mut time = Timings::default();
    let (extracted, t) = timed(|| extract_folder(dir, opts, obs));
    let (mut images, skipped) = extracted?;
    time.extract = t;
    let metas: Vec<InputImage> = images.iter().map(|f| f.image.clone()).collect();
    let camera_of = assign_cameras(&metas, opts.camera_mode);
    let (results, selection) = match_and_verify(&mut images, &camera_of, opts, obs, &mut time);
    let (written, t) = timed(|| write_database(database, &images, &camera_of, &results));
    written?;
    time.database = t;
    let reports = images
        .iter()
        .zip(&camera_of)
        .map(|(f, &c)| ImageReport {
            name: f.image.name.clone(),
            width: f.image.width,
            height: f.image.height,
            camera_id: c as u32 + 1,
            focal_prior: f.image.focal,
            focal_source: f.image.focal_source,
            features: f.features.len(),
        })
        .collect();
    let pairs: Vec<PairReport> = results
        .iter()
        .map(|((i, j), m, g, s)| PairReport {
            image1: images[*i].image.name.clone(),
            image2: images[*j].image.name.clone(),
            matches: m.len(),
            inliers: g.inliers.len(),
            config: g.config,
            e_inliers: g.e_inliers,
            f_inliers: g.f_inliers,
            h_inliers: g.h_inliers,
            verify_ms: s.wall_ms,
            solver: s.solver,
            abandoned: s.abandoned,
        })
        .collect();
    let verified_pairs = results
        .iter()
        .filter(|(_, _, g, _)| g.config.is_verified())
        .count();
    let mut verification = VerificationSummary::default();
    for (_, _, _, s) in &results {
        verification.solver.add(&s.solver);
        verification.abandoned_pairs += usize::from(s.abandoned);
        verification.max_verify_ms = verification.max_verify_ms.max(s.wall_ms);
    }
    Ok(MatchReport {
        images: reports,
        skipped,
        selection,
        pairs,
        verified_pairs,
        verification,
        max_image_size: opts.max_image_size,
        time,
    })
}

/// Writes cameras (SIMPLE_RADIAL with the focal prior, k = 0), images, features, matches and
/// geometries.
fn write_database(
    path: &Path,
    images: &[ImageFeatures],
    camera_of: &[usize],
    results: &[PairResult],
) -> Result<()> {
    let db = DatabaseWriter::create(path)?;
    let mut camera_ids: Vec<Option<u32>> = vec![None; images.len()];
    let mut image_ids = Vec::with_capacity(images.len());
    for (f, &c) in images.iter().zip(camera_of) {
        let im = &f.image;
        let camera = match camera_ids[c] {
            Some(id) => id,
            None => {
                let params = [
                    im.focal,
                    f64::from(im.width) / 2.0,
                    f64::from(im.height) / 2.0,
                    0.0,
                ];
                let id = db.add_camera(
                    splat_scene::CameraModel::SimpleRadial,
                    im.width,
                    im.height,
                    &params,
                    im.focal_source == FocalSource::Exif,
                )?;
                camera_ids[c] = Some(id);
                id
            }
        };
        let id = db.add_image(&im.name, camera)?;
        db.add_features(id, &f.features.keypoints, &f.features.descriptors)?;
        image_ids.push(id);
    }
    for ((i, j), m, g, _) in results {
        let (a, b) = (image_ids[*i], image_ids[*j]);
        db.add_matches(a, b, m)?;
        db.add_two_view_geometry(a, b, g, m)?;
    }
    db.finish()
}

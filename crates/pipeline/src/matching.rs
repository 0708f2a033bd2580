//! `splat match`: features, matches and verified two-view geometry for a folder of photos,
//! written as a COLMAP database (`W/database.db`) with `W/match-report.json`.

use crate::progress::Progress;
use anyhow::{Context, Result, bail};
use splat_sfm::front_end::{self, CameraMode, FrontEndOptions, Matcher, Observer};
use splat_sfm::pairs::{RetrievalOptions, SpatialOptions};
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum MatcherArg {
    /// Every pair up to --exhaustive-up-to images; above, retrieval (joined by spatial when
    /// every photo has GPS). The match report says which ran and why.
    Auto,
    /// Every pair of images (up to a few hundred images).
    Exhaustive,
    /// Each image with the next --overlap images in name order (video frames).
    Sequential,
    /// Each image with its --neighbours most similar images (a vocabulary tree trained on
    /// the run's own features), and its --overlap successors when the names form a sequence.
    Retrieval,
    /// Each image with its --spatial-neighbours nearest images by EXIF GPS (drone captures).
    Spatial,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum CameraModeArg {
    /// Images of one size and one EXIF camera and focal share intrinsics.
    Auto,
    /// One camera for every image.
    Single,
    /// A camera per image.
    PerImage,
}

#[derive(clap::Args)]
pub struct MatchArgs {
    /// Folder of photos (JPEG, PNG, …; searched recursively; other files are skipped with a warning).
    images: PathBuf,
    /// Output folder: database.db and match-report.json.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    front_end: FrontEndArgs,
}

/// Options of the SfM front end (shared by `splat match` and `splat sfm`).
#[derive(clap::Args)]
pub struct FrontEndArgs {
    /// Longest side of the images features are extracted from (keypoints stay in original pixels).
    #[arg(long, default_value_t = 1600)]
    max_image_size: u32,
    /// Most keypoint locations kept per image, strongest first; each may carry two orientations,
    /// so an image can hold up to twice as many features (COLMAP counts the same way).
    #[arg(long, default_value_t = 8192)]
    max_features: usize,
    #[arg(long, value_enum, default_value = "auto")]
    matcher: MatcherArg,
    /// Successors each image is matched with under --matcher sequential (default 10), and
    /// under retrieval when the names form a sequence (default 5).
    #[arg(long)]
    overlap: Option<usize>,
    /// --matcher auto matches every pair up to this many images.
    #[arg(long, default_value_t = splat_sfm::pairs::DEFAULT_EXHAUSTIVE_UP_TO)]
    exhaustive_up_to: usize,
    /// Most similar images each image is matched with under retrieval.
    #[arg(long, default_value_t = splat_sfm::pairs::DEFAULT_NEIGHBOURS)]
    neighbours: usize,
    /// Nearest images by GPS each image is matched with under spatial matching.
    #[arg(long, default_value_t = 20)]
    spatial_neighbours: usize,
    /// Only spatial neighbours within this many metres (0: no limit).
    #[arg(long, default_value_t = 0.0)]
    spatial_radius: f64,
    /// Spatial matching ignores GPS altitude (often poor from phones).
    #[arg(long)]
    spatial_ignore_altitude: bool,
    /// Which images share intrinsics.
    #[arg(long, value_enum, default_value = "auto")]
    camera_mode: CameraModeArg,
    /// Geometric verification inlier threshold, pixels.
    #[arg(long, default_value_t = 4.0)]
    max_error: f64,
    /// Pairs with fewer inliers are not verified.
    #[arg(long, default_value_t = 15)]
    min_inliers: usize,
}

/// Shows one bar per step and prints warnings above it.
pub struct Bars(pub Mutex<Option<Progress>>);

impl Observer for Bars {
    fn begin(&self, step: &str, total: usize) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Progress::new(step, total as u64));
    }
    fn tick(&self) {
        if let Some(p) = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            p.inc();
        }
    }
    fn end(&self) {
        if let Some(p) = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            p.finish();
        }
    }
    fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }
}

impl FrontEndArgs {
    /// The verification threshold, also the mapper's.
    pub fn max_error(&self) -> f64 {
        self.max_error
    }
}

pub fn options(args: &FrontEndArgs) -> Result<FrontEndOptions> {
    if args.max_image_size < 32 {
        bail!(
            "--max-image-size {} is too small (at least 32 pixels)",
            args.max_image_size
        );
    }
    if !args.max_error.is_finite() || args.max_error <= 0.0 {
        bail!("--max-error must be positive");
    }
    if !args.spatial_radius.is_finite() || args.spatial_radius < 0.0 {
        bail!("--spatial-radius must be 0 (no limit) or a positive number of metres");
    }
    if args.neighbours == 0 || args.spatial_neighbours == 0 {
        bail!("--neighbours and --spatial-neighbours must be at least 1");
    }
    let retrieval = RetrievalOptions {
        neighbours: args.neighbours,
        sequence_overlap: args
            .overlap
            .unwrap_or(RetrievalOptions::default().sequence_overlap),
        ..RetrievalOptions::default()
    };
    let spatial = SpatialOptions {
        neighbours: args.spatial_neighbours,
        max_distance: args.spatial_radius,
        ignore_altitude: args.spatial_ignore_altitude,
    };
    let mut opts = FrontEndOptions {
        max_image_size: args.max_image_size,
        matcher: match args.matcher {
            MatcherArg::Auto => Matcher::Auto {
                exhaustive_up_to: args.exhaustive_up_to,
                retrieval,
                spatial,
            },
            MatcherArg::Exhaustive => Matcher::Exhaustive,
            MatcherArg::Sequential => Matcher::Sequential {
                overlap: args.overlap.unwrap_or(10).max(1),
            },
            MatcherArg::Retrieval => Matcher::Retrieval(retrieval),
            MatcherArg::Spatial => Matcher::Spatial(spatial),
        },
        camera_mode: match args.camera_mode {
            CameraModeArg::Auto => CameraMode::Auto,
            CameraModeArg::Single => CameraMode::Single,
            CameraModeArg::PerImage => CameraMode::PerImage,
        },
        ..FrontEndOptions::default()
    };
    opts.sift.max_features = args.max_features.max(1);
    opts.two_view.max_error = args.max_error;
    opts.two_view.min_inliers = args.min_inliers.max(5);
    Ok(opts)
}

pub fn run(args: MatchArgs) -> Result<()> {
    let (report, database, report_path) =
        match_folder(&args.images, &args.output, &args.front_end)?;
    print_summary(&report);
    println!("wrote {} and {}", database.display(), report_path.display());
    Ok(())
}

/// Runs the front end on `images` into `output/database.db` and `output/match-report.json`.
pub fn match_folder(
    images: &std::path::Path,
    output: &std::path::Path,
    args: &FrontEndArgs,
) -> Result<(splat_sfm::MatchReport, PathBuf, PathBuf)> {
    let opts = options(args)?;
    if !images.is_dir() {
        bail!("{}: not a folder of images", images.display());
    }
    std::fs::create_dir_all(output).with_context(|| format!("creating {}", output.display()))?;
    let database = output.join("database.db");
    let bars = Bars(Mutex::new(None));
    let report = front_end::run(images, &database, &opts, &bars)?;
    let report_path = output.join("match-report.json");
    splat_scene::write_atomic_bytes(
        &report_path,
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    Ok((report, database, report_path))
}

/// The front end's headline figures.
pub fn print_summary(report: &splat_sfm::MatchReport) {
    let features: usize = report.images.iter().map(|i| i.features).sum();
    let inliers: usize = report
        .pairs
        .iter()
        .filter(|p| p.config.is_verified())
        .map(|p| p.inliers)
        .sum();
    let t = &report.time;
    println!(
        "{} images ({} skipped), {} features ({} per image)",
        report.images.len(),
        report.skipped.len(),
        features,
        features / report.images.len().max(1)
    );
    let sel = &report.selection;
    println!(
        "pairs: {} ({} of {} pairs) — {}",
        sel.matcher, sel.pairs, sel.all_pairs, sel.reason
    );
    if let Some(r) = &sel.retrieval {
        println!(
            "retrieval: vocabulary of {} words from {} descriptors; {} neighbours each; {:.0} % of consecutive images retrieved each other{}",
            r.vocabulary_words,
            r.training_descriptors,
            r.neighbours,
            100.0 * r.consecutive_retrieved,
            if r.sequence {
                format!(
                    ", so the names form a sequence: {} successors added",
                    r.sequence_overlap
                )
            } else {
                String::new()
            }
        );
    }
    println!(
        "{} of {} pairs verified, {} inlier matches ({} per verified pair)",
        report.verified_pairs,
        report.pairs.len(),
        inliers,
        inliers / report.verified_pairs.max(1)
    );
    println!(
        "time (wall / CPU s): features {:.1} / {:.1}, pair selection {:.1} / {:.1}, matching {:.1} / {:.1}, verification {:.1} / {:.1}, database {:.1} / {:.1}",
        t.extract.wall_s,
        t.extract.cpu_s,
        t.pair_selection.wall_s,
        t.pair_selection.cpu_s,
        t.matching.wall_s,
        t.matching.cpu_s,
        t.verification.wall_s,
        t.verification.cpu_s,
        t.database.wall_s,
        t.database.cpu_s
    );
    let v = &report.verification;
    println!(
        "verification: slowest pair {:.2} s; {} degenerate samples refused, {} decompositions stopped at their iteration cap ({} answered by the fallback), {} with non-finite input; {} pairs abandoned at their time limit",
        v.max_verify_ms / 1e3,
        v.solver.degenerate_samples,
        v.solver.not_converged,
        v.solver.recovered,
        v.solver.non_finite,
        v.abandoned_pairs
    );
}

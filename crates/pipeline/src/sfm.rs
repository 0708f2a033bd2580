//! `splat sfm`: photos → a COLMAP model. The front end (`splat match`) writes `W/database.db`;
//! the incremental mapper reconstructs from it (`W/distorted/sparse/N`, SIMPLE_RADIAL, the
//! largest model first); the largest is undistorted to PINHOLE (`W/images`, `W/sparse/0`),
//! ready for `splat train W`; `W/sfm-report.json` has the figures.

use crate::matching::{FrontEndArgs, match_folder, print_summary};
use crate::progress::Progress;
use anyhow::{Context, Result, bail};
use splat_sfm::mapper::{self, MapperOptions, Model};
use splat_sfm::timing::{StepTime, peak_memory_bytes, timed};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct SfmArgs {
    /// Folder of photos (searched recursively; files that are not images are skipped with a warning).
    images: PathBuf,
    /// Output workspace: database.db, distorted/sparse/N, sparse/0 and images/ (undistorted), sfm-report.json.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    front_end: FrontEndArgs,
    /// Smallest triangulation angle of a point, degrees.
    #[arg(long, default_value_t = 1.5)]
    min_triangulation_angle: f64,
    /// Principal point in the final bundle adjustment: `auto` refines it and keeps the result
    /// only where the photos determine it (significant shift, standard deviation under 0.1 % of
    /// the image), `fixed` holds it at the centre (COLMAP's default), `refine` always refines.
    #[arg(long, value_enum, default_value = "auto")]
    principal_point: PrincipalPointArg,
    /// Keep the cameras' radial distortion at zero.
    #[arg(long)]
    no_distortion: bool,
    /// Skip writing undistorted PINHOLE images (W/images, W/sparse/0).
    #[arg(long)]
    no_undistort: bool,
    /// Reuse W/database.db and W/match-report.json from an earlier run (of `splat match` or
    /// `splat sfm`) instead of extracting and matching again.
    #[arg(long)]
    reuse_matches: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PrincipalPointArg {
    Auto,
    Fixed,
    Refine,
}

#[derive(serde::Serialize)]
struct ModelReport {
    registered: usize,
    images: usize,
    points: usize,
    mean_track_length: f64,
    mean_reprojection_error_px: f64,
    stats: mapper::MapperStats,
}

#[derive(serde::Serialize)]
struct StageTimes {
    matching: StepTime,
    mapping: StepTime,
    output: StepTime,
}

#[derive(serde::Serialize)]
struct SfmReport {
    images: usize,
    skipped_files: usize,
    verified_pairs: usize,
    models: Vec<ModelReport>,
    time: StageTimes,
    peak_memory_bytes: u64,
}

fn model_report(m: &Model, stats: &mapper::MapperStats) -> ModelReport {
    let obs: usize = m
        .points
        .iter()
        .flatten()
        .map(|p| p.observations.len())
        .sum();
    ModelReport {
        registered: m.num_registered(),
        images: m.images.len(),
        points: m.num_points(),
        mean_track_length: obs as f64 / m.num_points().max(1) as f64,
        mean_reprojection_error_px: m.mean_reprojection_error(),
        stats: stats.clone(),
    }
}

/// RGB of each point's first observation, read image by image.
fn point_colors(model: &Model, images: &Path) -> Result<HashMap<(usize, u32), [u8; 3]>> {
    let mut wanted: HashMap<usize, Vec<u32>> = HashMap::new();
    for p in model.points.iter().flatten() {
        if let Some(e) = p.observations.first() {
            wanted.entry(e.image).or_default().push(e.kp);
        }
    }
    let mut out = HashMap::new();
    for (image, kps) in wanted {
        let im = &model.images[image];
        let path = images.join(&im.name);
        let rgb = splat_scene::images::open(&path)?.to_rgb8();
        for kp in kps {
            let k = im.keypoints[kp as usize];
            let (x, y) = (
                (k.x.floor() as u32).min(rgb.width() - 1),
                (k.y.floor() as u32).min(rgb.height() - 1),
            );
            out.insert((image, kp), rgb.get_pixel(x, y).0);
        }
    }
    Ok(out)
}

pub fn run(args: SfmArgs) -> Result<()> {
    let (matched, t_match) = timed(|| -> Result<(splat_sfm::MatchReport, PathBuf)> {
        let (database, report) = (
            args.output.join("database.db"),
            args.output.join("match-report.json"),
        );
        if args.reuse_matches {
            let text = std::fs::read_to_string(&report)
                .with_context(|| format!("--reuse-matches: reading {}", report.display()))?;
            let parsed = serde_json::from_str(&text).with_context(|| {
                format!(
                    "--reuse-matches: {} is not a match report",
                    report.display()
                )
            })?;
            println!("reusing {} and {}", database.display(), report.display());
            return Ok((parsed, database));
        }
        let (r, database, _) = match_folder(&args.images, &args.output, &args.front_end)?;
        Ok((r, database))
    });
    let (match_report, database) = matched?;
    print_summary(&match_report);
    let db = splat_sfm::database::read(&database)?;
    let opts = MapperOptions {
        max_error: args.front_end.max_error(),
        min_triangulation_angle: args.min_triangulation_angle,
        refine_distortion: !args.no_distortion,
        principal_point: match args.principal_point {
            PrincipalPointArg::Auto => mapper::PrincipalPoint::Auto,
            PrincipalPointArg::Fixed => mapper::PrincipalPoint::Fixed,
            PrincipalPointArg::Refine => mapper::PrincipalPoint::Refine,
        },
        ..MapperOptions::default()
    };
    let progress = Progress::new("mapping", db.images.len() as u64);
    let (models, t_map) = timed(|| {
        mapper::reconstruct(&db, &opts, &mut |done, _| {
            progress.set_done(done as u64);
        })
    });
    progress.finish();
    let mut sizes = vec![(0, 0); db.cameras.len()];
    for (k, c) in db.cameras.iter().enumerate() {
        sizes[k] = (c.width, c.height);
    }
    let (written, t_out) = timed(|| -> Result<()> {
        for (k, (model, _)) in models.iter().enumerate() {
            let colors = point_colors(model, &args.images)?;
            let rec = mapper::export::to_reconstruction(model, &sizes, &|i, kp| {
                colors.get(&(i, kp)).copied()
            });
            let dir = args.output.join("distorted/sparse").join(k.to_string());
            splat_scene::colmap::write_binary(&dir, &rec)
                .with_context(|| format!("writing {}", dir.display()))?;
            if k == 0 && !args.no_undistort && rec.images.len() >= 2 {
                let p = Progress::new("undistorting", rec.images.len() as u64);
                splat_scene::undistort::undistort_workspace_with_progress(
                    &rec,
                    &args.images,
                    &args.output,
                    &|_| p.inc(),
                )?;
                p.finish();
            }
        }
        Ok(())
    });
    written?;
    let report = SfmReport {
        images: db.images.len(),
        skipped_files: match_report.skipped.len(),
        verified_pairs: match_report.verified_pairs,
        models: models.iter().map(|(m, s)| model_report(m, s)).collect(),
        time: StageTimes {
            matching: t_match,
            mapping: t_map,
            output: t_out,
        },
        peak_memory_bytes: peak_memory_bytes(),
    };
    let path = args.output.join("sfm-report.json");
    splat_scene::write_atomic_bytes(&path, serde_json::to_string_pretty(&report)?.as_bytes())?;
    let Some(best) = report.models.first() else {
        bail!(
            "no model: no image pair gave a reliable initial reconstruction ({} verified pairs among {} images; see {})",
            report.verified_pairs,
            report.images,
            path.display()
        );
    };
    println!(
        "model 0: {} of {} images registered, {} points, mean track length {:.2}, mean reprojection error {:.3} px ({} model(s) in all)",
        best.registered,
        best.images,
        best.points,
        best.mean_track_length,
        best.mean_reprojection_error_px,
        report.models.len()
    );
    println!(
        "time (wall / CPU s): matching {:.1} / {:.1}, mapping {:.1} / {:.1}, output {:.1} / {:.1}; peak memory {:.0} MiB",
        t_match.wall_s,
        t_match.cpu_s,
        t_map.wall_s,
        t_map.cpu_s,
        t_out.wall_s,
        t_out.cpu_s,
        report.peak_memory_bytes as f64 / f64::from(1 << 20)
    );
    let parts = &best.stats.time;
    println!(
        "mapping model 0 (CPU s): choosing images {:.1}, registration {:.1}, triangulation {:.1}, local BA {:.1}, global BA {:.1}, final refinement {:.1} (of these adjustments, {:.1} in the solver)",
        parts.next_image.cpu_s,
        parts.registration.cpu_s,
        parts.triangulation.cpu_s,
        parts.local_adjustment.cpu_s,
        parts.global_adjustment.cpu_s,
        parts.final_refinement.cpu_s,
        parts.solver.cpu_s
    );
    for test in &best.stats.principal_point {
        println!("{}", principal_point_line(test));
    }
    if !args.no_undistort {
        println!(
            "wrote {} (PINHOLE images/ and sparse/0, ready for `splat train`), distorted/sparse/, {}",
            args.output.display(),
            path.display()
        );
    }
    for model in &report.models {
        for warning in &model.stats.warnings {
            eprintln!("warning: {warning}");
        }
    }
    if best.registered < best.images {
        let left: Vec<String> = best
            .stats
            .unregistered
            .iter()
            .map(|(n, why)| format!("{n} ({why})"))
            .collect();
        eprintln!("left out of model 0: {}", left.join("; "));
    }
    if best.registered < 2 {
        bail!("fewer than 2 images registered");
    }
    Ok(())
}

/// One camera's `--principal-point auto` outcome, for the summary.
fn principal_point_line(t: &mapper::PrincipalPointTest) -> String {
    let [px, py] = t.prior_px;
    let [rx, ry] = t.refined_px;
    let sigma = |s: Option<f64>| s.map_or("?".to_string(), |s| format!("{s:.2}"));
    let found = format!(
        "principal point of camera {}: refined to ({rx:.1}, {ry:.1}) px, {:.1} px from its prior ({px:.1}, {py:.1}), σ ({}, {}) px",
        t.camera_id,
        (rx - px).hypot(ry - py),
        sigma(t.sigma_px[0]),
        sigma(t.sigma_px[1]),
    );
    if t.kept {
        format!(
            "{found}: kept, the photos determine it (`--principal-point fixed` holds it at the prior, as COLMAP does by default)"
        )
    } else if t.determined {
        format!("{found}: held at the prior, as another camera's is not determined")
    } else {
        format!("{found}: held at the prior, the photos do not determine it")
    }
}

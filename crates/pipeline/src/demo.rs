//! `splat demo -o W`: the built-in scene (rendered with exact cameras) through every stage, then
//! the figures that show it worked: SfM's camera error against the exact cameras, the held-out
//! PSNR of the trained model and the size of the compressed scene. Sized to finish in a few
//! minutes on a 2-core CPU with lavapipe; a rerun reuses what is complete.

use crate::done::{self, DoneRecord};
use crate::run::{RunReport, print_summary, run_pipeline};
use crate::stage_options::StageOptions;
use anyhow::{Context, Result};
use splat_datasets::SceneSpec;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Training settings of the demo (each yields to a `--train.X` given on the command line):
/// 1,500 steps (the paper's schedule compressed to them, as always), MCMC capped at 10,000
/// Gaussians, 64-pixel images.
const TRAIN_DEFAULTS: [(&str, Option<&str>); 7] = [
    ("resolution", Some("64")),
    ("steps", Some("1500")),
    ("strategy", Some("mcmc")),
    ("max-gaussians", Some("10000")),
    ("eval-every", Some("500")),
    ("checkpoint-every", Some("500")),
    ("seed", Some("1")),
];

#[derive(clap::Args)]
#[command(
    after_help = "Takes the stage options of `splat run` (--sfm.X, --train.X, --compress.X); see `splat run --help`."
)]
pub struct DemoArgs {
    /// Workspace: the scene in W/scene, every stage's outputs in W (as `splat run`).
    #[arg(short, long, default_value = "out/demo")]
    output: PathBuf,
    /// Views of the built-in scene (every 8th is held out for the test PSNR).
    #[arg(long, default_value_t = 48)]
    views: usize,
    /// Photo width in pixels (SfM runs on these; training on --train.resolution).
    #[arg(long, default_value_t = 480)]
    width: u32,
    /// Photo height in pixels.
    #[arg(long, default_value_t = 360)]
    height: u32,
    /// Seed of the scene's layout and textures.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run every stage again even when it is complete.
    #[arg(long)]
    force: bool,
    #[arg(skip)]
    pub stages: StageOptions,
}

pub fn run(a: DemoArgs) -> Result<()> {
    let start = Instant::now();
    let spec = SceneSpec {
        views: a.views,
        width: a.width,
        height: a.height,
        seed: a.seed,
        points: 2000,
        ..SceneSpec::default()
    };
    eprintln!(
        "splat demo: the built-in scene ({} photos at {}×{}, exact cameras) → SfM → training → SOG in {}; \
         about 3 minutes with the default settings on a 2-core CPU with lavapipe, less on a GPU; a rerun reuses finished stages",
        spec.views,
        spec.width,
        spec.height,
        a.output.display()
    );
    let scene = a.output.join("scene");
    generate(&spec, &a.output, &scene)?;
    let opts = a.stages.clone().with_defaults("train", &TRAIN_DEFAULTS);
    let report = run_pipeline(&scene.join("images"), &a.output, &opts, a.force)?;
    print_summary(&report, &a.output);
    let figures = demo_figures(&report, &a.output, &scene)?;
    let path = a.output.join("demo.json");
    splat_scene::write_atomic_bytes(&path, &serde_json::to_vec_pretty(&figures)?)?;
    println!();
    println!(
        "demo ({} views at {}×{}, {:.0} s in all):",
        spec.views,
        spec.width,
        spec.height,
        start.elapsed().as_secs_f64()
    );
    println!(
        "  camera poses vs the exact cameras: rotation error median {:.3}° (max {:.3}°), centre error median {:.3} % of the camera spread",
        figures["pose"]["rre_deg"]["median"]
            .as_f64()
            .unwrap_or(f64::NAN),
        figures["pose"]["rre_deg"]["max"]
            .as_f64()
            .unwrap_or(f64::NAN),
        figures["pose"]["center_error_pct"]["median"]
            .as_f64()
            .unwrap_or(f64::NAN),
    );
    println!(
        "  held-out views: PSNR {:.2} dB, SSIM {:.4} (ground truth | render in {})",
        figures["test_psnr"].as_f64().unwrap_or(f64::NAN),
        figures["test_ssim"].as_f64().unwrap_or(f64::NAN),
        a.output.join("test_views.png").display()
    );
    println!(
        "  compressed: {} bytes in {} ({:.1}× smaller than the PLY; {} Gaussians{}); figures in {}",
        figures["sog_bytes"],
        a.output.join("scene.sog").display(),
        figures["ratio"].as_f64().unwrap_or(f64::NAN),
        figures["sog_gaussians"],
        match figures["sog_test_psnr"].as_f64() {
            Some(p) => format!(", held-out PSNR of the file {p:.2} dB"),
            None => String::new(),
        },
        path.display()
    );
    Ok(())
}

/// Generates the scene into `scene` unless an identical one is complete there (`generate` record).
fn generate(spec: &SceneSpec, w: &Path, scene: &Path) -> Result<()> {
    let options = vec![format!(
        "views={} width={} height={} seed={} samples={} points={} test_every={}",
        spec.views, spec.width, spec.height, spec.seed, spec.samples, spec.points, spec.test_every
    )];
    let key = done::key("generate", &options, &[]);
    if done::complete(w, "generate", &key).is_ok() {
        eprintln!("generate: complete, reused");
        return Ok(());
    }
    done::start(w, "generate", &key)?;
    if scene.exists() {
        std::fs::remove_dir_all(scene)
            .with_context(|| format!("removing the stale {}", scene.display()))?;
    }
    let t = Instant::now();
    let progress = crate::progress::Progress::new("rendering", spec.views as u64);
    splat_datasets::generate_with_progress(spec, scene, &|_| progress.inc())
        .with_context(|| format!("generating the built-in scene into {}", scene.display()))?;
    progress.finish();
    eprintln!(
        "generate: {} views at {}×{} with exact cameras in {} ({:.1} s)",
        spec.views,
        spec.width,
        spec.height,
        scene.display(),
        t.elapsed().as_secs_f64()
    );
    let rec = DoneRecord {
        stage: "generate".into(),
        key,
        splat_version: env!("CARGO_PKG_VERSION").into(),
        options,
        inputs: vec![],
        outputs: done::digest_paths(w, &["scene"])?,
        finished_unix_s: done::now_unix_s(),
        seconds: t.elapsed().as_secs_f64(),
        peak_memory_bytes: 0,
    };
    done::finish(w, &rec)
}

/// Pose error of SfM against the exact cameras, the test PSNR and the compressed size.
fn demo_figures(report: &RunReport, w: &Path, scene: &Path) -> Result<serde_json::Value> {
    let read = |dir: &Path| -> Result<_> {
        let model = splat_scene::colmap::read_model(&dir.join("sparse/0"))
            .with_context(|| format!("reading the model in {}", dir.display()))?;
        Ok(splat_sfm::evaluate::from_reconstruction(&model))
    };
    let pose = splat_sfm::evaluate::compare(&read(w)?, &read(scene)?)
        .context("fewer than 3 of the scene's images were registered by SfM")?;
    let stage = |name: &str| {
        report
            .stages
            .iter()
            .find(|s| s.stage == name)
            .map(|s| s.figures.clone())
            .unwrap_or_default()
    };
    let (train, compress) = (stage("train"), stage("compress"));
    Ok(serde_json::json!({
        "pose": pose,
        "test_psnr": train["test_psnr"],
        "test_ssim": train["test_ssim"],
        "gaussians": train["gaussians"],
        "sog_bytes": compress["bytes"],
        "sog_gaussians": compress["gaussians"],
        "sog_test_psnr": compress["test_psnr"],
        "ply_bytes": compress["ply_bytes"],
        "ratio": compress["ratio"],
        "seconds": report.seconds,
    }))
}

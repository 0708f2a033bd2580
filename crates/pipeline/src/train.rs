//! `splat train`: 3DGS training on a COLMAP workspace or a transforms folder.

use crate::progress_file::ProgressFile;
use anyhow::{Context, Result, bail};
use splat_scene::dataset::Dataset;
use splat_train::mcmc::McmcConfig;
use splat_train::run::{RunEvent, RunOptions};
use splat_train::smooth::SmoothConfig;
use splat_train::train::{ResetInterval, Strategy, TrainConfig, Trainer, initial_gaussians};
use splat_train::{DensifyConfig, Gaussians32};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct TrainArgs {
    /// A COLMAP workspace (images/ + sparse/0, PINHOLE cameras) or a folder with transforms_*.json.
    data: PathBuf,
    /// Output folder: point_cloud.ply, metrics.jsonl, eval.json.
    #[arg(short, long)]
    output: PathBuf,
    #[arg(long, default_value_t = TrainConfig::default().steps)]
    steps: u32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Start from this 3DGS PLY (a model trained before, here or by another tool) instead of the
    /// SfM points or random Gaussians; its SH bands past its own degree start at zero.
    #[arg(long, value_name = "PLY")]
    init: Option<PathBuf>,
    /// Highest SH degree (raised by one every 1000 steps).
    #[arg(long, default_value_t = 3)]
    sh_degree: u32,
    /// Background colour, three numbers in [0, 1]. Default: white for Blender (transforms_*.json)
    /// scenes, black for COLMAP workspaces.
    #[arg(long, value_parser = crate::render::parse_rgb)]
    background: Option<[f64; 3]>,
    /// Train (and evaluate) at this longest image side in pixels: photos are downscaled with an
    /// area filter and the cameras scaled alike. Default: the photos' own size.
    #[arg(long)]
    resolution: Option<u32>,
    /// GPU memory for caching the photos, in MiB (training views first; 4 bytes a pixel: 1,000
    /// photos at 1,600×1,200 need 7,324); photos past it, or that the device has no memory for,
    /// are uploaded at each use instead.
    #[arg(long, default_value_t = TrainConfig::default().image_cache_bytes >> 20)]
    image_cache_mb: u64,
    /// Steps between evaluations on the test views (0: only at the end).
    #[arg(long, default_value_t = 1000)]
    eval_every: u32,
    /// Hold out every N-th photo by name for testing (a COLMAP workspace; a Blender folder keeps
    /// its transforms_test.json); 0 trains on every photo, as the reference does without
    /// --eval, and reports PSNR on training views.
    #[arg(long, default_value_t = splat_scene::dataset::COLMAP_TEST_EVERY)]
    test_every: usize,
    /// How the set of Gaussians changes: `adc` (the 3DGS paper's clone/split/prune), `mcmc`
    /// (relocation and growth up to --max-gaussians, with position noise) or `fixed`.
    #[arg(long, value_enum, default_value_t = StrategyArg::Adc)]
    strategy: StrategyArg,
    /// Keep the paper's step numbers for the step-based settings whatever --steps is. By
    /// default they follow the run's length: the densification window, SH interval, position
    /// learning-rate decay and MCMC window are the paper's times --steps / 30000, except those
    /// given explicitly; the densification interval and the opacity reset interval (3000) stay,
    /// so a run shorter than about 4,500 steps has no opacity reset.
    #[arg(long, conflicts_with = "scale_schedule")]
    paper_schedule: bool,
    /// The former switch: scale the opacity reset interval too (as commands recorded before
    /// the schedule followed --steps by default did).
    #[arg(long, hide = true)]
    scale_schedule: bool,
    /// Position learning rate at the start, times the scene extent.
    #[arg(long, default_value_t = TrainConfig::default().lr_position.0)]
    lr_position: f32,
    /// Position learning rate after the decay (at --steps; at step 30000 with --paper-schedule).
    #[arg(long, default_value_t = TrainConfig::default().lr_position.1)]
    lr_position_final: f32,
    #[arg(long, default_value_t = TrainConfig::default().lr_sh_dc)]
    lr_sh_dc: f32,
    /// Learning rate of the higher SH bands.
    #[arg(long, default_value_t = TrainConfig::default().lr_sh_rest)]
    lr_sh_rest: f32,
    #[arg(long, default_value_t = TrainConfig::default().lr_opacity)]
    lr_opacity: f32,
    #[arg(long, default_value_t = TrainConfig::default().lr_scale)]
    lr_scale: f32,
    #[arg(long, default_value_t = TrainConfig::default().lr_rotation)]
    lr_rotation: f32,
    /// Weight of the D-SSIM term of the loss (the rest is L1).
    #[arg(long, default_value_t = TrainConfig::default().lambda)]
    lambda_dssim: f32,
    /// Steps between SH degree increases (default: 1000, scaled to --steps; 0: every band from
    /// the first step).
    #[arg(long)]
    sh_interval: Option<u32>,
    /// Steps between checkpoints (0: none); the newest two are kept.
    #[arg(long, default_value_t = 2000)]
    checkpoint_every: u32,
    /// Where checkpoints go (default: OUTPUT/checkpoints).
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Continue from the newest checkpoint, if there is one (same data and settings).
    #[arg(long)]
    resume: bool,
    /// Time each stage of every step (projection, sort, blending, their backward passes, loss,
    /// optimizer, density control) and print where the time went at the end, also written to
    /// OUTPUT/profile.json. Waits for the device after each stage, so it slows training a little.
    #[arg(long)]
    profile: bool,
    /// After the last step, remove the floaters near the capture path: Gaussians that only
    /// training cameras more than this many times farther away than the nearest camera they lie
    /// in front of have in their picture (0: keep them). eval.json says how many went.
    #[arg(long, default_value_t = splat_train::run::FLOATER_RATIO, value_parser = parse_floater_ratio)]
    floater_ratio: f64,
    #[command(flatten)]
    densify: DensifyArgs,
    #[command(flatten)]
    mcmc: McmcArgs,
    #[command(flatten)]
    sog_aware: SogAwareArgs,
}

/// Compression-aware training (`--sog-aware`).
#[derive(clap::Args)]
struct SogAwareArgs {
    /// Compression-aware training (Self-Organizing Gaussians): the Gaussians are sorted into
    /// the grid their SOG images store them in (again every --sog-aware-every steps and after
    /// every change of the set), and a neighbour loss makes each attribute smooth in that grid,
    /// so that `splat compress` writes a smaller file. The model and the file stay standard.
    #[arg(long)]
    sog_aware: bool,
    /// Weight of the neighbour loss beside the photometric loss.
    #[arg(long, default_value_t = SmoothConfig::default().lambda)]
    sog_aware_weight: f32,
    /// First step of the sort and the loss (default: where densification ends, so that the
    /// grid changes only when sorted again; 1 with --strategy fixed).
    #[arg(long)]
    sog_aware_from: Option<u32>,
    /// Steps between sorts (default: 1000, scaled to --steps).
    #[arg(long)]
    sog_aware_every: Option<u32>,
}

impl SogAwareArgs {
    /// The settings, before the schedule is scaled (`None` without --sog-aware).
    fn config(&self) -> Option<SmoothConfig> {
        self.sog_aware.then(|| SmoothConfig {
            lambda: self.sog_aware_weight,
            ..SmoothConfig::default()
        })
    }

    /// The step settings given explicitly (or following the density window), over a scaled
    /// configuration.
    fn keep_explicit(&self, c: &mut SmoothConfig, strategy: &Strategy) {
        c.from = self.sog_aware_from.unwrap_or(match strategy {
            Strategy::Adc(d) => d.until,
            Strategy::Mcmc(m) => m.until,
            Strategy::Fixed => 1,
        });
        if let Some(v) = self.sog_aware_every {
            c.sort_every = v;
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StrategyArg {
    Adc,
    Mcmc,
    Fixed,
}

/// The MCMC strategy (`--strategy mcmc`); defaults are the paper's.
#[derive(clap::Args)]
struct McmcArgs {
    /// The most Gaussians the model may have (`--strategy mcmc`).
    #[arg(long, default_value_t = McmcConfig::default().max_gaussians)]
    max_gaussians: u32,
    /// First step after which MCMC relocates and grows (default: 500, scaled to --steps).
    #[arg(long)]
    mcmc_from: Option<u32>,
    /// Step at which MCMC relocation and growth stop (default: 25000, scaled to --steps).
    #[arg(long)]
    mcmc_until: Option<u32>,
    /// Steps between MCMC relocations.
    #[arg(long, default_value_t = McmcConfig::default().every)]
    mcmc_every: u32,
    /// Growth per relocation, as a fraction of the count.
    #[arg(long, default_value_t = McmcConfig::default().grow_rate)]
    mcmc_grow_rate: f32,
    /// Position noise, times the position learning rate.
    #[arg(long, default_value_t = McmcConfig::default().noise_lr)]
    mcmc_noise_lr: f32,
    /// Weight of the mean-opacity regulariser.
    #[arg(long, default_value_t = McmcConfig::default().opacity_reg)]
    opacity_reg: f32,
    /// Weight of the mean-scale regulariser.
    #[arg(long, default_value_t = McmcConfig::default().scale_reg)]
    scale_reg: f32,
}

impl McmcArgs {
    fn config(&self, min_opacity: f32) -> McmcConfig {
        let d = McmcConfig::default();
        McmcConfig {
            max_gaussians: self.max_gaussians,
            from: self.mcmc_from.unwrap_or(d.from),
            until: self.mcmc_until.unwrap_or(d.until),
            every: self.mcmc_every,
            grow_rate: self.mcmc_grow_rate,
            min_opacity,
            noise_lr: self.mcmc_noise_lr,
            opacity_reg: self.opacity_reg,
            scale_reg: self.scale_reg,
        }
    }
}

/// Adaptive density control (`--strategy adc`); defaults are the paper's.
#[derive(clap::Args)]
struct DensifyArgs {
    /// First step after which Gaussians are densified (default: 500, scaled to --steps).
    #[arg(long)]
    densify_from: Option<u32>,
    /// Step at which densification (and opacity reset) stops (default: 15000, scaled to --steps).
    #[arg(long)]
    densify_until: Option<u32>,
    /// Steps between densifications.
    #[arg(long, default_value_t = DensifyConfig::default().every)]
    densify_every: u32,
    /// Mean screen-space gradient (NDC units) above which a Gaussian is cloned or split.
    #[arg(long, default_value_t = DensifyConfig::default().grad_threshold)]
    densify_grad_threshold: f32,
    /// Clone Gaussians up to this fraction of the scene extent, split larger ones.
    #[arg(long, default_value_t = DensifyConfig::default().percent_dense)]
    percent_dense: f32,
    /// Steps between opacity resets (0: never).
    #[arg(long)]
    opacity_reset_every: Option<u32>,
    /// Prune Gaussians with an opacity below this at each densification (with mcmc: relocate them).
    #[arg(long, default_value_t = DensifyConfig::default().min_opacity)]
    prune_opacity: f32,
    /// After the first opacity reset, prune Gaussians larger than this fraction of the extent.
    #[arg(long, default_value_t = DensifyConfig::default().max_world_scale)]
    prune_world_scale: f32,
    /// After the first opacity reset, prune Gaussians with a screen radius above this (pixels;
    /// 0: never, the reference's effective behaviour).
    #[arg(long, default_value_t = DensifyConfig::default().max_screen_radius)]
    prune_screen_radius: f32,
}

/// `--floater-ratio`: 0, or a distance ratio of at least 1 (every camera that has a point in
/// its picture is at least as far as the nearest camera, so a ratio under 1 would remove every
/// Gaussian any camera sees).
fn parse_floater_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v == 0.0 || (v.is_finite() && v >= 1.0) => Ok(v),
        _ => Err(format!(
            "'{s}' is not a distance ratio: 0 (keep every Gaussian) or a number ≥ 1"
        )),
    }
}

impl DensifyArgs {
    fn config(&self) -> DensifyConfig {
        let d = DensifyConfig::default();
        DensifyConfig {
            from: self.densify_from.unwrap_or(d.from),
            until: self.densify_until.unwrap_or(d.until),
            every: self.densify_every,
            grad_threshold: self.densify_grad_threshold,
            percent_dense: self.percent_dense,
            opacity_reset_every: self.opacity_reset_every.unwrap_or(d.opacity_reset_every),
            min_opacity: self.prune_opacity,
            max_world_scale: self.prune_world_scale,
            max_screen_radius: self.prune_screen_radius,
        }
    }
}

impl DensifyArgs {
    /// The step settings given explicitly, over a (scaled) configuration.
    fn keep_explicit(&self, c: &mut DensifyConfig) {
        if let Some(v) = self.densify_from {
            c.from = v;
        }
        if let Some(v) = self.densify_until {
            c.until = v;
        }
        if let Some(v) = self.opacity_reset_every {
            c.opacity_reset_every = v;
        }
    }
}

impl McmcArgs {
    /// The step settings given explicitly, over a (scaled) configuration.
    fn keep_explicit(&self, c: &mut McmcConfig) {
        if let Some(v) = self.mcmc_from {
            c.from = v;
        }
        if let Some(v) = self.mcmc_until {
            c.until = v;
        }
    }
}

/// The step-based schedule of a run: the paper's, scaled to `--steps` unless
/// `--paper-schedule` (the opacity reset interval only with the former `--scale-schedule`),
/// then every step setting given explicitly as given.
fn schedule(a: &TrainArgs, cfg: TrainConfig) -> TrainConfig {
    let paper_steps = TrainConfig::default().steps;
    let resets = if a.scale_schedule {
        ResetInterval::Scaled
    } else {
        ResetInterval::Kept
    };
    let mut cfg = if a.paper_schedule {
        cfg
    } else {
        cfg.with_schedule_scaled(f64::from(a.steps) / f64::from(paper_steps), resets)
    };
    if let Some(v) = a.sh_interval {
        cfg.sh_interval = v;
    }
    match &mut cfg.strategy {
        Strategy::Adc(d) => a.densify.keep_explicit(d),
        Strategy::Mcmc(m) => a.mcmc.keep_explicit(m),
        Strategy::Fixed => {}
    }
    if let Some(smooth) = &mut cfg.smooth {
        a.sog_aware.keep_explicit(smooth, &cfg.strategy);
    }
    cfg
}

/// One line saying which schedule the run follows.
fn describe_schedule(a: &TrainArgs, cfg: &TrainConfig) -> String {
    let how = if a.paper_schedule {
        "the paper's step numbers (--paper-schedule)".to_string()
    } else {
        format!(
            "the paper's schedule scaled to {} steps (--paper-schedule keeps its step numbers)",
            a.steps
        )
    };
    let window = match &cfg.strategy {
        Strategy::Adc(d) => format!(
            "densify every {} from {} to {}, opacity reset every {}",
            d.every,
            d.from,
            d.until,
            if d.opacity_reset_every == 0 {
                "never".to_string()
            } else {
                d.opacity_reset_every.to_string()
            }
        ),
        Strategy::Mcmc(m) => format!("MCMC every {} from {} to {}", m.every, m.from, m.until),
        Strategy::Fixed => "a fixed set of Gaussians".into(),
    };
    let smooth = match &cfg.smooth {
        Some(s) => format!(
            "; compression-aware from step {}, sorted every {} steps, neighbour loss weight {}",
            s.from, s.sort_every, s.lambda
        ),
        None => String::new(),
    };
    format!(
        "schedule: {how}: {window}, SH degree up every {}{smooth}",
        cfg.sh_interval
    )
}

/// The run's configuration from the flags (`background`: the data's default colour).
fn train_config(a: &TrainArgs, background: [f64; 3]) -> TrainConfig {
    let cfg = TrainConfig {
        steps: a.steps,
        seed: a.seed,
        max_sh_degree: a.sh_degree.min(3),
        background: a.background.unwrap_or(background),
        lr_position: (a.lr_position, a.lr_position_final),
        lr_sh_dc: a.lr_sh_dc,
        lr_sh_rest: a.lr_sh_rest,
        lr_opacity: a.lr_opacity,
        lr_scale: a.lr_scale,
        lr_rotation: a.lr_rotation,
        lambda: a.lambda_dssim,
        sh_interval: TrainConfig::default().sh_interval,
        resolution: a.resolution,
        smooth: a.sog_aware.config(),
        image_cache_bytes: a.image_cache_mb << 20,
        strategy: match a.strategy {
            StrategyArg::Adc => Strategy::Adc(a.densify.config()),
            StrategyArg::Mcmc => Strategy::Mcmc(a.mcmc.config(a.densify.prune_opacity)),
            StrategyArg::Fixed => Strategy::Fixed,
        },
        ..TrainConfig::default()
    };
    schedule(a, cfg)
}

pub fn run(a: TrainArgs) -> Result<()> {
    let data = pinhole_dataset(Dataset::load(&a.data)?, &a.output)?.with_test_every(a.test_every);
    let cfg = train_config(&a, data.source.default_background());
    eprintln!("{}", describe_schedule(&a, &cfg));
    let (init, init_digest) = match &a.init {
        Some(path) => {
            let (g, digest) = read_init(path, cfg.max_sh_degree)?;
            eprintln!("starting from {} Gaussians of {}", g.len(), path.display());
            (g, Some(digest))
        }
        None => {
            if data.model.points3d.is_empty() {
                let r = splat_train::train::init::random_init(&data.model, a.resolution);
                eprintln!(
                    "no SfM points: starting from {} random Gaussians in the cube the cameras look at (centre {:.3?}, half-size {:.3})",
                    r.count, r.centre, r.half_size
                );
            }
            let g = initial_gaussians(&data.model, cfg.max_sh_degree, a.seed, a.resolution);
            (g, None)
        }
    };
    let ctx = splat_gpu::GpuContext::new()?;
    let mut trainer = Trainer::new(&ctx, &data, &init, cfg.clone())?;
    let (cached, views) = trainer.cached_views();
    if cached < views {
        eprintln!(
            "{cached} of {views} photos cached on the GPU (--image-cache-mb {}); the rest are uploaded at each use",
            a.image_cache_mb
        );
    }
    let opts = RunOptions {
        steps: a.steps,
        eval_every: a.eval_every,
        checkpoint_every: a.checkpoint_every,
        checkpoint_dir: a
            .checkpoint_dir
            .clone()
            .unwrap_or_else(|| a.output.join("checkpoints")),
        output: a.output.clone(),
        resume: a.resume,
        profile: a.profile,
        floater_ratio: a.floater_ratio,
        settings: Some({
            let mut s = splat_train::run::settings(&cfg, &data_digest(&data));
            if let Some(d) = init_digest {
                s["init"] = serde_json::Value::String(d);
            }
            s
        }),
    };
    // Ctrl-C and SIGTERM checkpoint and stop the loop while it runs (`crate::interrupt`).
    let signals = crate::interrupt::Watch::new();
    let interrupted = signals.requested();
    let mut terminal = Terminal {
        device: ctx.info.name.clone(),
        progress: None,
        evaluating: None,
    };
    // Beside the checkpoints, which SageMaker uploads as they change.
    let mut watch = ProgressFile::new(opts.checkpoint_dir.join("progress.json"), "train");
    let result = splat_train::run::run(&mut trainer, &opts, interrupted, &mut |e| {
        match &e {
            RunEvent::Started {
                gaussians,
                first_step,
                steps,
                ..
            } => watch.start(*first_step, *steps, Some(*gaussians)),
            RunEvent::Stepped { step } => watch.stepped(*step),
            RunEvent::Evaluated {
                evaluation,
                gaussians,
                ..
            } => watch.evaluated(evaluation.psnr, *gaussians),
            _ => {}
        }
        terminal.show(e);
    });
    // From here a signal ends the process (the loop has written what it had).
    drop(signals);
    drop(terminal);
    let summary = match result {
        Ok(s) => {
            watch.evaluated(
                s.evaluation.psnr,
                u32::try_from(s.gaussians).unwrap_or(u32::MAX),
            );
            watch.finish(None);
            s
        }
        Err(e) => {
            watch.finish(Some(&e.to_string()));
            return Err(e.into());
        }
    };
    write_pictures(&trainer, &summary.metrics, &a.output, a.steps)?;
    if let Some(p) = &summary.profile {
        print_profile(p);
    }
    println!(
        "trained {} steps in {:.1} s ({:.2} steps/s, evaluations not counted); test PSNR {:.2} dB; peak GPU memory {}; wrote {}",
        summary.steps - summary.first_step,
        summary.training_seconds(),
        summary.steps_per_second(),
        summary.evaluation.psnr,
        mib(summary.peak_device_memory),
        summary.ply.display()
    );
    Ok(())
}

/// Shows a training run on the terminal: what it resumed from, a line per evaluation, loss lines
/// on stdout (`step=… loss=… psnr=…`, which SageMaker's metric definitions read) and a progress
/// bar.
struct Terminal {
    device: String,
    progress: Option<crate::progress::Progress>,
    /// The final evaluation's own bar (evaluations during the run show on the training bar).
    evaluating: Option<crate::progress::Progress>,
}

impl Terminal {
    fn show(&mut self, e: RunEvent<'_>) {
        match e {
            RunEvent::Resumed {
                path,
                step,
                gaussians,
            } => eprintln!(
                "resuming from {} (step {step}, {gaussians} Gaussians)",
                path.display()
            ),
            RunEvent::NoCheckpoint { dir } => {
                eprintln!("no checkpoint in {}: starting from scratch", dir.display());
            }
            RunEvent::SkippedCheckpoint { why } => eprintln!("warning: skipping checkpoint {why}"),
            RunEvent::FloatersRemoved { count, ratio } => eprintln!(
                "removed {count} floaters near the capture path (Gaussians that only cameras over {ratio}× farther than the nearest they lie in front of have in their picture; --floater-ratio 0 keeps them)"
            ),
            RunEvent::NoPreview { why } => eprintln!(
                "warning: a checkpoint's preview (step_N.spz, for following the run from afar) could not be written: {why}; checkpoints are written as usual"
            ),
            RunEvent::Started {
                gaussians,
                train_views,
                test_views,
                first_step,
                steps,
            } => {
                eprintln!(
                    "training {gaussians} Gaussians on {train_views} views ({test_views} test) for {steps} steps on {}",
                    self.device
                );
                let progress = crate::progress::Progress::new("training", u64::from(steps));
                progress.set_done(u64::from(first_step));
                self.progress = Some(progress);
            }
            RunEvent::Loss {
                step,
                terms,
                gaussians,
                last_psnr,
            } => {
                println!(
                    "step={step} loss={:.6} psnr={}",
                    terms.total,
                    last_psnr.map_or("-".to_string(), |p: f64| format!("{p:.3}"))
                );
                if let Some(p) = &self.progress {
                    p.set_status(format!(
                        "loss {:.4} · test PSNR {} · {gaussians} Gaussians",
                        terms.total,
                        last_psnr.map_or("-".to_string(), |p: f64| format!("{p:.2}")),
                    ));
                }
            }
            RunEvent::Evaluated {
                step,
                evaluation,
                gaussians,
                steps_per_second,
                device_memory,
            } => eprintln!(
                "step {step}: test PSNR {:.2} dB, SSIM {:.4}, {gaussians} Gaussians, {steps_per_second:.2} steps/s, GPU memory {}",
                evaluation.psnr,
                evaluation.ssim,
                mib(device_memory)
            ),
            RunEvent::Evaluating { done, total } => {
                if let Some(p) = &self.progress {
                    p.set_status(format!("evaluating: {done} of {total} views"));
                } else {
                    let bar = self.evaluating.get_or_insert_with(|| {
                        crate::progress::Progress::new("evaluating", total as u64)
                    });
                    bar.set(done as u64);
                    if done == total {
                        bar.finish();
                        self.evaluating = None;
                    }
                }
            }
            RunEvent::Stepped { .. } => {
                if let Some(p) = &self.progress {
                    p.inc();
                }
            }
            RunEvent::LoopEnded => {
                if let Some(p) = self.progress.take() {
                    p.finish();
                }
            }
        }
    }
}

/// Device memory for the terminal: reserved MiB, or "not reported" where the backend keeps none.
fn mib(m: Option<splat_gpu::DeviceMemory>) -> String {
    m.map_or("not reported".to_string(), |m| {
        format!("{:.1} MiB", m.reserved as f64 / f64::from(1u32 << 20))
    })
}

/// Prints where the profiled steps' time went (the run wrote the same to `profile.json`).
fn print_profile(p: &splat_train::train::StageTimes) {
    let total = p.total();
    let steps = p.steps.max(1) as f64;
    println!(
        "time per step by stage ({} steps, {:.1} ms a step):",
        p.steps,
        total / steps * 1e3
    );
    for (stage, secs, _) in &p.stages {
        println!(
            "  {stage:<30} {:>10.2} ms {:>5.1} %",
            secs / steps * 1e3,
            100.0 * secs / total.max(f64::MIN_POSITIVE)
        );
    }
}

/// `curves.png` from the metrics file and `test_views.png` (truth | render) for up to four
/// evaluation views spread over the set.
fn write_pictures(trainer: &Trainer, metrics: &Path, out: &Path, steps: u32) -> Result<()> {
    let text = std::fs::read_to_string(metrics)
        .with_context(|| format!("reading {}", metrics.display()))?;
    let (mut losses, mut psnrs) = (Vec::new(), Vec::new());
    for v in text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        let Some(step) = v["step"].as_u64() else {
            continue;
        };
        if let Some(l) = v["loss"].as_f64() {
            losses.push((step as u32, l));
        }
        if let Some(p) = v["test_psnr"].as_f64() {
            psnrs.push((step as u32, p));
        }
    }
    crate::report::save(
        &out.join("curves.png"),
        crate::report::curves(&losses, &psnrs, steps),
    )?;
    let views = trainer.eval_views();
    let picks: Vec<usize> = (0..views.len().min(4))
        .map(|k| k * views.len() / views.len().min(4))
        .collect();
    let mut rows = Vec::new();
    for i in picks {
        let tv = &views[i];
        let r = trainer.render(&tv.view)?;
        rows.push(crate::report::GridRow {
            width: tv.view.width,
            height: tv.view.height,
            truth: tv.rgb(),
            render: r.color,
        });
    }
    let mut grid = crate::report::comparison_grid(&rows);
    // Small training images are enlarged (nearest pixel) so that the picture can be looked at.
    let zoom = (512 / grid.width().max(1)).max(1);
    if zoom > 1 {
        grid = image::imageops::resize(
            &grid,
            grid.width() * zoom,
            grid.height() * zoom,
            image::imageops::FilterType::Nearest,
        );
    }
    crate::report::save(&out.join("test_views.png"), grid)?;
    Ok(())
}

/// `data` itself when every camera is a pinhole; otherwise its undistorted copy in
/// `OUTPUT/undistorted` (made once: a rerun or `--resume` finds it complete by its model, which
/// is written last).
fn pinhole_dataset(data: Dataset, output: &Path) -> Result<Dataset> {
    if data.model.cameras.values().all(|c| c.model.is_pinhole()) {
        return Ok(data);
    }
    let dir = output.join("undistorted");
    if splat_scene::colmap::find_model_dir(&dir).is_none() {
        let models: std::collections::BTreeSet<String> = data
            .model
            .cameras
            .values()
            .map(|c| c.model.to_string())
            .collect();
        eprintln!(
            "undistorting {} images ({} cameras) into {}",
            data.model.images.len(),
            models.into_iter().collect::<Vec<_>>().join(", "),
            dir.display()
        );
        let progress =
            crate::progress::Progress::new("undistorting", data.model.images.len() as u64);
        splat_scene::undistort::undistort_workspace_with_progress(
            &data.model,
            &data.image_root,
            &dir,
            &|_| progress.inc(),
        )?;
        progress.finish();
    }
    Ok(Dataset::load(&dir)?)
}

/// The Gaussians of `--init`, at SH degree `sh_degree`, and a digest of the file (checkpoints
/// record it, so that a resume with another starting model is refused).
fn read_init(path: &Path, sh_degree: u32) -> Result<(Gaussians32, String)> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading the --init model {}", path.display()))?;
    let cloud = splat_scene::ply::parse_ply(&bytes, path)?;
    if cloud.is_empty() {
        bail!("{}: the --init model has no Gaussians", path.display());
    }
    let g = Gaussians32::from_cloud(&cloud).with_sh_degree(sh_degree);
    Ok((g, blake3::hash(&bytes).to_hex().to_string()))
}

/// What identifies the views a run trains on, for the checkpoints' settings: each image's name,
/// pose and camera, and the held-out split (BLAKE3, hex). Photos are not read: a renamed or
/// re-posed view changes it; retouched pixels under the same name do not.
fn data_digest(data: &Dataset) -> String {
    let mut h = blake3::Hasher::new();
    for im in data.model.images_by_name() {
        h.update(im.name.as_bytes());
        for v in im.qvec.iter().chain(&im.tvec) {
            h.update(&v.to_le_bytes());
        }
        if let Some(c) = data.model.cameras.get(&im.camera_id) {
            h.update(&c.width.to_le_bytes());
            h.update(&c.height.to_le_bytes());
            for p in &c.params {
                h.update(&p.to_le_bytes());
            }
        }
        h.update(&[u8::from(data.test.contains(&im.name))]);
    }
    h.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(flags: &[&str]) -> TrainConfig {
        let mut args = vec!["DATA".to_string(), "-o".into(), "OUT".into()];
        args.extend(flags.iter().map(|f| (*f).to_string()));
        let a: TrainArgs = crate::stage_options::parse("train", &args).unwrap();
        train_config(&a, [0.0; 3])
    }

    fn adc(c: &TrainConfig) -> &DensifyConfig {
        match &c.strategy {
            Strategy::Adc(d) => d,
            _ => panic!("not adc"),
        }
    }

    #[test]
    fn the_schedule_follows_the_runs_length_unless_told_otherwise() {
        let paper = TrainConfig::default();
        let d0 = DensifyConfig::default();
        // 3,000 steps: the paper's step settings times 0.1; the densification and opacity
        // reset intervals stay.
        let c = config(&["--steps", "3000"]);
        let d = adc(&c);
        assert_eq!((d.from, d.until), (50, 1500));
        assert_eq!(d.opacity_reset_every, d0.opacity_reset_every);
        assert_eq!(d.every, d0.every);
        assert_eq!(c.sh_interval, 100);
        assert_eq!(c.lr_position_steps, paper.lr_position_steps / 10);
        // The former switch scales the reset interval too, as its recorded commands did.
        let old = config(&["--steps", "3000", "--scale-schedule"]);
        assert_eq!(adc(&old).opacity_reset_every, 300);
        assert_eq!((adc(&old).from, adc(&old).until), (50, 1500));
        // Explicit step settings are taken as given, the rest still follow --steps.
        let c = config(&[
            "--steps",
            "3000",
            "--densify-until",
            "2000",
            "--sh-interval",
            "1000",
        ]);
        assert_eq!((adc(&c).from, adc(&c).until), (50, 2000));
        assert_eq!(c.sh_interval, 1000);
        let c = config(&["--steps", "3000", "--opacity-reset-every", "0"]);
        assert_eq!(adc(&c).opacity_reset_every, 0);
        let c = config(&["--steps", "3000", "--opacity-reset-every", "500"]);
        assert_eq!(adc(&c).opacity_reset_every, 500);
        // --paper-schedule keeps the paper's numbers; the full run is the paper's either way.
        let c = config(&["--steps", "3000", "--paper-schedule"]);
        assert_eq!((adc(&c).from, adc(&c).until), (d0.from, d0.until));
        assert_eq!(c.sh_interval, paper.sh_interval);
        let full = config(&[]);
        assert_eq!(adc(&full).until, d0.until);
        assert_eq!(full.lr_position_steps, paper.lr_position_steps);
        // MCMC's window scales too.
        let c = config(&[
            "--steps",
            "3000",
            "--strategy",
            "mcmc",
            "--mcmc-until",
            "2500",
        ]);
        match &c.strategy {
            Strategy::Mcmc(m) => assert_eq!((m.from, m.until), (50, 2500)),
            _ => panic!("not mcmc"),
        }
        assert!(
            crate::stage_options::parse::<TrainArgs>(
                "train",
                &[
                    "D".into(),
                    "-o".into(),
                    "O".into(),
                    "--paper-schedule".into(),
                    "--scale-schedule".into()
                ]
            )
            .is_err()
        );
    }

    #[test]
    fn a_floater_ratio_is_0_or_at_least_1() {
        for ok in ["0", "1", "10", "2.5"] {
            assert!(parse_floater_ratio(ok).is_ok(), "{ok}");
        }
        for bad in ["0.5", "-1", "nan", "inf", "ten"] {
            let e = parse_floater_ratio(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("≥ 1"), "{e}");
        }
    }
}

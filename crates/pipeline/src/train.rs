//! `splat train`: 3DGS training on a COLMAP workspace or a transforms folder.

use anyhow::{Context, Result};
use scene::dataset::Dataset;
use splat_train::DensifyConfig;
use splat_train::checkpoint::{self, Checkpoint};
use splat_train::mcmc::McmcConfig;
use splat_train::train::{Strategy, TrainConfig, Trainer, initial_gaussians};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

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
    /// GPU memory for caching the photos, in MiB (training views first); photos past it, or
    /// that the device has no memory for, are uploaded at each use instead.
    #[arg(long, default_value_t = TrainConfig::default().image_cache_bytes >> 20)]
    image_cache_mb: u64,
    /// Steps between evaluations on the test views (0: only at the end).
    #[arg(long, default_value_t = 1000)]
    eval_every: u32,
    /// How the set of Gaussians changes: `adc` (the 3DGS paper's clone/split/prune), `mcmc`
    /// (relocation and growth up to --max-gaussians, with position noise) or `fixed`.
    #[arg(long, value_enum, default_value_t = StrategyArg::Adc)]
    strategy: StrategyArg,
    /// Multiply the step-based settings (densification window, opacity reset, SH interval,
    /// position learning-rate decay; not the densification interval) by --steps / 30000, compressing the paper's
    /// schedule into a shorter run. Without it a short run keeps the paper's step numbers.
    #[arg(long)]
    scale_schedule: bool,
    /// Position learning rate at the start, times the scene extent.
    #[arg(long, default_value_t = TrainConfig::default().lr_position.0)]
    lr_position: f32,
    /// Position learning rate after the decay (at step 30000, or --steps with --scale-schedule).
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
    /// Steps between SH degree increases.
    #[arg(long, default_value_t = TrainConfig::default().sh_interval)]
    sh_interval: u32,
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
    #[command(flatten)]
    densify: DensifyArgs,
    #[command(flatten)]
    mcmc: McmcArgs,
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
    /// First step after which MCMC relocates and grows.
    #[arg(long, default_value_t = McmcConfig::default().from)]
    mcmc_from: u32,
    /// Step at which MCMC relocation and growth stop.
    #[arg(long, default_value_t = McmcConfig::default().until)]
    mcmc_until: u32,
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
        McmcConfig {
            max_gaussians: self.max_gaussians,
            from: self.mcmc_from,
            until: self.mcmc_until,
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
    /// First step after which Gaussians are densified.
    #[arg(long, default_value_t = DensifyConfig::default().from)]
    densify_from: u32,
    /// Step at which densification (and opacity reset) stops.
    #[arg(long, default_value_t = DensifyConfig::default().until)]
    densify_until: u32,
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
    #[arg(long, default_value_t = DensifyConfig::default().opacity_reset_every)]
    opacity_reset_every: u32,
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

impl DensifyArgs {
    fn config(&self) -> DensifyConfig {
        DensifyConfig {
            from: self.densify_from,
            until: self.densify_until,
            every: self.densify_every,
            grad_threshold: self.densify_grad_threshold,
            percent_dense: self.percent_dense,
            opacity_reset_every: self.opacity_reset_every,
            min_opacity: self.prune_opacity,
            max_world_scale: self.prune_world_scale,
            max_screen_radius: self.prune_screen_radius,
        }
    }
}

pub fn run(a: TrainArgs) -> Result<()> {
    let data = pinhole_dataset(Dataset::load(&a.data)?, &a.output)?;
    let cfg = TrainConfig {
        steps: a.steps,
        seed: a.seed,
        max_sh_degree: a.sh_degree.min(3),
        background: a
            .background
            .unwrap_or_else(|| data.source.default_background()),
        lr_position: (a.lr_position, a.lr_position_final),
        lr_sh_dc: a.lr_sh_dc,
        lr_sh_rest: a.lr_sh_rest,
        lr_opacity: a.lr_opacity,
        lr_scale: a.lr_scale,
        lr_rotation: a.lr_rotation,
        lambda: a.lambda_dssim,
        sh_interval: a.sh_interval,
        resolution: a.resolution,
        image_cache_bytes: a.image_cache_mb << 20,
        strategy: match a.strategy {
            StrategyArg::Adc => Strategy::Adc(a.densify.config()),
            StrategyArg::Mcmc => Strategy::Mcmc(a.mcmc.config(a.densify.prune_opacity)),
            StrategyArg::Fixed => Strategy::Fixed,
        },
        ..TrainConfig::default()
    };
    let cfg = if a.scale_schedule {
        cfg.with_schedule_scaled(f64::from(a.steps) / f64::from(TrainConfig::default().steps))
    } else {
        cfg
    };
    let init = initial_gaussians(&data.model, cfg.max_sh_degree, a.seed);
    let ctx = gpu::GpuContext::new()?;
    let mut trainer = Trainer::new(&ctx, &data, &init, cfg.clone())?;
    let (cached, views) = trainer.cached_views();
    if cached < views {
        eprintln!(
            "{cached} of {views} photos cached on the GPU (--image-cache-mb {}); the rest are uploaded at each use",
            a.image_cache_mb
        );
    }
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let ckpt_dir = a
        .checkpoint_dir
        .clone()
        .unwrap_or_else(|| a.output.join("checkpoints"));
    let metrics_path = a.output.join("metrics.jsonl");
    let mut kept_metrics = String::new();
    // Training time spent before the checkpoint resumed from, so that times add up over restarts.
    let mut earlier_secs = 0.0;
    if a.resume {
        if let Some((path, c)) = newest_checkpoint(&ckpt_dir) {
            trainer.restore(&c)?;
            earlier_secs = c.header.elapsed_s;
            eprintln!(
                "resuming from {} (step {}, {} Gaussians)",
                path.display(),
                c.header.step,
                c.header.count
            );
            kept_metrics = metrics_up_to(&metrics_path, c.header.step);
        } else {
            eprintln!(
                "no checkpoint in {}: starting from scratch",
                ckpt_dir.display()
            );
        }
    }
    let mut metrics = std::fs::File::create(&metrics_path)
        .with_context(|| format!("creating {}", metrics_path.display()))?;
    metrics.write_all(kept_metrics.as_bytes())?;
    eprintln!(
        "training {} Gaussians on {} views ({} test) for {} steps on {}",
        trainer.gaussian_count(),
        trainer.train.len(),
        trainer.test.len(),
        a.steps,
        ctx.info.name
    );
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        // Only one handler per process; a second `run` in the same process keeps the first.
        let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
    }
    let start = Instant::now();
    // Seconds of this run spent evaluating, left out of the training time.
    let evaluating = std::cell::Cell::new(0.0);
    let evaluate = |trainer: &Trainer| {
        let t = Instant::now();
        let e = trainer.evaluate_full();
        evaluating.set(evaluating.get() + t.elapsed().as_secs_f64());
        e
    };
    // Training time since step 0 (earlier runs included), without evaluations.
    let elapsed = || earlier_secs + start.elapsed().as_secs_f64() - evaluating.get();
    let save = |trainer: &Trainer| -> Result<PathBuf> {
        std::fs::create_dir_all(&ckpt_dir)
            .with_context(|| format!("creating {}", ckpt_dir.display()))?;
        let path = checkpoint::path_for(&ckpt_dir, trainer.step);
        let mut c = trainer.checkpoint()?;
        c.header.elapsed_s = elapsed();
        c.write(&path)?;
        checkpoint::prune(&ckpt_dir, 2);
        Ok(path)
    };
    let progress = crate::progress::Progress::new("training", u64::from(a.steps));
    progress.set_done(u64::from(trainer.step));
    trainer.set_profiling(a.profile);
    let first_step = trainer.step;
    let mut last_psnr = None;
    // (step, training time) at the last evaluation, for the steps/s between evaluations.
    let mut since = (first_step, elapsed());
    // Evaluates the model as it is after `step` steps: a metrics line and a terminal line.
    let mut report = |trainer: &Trainer, metrics: &mut std::fs::File, step: u32| -> Result<f64> {
        let rate = f64::from(step - since.0) / (elapsed() - since.1);
        since = (step, elapsed());
        let e = evaluate(trainer)?;
        let memory = ctx.device_memory();
        writeln!(
            metrics,
            "{}",
            serde_json::json!({ "step": step, "test_psnr": e.psnr, "test_ssim": e.ssim, "gaussians": trainer.gaussian_count(), "elapsed_s": elapsed(), "steps_per_second": rate, "gpu_memory_bytes": memory.map(|m| m.reserved), "peak_gpu_memory_bytes": trainer.peak_device_memory().map(|m| m.reserved) })
        )?;
        eprintln!(
            "step {step}: test PSNR {:.2} dB, SSIM {:.4}, {} Gaussians, {rate:.2} steps/s, GPU memory {}",
            e.psnr,
            e.ssim,
            trainer.gaussian_count(),
            mib(memory)
        );
        Ok(e.psnr)
    };
    // About a hundred loss readings per run, at least every 100 steps.
    let log_every = (a.steps / 100).clamp(1, 100);
    for s in first_step..a.steps {
        let log = s % log_every == 0 || s + 1 == a.steps;
        let eval_due = a.eval_every > 0 && (s + 1) % a.eval_every == 0 && s + 1 != a.steps;
        // An evaluation due right after an opacity reset would score the nearly transparent
        // model the reset leaves (the next steps restore it), so it is taken just before that
        // step instead, as the reference implementation's evaluations are.
        let eval_first = eval_due && trainer.resets_opacity_at(s + 1);
        if eval_first {
            last_psnr = Some(report(&trainer, &mut metrics, s)?);
        }
        let stepped = match trainer.step(log) {
            Ok(l) => l,
            Err(e) => {
                progress.finish();
                return Err(failed_step(&trainer, e, &ckpt_dir, &save));
            }
        };
        if let Some(l) = stepped {
            if !l.total.is_finite() {
                anyhow::bail!(
                    "the loss became {} at step {}; the model diverged. The newest checkpoint in {} is intact; \
                     lower the learning rates (--lr-position, --lr-opacity, …) or check the input images",
                    l.total,
                    s + 1,
                    ckpt_dir.display()
                );
            }
            let line = serde_json::json!({ "step": s + 1, "loss": l.total, "l1": l.l1, "ssim": l.ssim, "gaussians": trainer.gaussian_count(), "elapsed_s": elapsed() });
            writeln!(metrics, "{line}")?;
            println!(
                "step={} loss={:.6} psnr={}",
                s + 1,
                l.total,
                last_psnr.map_or("-".to_string(), |p: f64| format!("{p:.3}"))
            );
            progress.set_status(format!(
                "loss {:.4} · test PSNR {} · {} Gaussians",
                l.total,
                last_psnr.map_or("-".to_string(), |p: f64| format!("{p:.2}")),
                trainer.gaussian_count()
            ));
        }
        if eval_due && !eval_first {
            last_psnr = Some(report(&trainer, &mut metrics, s + 1)?);
        }
        if a.checkpoint_every > 0 && (s + 1) % a.checkpoint_every == 0 && s + 1 != a.steps {
            save(&trainer)?;
        }
        if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            progress.finish();
            let path = save(&trainer)?;
            anyhow::bail!(
                "interrupted at step {}; checkpoint written to {}; continue with --resume",
                s + 1,
                path.display()
            );
        }
        progress.inc();
    }
    progress.finish();
    let e = evaluate(&trainer)?;
    let psnr = e.psnr;
    writeln!(
        metrics,
        "{}",
        serde_json::json!({ "step": a.steps, "test_psnr": e.psnr, "test_ssim": e.ssim, "gaussians": trainer.gaussian_count(), "elapsed_s": elapsed() })
    )?;
    drop(metrics);
    let cloud = trainer.download()?;
    let ply = a.output.join("point_cloud.ply");
    scene::ply::write_ply(&ply, &cloud)?;
    let secs = start.elapsed().as_secs_f64();
    let training_secs = secs - evaluating.get();
    let eval = serde_json::json!({
        "steps": a.steps,
        "test_psnr": e.psnr,
        "test_ssim": e.ssim,
        "held_out": !trainer.test.is_empty(),
        "gaussians": cloud.len(),
        "seconds": secs,
        "evaluation_seconds": evaluating.get(),
        "training_seconds_since_step_0": earlier_secs + training_secs,
        "steps_per_second": f64::from(a.steps - first_step) / training_secs,
        "resumed_from_step": first_step,
        "device": ctx.info.name,
        // Device memory wgpu's allocator held, most after any step of this run (null where the
        // backend keeps no report): reserved from the driver, and in live buffers.
        "peak_gpu_memory_bytes": trainer.peak_device_memory().map(|m| m.reserved),
        "peak_gpu_allocated_bytes": trainer.peak_device_memory().map(|m| m.allocated),
        "views": e.views,
    });
    scene::write_atomic_bytes(
        &a.output.join("eval.json"),
        serde_json::to_string_pretty(&eval)?.as_bytes(),
    )?;
    write_pictures(&trainer, &metrics_path, &a.output, a.steps)?;
    if let Some(p) = trainer.profile() {
        write_profile(p, &a.output.join("profile.json"))?;
    }
    println!(
        "trained {} steps in {:.1} s ({:.2} steps/s, evaluations not counted); test PSNR {:.2} dB; peak GPU memory {}; wrote {}",
        a.steps - first_step,
        training_secs,
        f64::from(a.steps - first_step) / training_secs,
        psnr,
        mib(trainer.peak_device_memory()),
        ply.display()
    );
    Ok(())
}

/// Device memory for the terminal: reserved MiB, or "not reported" where the backend keeps none.
fn mib(m: Option<gpu::DeviceMemory>) -> String {
    m.map_or("not reported".to_string(), |m| {
        format!("{:.1} MiB", m.reserved as f64 / f64::from(1u32 << 20))
    })
}

/// Prints where the profiled steps' time went and writes the same to `path` as JSON.
fn write_profile(p: &splat_train::train::StageTimes, path: &Path) -> Result<()> {
    let total = p.total();
    let steps = p.steps.max(1) as f64;
    println!(
        "time per step by stage ({} steps, {:.1} ms a step):",
        p.steps,
        total / steps * 1e3
    );
    let mut stages = Vec::new();
    for (stage, secs, runs) in &p.stages {
        println!(
            "  {stage:<30} {:>10.2} ms {:>5.1} %",
            secs / steps * 1e3,
            100.0 * secs / total.max(f64::MIN_POSITIVE)
        );
        stages.push(serde_json::json!({ "stage": stage, "seconds": secs, "runs": runs, "ms_per_step": secs / steps * 1e3 }));
    }
    let json = serde_json::json!({ "steps": p.steps, "seconds": total, "stages": stages });
    scene::write_atomic_bytes(path, serde_json::to_string_pretty(&json)?.as_bytes())?;
    Ok(())
}

/// The newest checkpoint in `dir` that reads back, falling back to older ones with a warning.
fn newest_checkpoint(dir: &Path) -> Option<(PathBuf, Checkpoint)> {
    for (_, path) in checkpoint::list(dir).into_iter().rev() {
        match Checkpoint::read(&path) {
            Ok(c) => return Some((path, c)),
            Err(e) => eprintln!("warning: skipping checkpoint {e}"),
        }
    }
    None
}

/// The lines of a metrics file up to and including `step` (a resumed run rewrites the rest).
fn metrics_up_to(path: &Path, step: u32) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| s <= u64::from(step))
        })
        .map(|l| format!("{l}\n"))
        .collect()
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
            truth: tv.pixels.clone(),
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
    if scene::colmap::find_model_dir(&dir).is_none() {
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
        scene::undistort::undistort_workspace_with_progress(
            &data.model,
            &data.image_root,
            &dir,
            &|_| progress.inc(),
        )?;
        progress.finish();
    }
    Ok(Dataset::load(&dir)?)
}

/// The error for a step that failed on the GPU, with what is kept: a checkpoint of the last
/// completed step where the model is intact and one is due (steps were trained since the
/// newest), else the newest checkpoint already written.
fn failed_step(
    trainer: &Trainer,
    e: splat_train::train::TrainError,
    ckpt_dir: &Path,
    save: &dyn Fn(&Trainer) -> Result<PathBuf>,
) -> anyhow::Error {
    let newest = checkpoint::list(ckpt_dir).pop();
    let due = newest.as_ref().is_none_or(|(step, _)| *step < trainer.step) && trainer.step > 0;
    let kept = if due && trainer.state_intact() {
        match save(trainer) {
            Ok(path) => format!(
                "a checkpoint of step {} (the last completed) was written to {}; continue with --resume",
                trainer.step,
                path.display()
            ),
            Err(w) => format!(
                "writing a checkpoint of step {} failed too: {w:#}",
                trainer.step
            ),
        }
    } else if let Some((step, path)) = newest {
        format!(
            "the newest checkpoint, of step {step}, is intact: {}; continue with --resume",
            path.display()
        )
    } else {
        "no checkpoint was due".to_string()
    };
    anyhow::anyhow!("{:#}; {kept}", anyhow::Error::new(e))
}

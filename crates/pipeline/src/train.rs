//! `splat train`: 3DGS training on a COLMAP workspace or a transforms folder.

use anyhow::{Context, Result};
use scene::dataset::Dataset;
use splat_train::train::{TrainConfig, Trainer, initial_gaussians};
use std::io::Write;
use std::path::PathBuf;
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
    /// Background colour, three numbers in [0, 1] (white for Blender scenes).
    #[arg(long, value_parser = crate::render::parse_rgb, default_value = "0,0,0")]
    background: [f64; 3],
    /// Steps between evaluations on the test views (0: only at the end).
    #[arg(long, default_value_t = 1000)]
    eval_every: u32,
}

pub fn run(a: TrainArgs) -> Result<()> {
    let data = Dataset::load(&a.data)?;
    let cfg = TrainConfig {
        steps: a.steps,
        seed: a.seed,
        max_sh_degree: a.sh_degree.min(3),
        background: a.background,
        ..TrainConfig::default()
    };
    let init = initial_gaussians(&data.model, cfg.max_sh_degree, a.seed);
    let ctx = gpu::GpuContext::new()?;
    let mut trainer = Trainer::new(&ctx, &data, &init, cfg.clone())?;
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let metrics_path = a.output.join("metrics.jsonl");
    let mut metrics = std::fs::File::create(&metrics_path)
        .with_context(|| format!("creating {}", metrics_path.display()))?;
    eprintln!(
        "training {} Gaussians on {} views ({} test) for {} steps on {}",
        init.len(),
        trainer.train.len(),
        trainer.test.len(),
        a.steps,
        ctx.info.name
    );
    let progress = crate::progress::Progress::new("training", u64::from(a.steps));
    let start = Instant::now();
    let mut last_psnr = None;
    for s in 0..a.steps {
        let log = s % 100 == 0 || s + 1 == a.steps;
        if let Some(l) = trainer.step(log)? {
            let line = serde_json::json!({ "step": s + 1, "loss": l.total, "l1": l.l1, "ssim": l.ssim, "gaussians": init.len(), "elapsed_s": start.elapsed().as_secs_f64() });
            writeln!(metrics, "{line}")?;
            println!(
                "step={} loss={:.6} psnr={}",
                s + 1,
                l.total,
                last_psnr.map_or("-".to_string(), |p: f64| format!("{p:.3}"))
            );
        }
        if a.eval_every > 0 && (s + 1) % a.eval_every == 0 && s + 1 != a.steps {
            let p = trainer.evaluate()?;
            last_psnr = Some(p);
            writeln!(
                metrics,
                "{}",
                serde_json::json!({ "step": s + 1, "test_psnr": p })
            )?;
        }
        progress.inc();
    }
    progress.finish();
    let psnr = trainer.evaluate()?;
    writeln!(
        metrics,
        "{}",
        serde_json::json!({ "step": a.steps, "test_psnr": psnr })
    )?;
    let cloud = trainer.download()?;
    let ply = a.output.join("point_cloud.ply");
    scene::ply::write_ply(&ply, &cloud)?;
    let secs = start.elapsed().as_secs_f64();
    let eval = serde_json::json!({ "steps": a.steps, "test_psnr": psnr, "gaussians": cloud.len(), "seconds": secs, "device": ctx.info.name });
    scene::write_atomic_bytes(
        &a.output.join("eval.json"),
        serde_json::to_string_pretty(&eval)?.as_bytes(),
    )?;
    println!(
        "trained {} steps in {:.1} s ({:.1} steps/s); test PSNR {:.2} dB; wrote {}",
        a.steps,
        secs,
        f64::from(a.steps) / secs,
        psnr,
        ply.display()
    );
    Ok(())
}

//! `splat eval`: PSNR and SSIM of a model (`crate::model_file`: a run still training is judged
//! by its newest checkpoint) on a dataset's held-out views (every 8th image of
//! a COLMAP workspace, `transforms_test.json` of a Blender folder; all views when none is held out).

use anyhow::{Result, bail};
use splat_scene::dataset::Dataset;
use splat_train::train::{Evaluation, TrainConfig, default_near, load_views, score_views};
use splat_train::{Gaussians32, GpuGaussians, PhotometricLoss, Rasterizer};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// The model: a 3DGS PLY (or .compressed.ply, .splat, .spz, .sog), a training checkpoint
    /// (.ckpt), or a `splat run` / `splat train` folder (while it trains, its newest checkpoint).
    model: PathBuf,
    /// A COLMAP workspace (PINHOLE cameras) or a folder with transforms_*.json.
    data: PathBuf,
    /// Background colour the photos are composited on and the model is rendered over. Default:
    /// white for Blender (transforms_*.json) scenes, black for COLMAP workspaces.
    #[arg(long, value_parser = crate::render::parse_rgb)]
    background: Option<[f64; 3]>,
    /// Evaluate at this longest image side (photos downscaled with an area filter, as
    /// `splat train --resolution`).
    #[arg(long)]
    resolution: Option<u32>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: EvalArgs) -> Result<()> {
    let data = Dataset::load(&a.data)?;
    let (file, cloud) = crate::model_file::read_cloud(&a.model)?;
    let ctx = splat_gpu::GpuContext::new()?;
    let near = default_near(&data.model);
    let background = a
        .background
        .unwrap_or_else(|| data.source.default_background());
    let mut budget = TrainConfig::default().image_cache_bytes;
    let mut views = load_views(
        &ctx,
        &data,
        true,
        background,
        near,
        a.resolution,
        &mut budget,
    )?;
    let held_out = !views.is_empty();
    if !held_out {
        views = load_views(
            &ctx,
            &data,
            false,
            background,
            near,
            a.resolution,
            &mut budget,
        )?;
    }
    if views.is_empty() {
        bail!("{}: no images to evaluate on", a.data.display());
    }
    let g = GpuGaussians::upload(&ctx, &Gaussians32::from_cloud(&cloud))?;
    let scores = score_views(
        &ctx,
        &Rasterizer::new(&ctx)?,
        &PhotometricLoss::new(&ctx)?,
        &g,
        &views,
    )?;
    let e = Evaluation::of(scores);
    if a.json {
        let doc = serde_json::json!({ "model": a.model, "model_file": file, "gaussians": cloud.len(), "held_out": held_out, "psnr": e.psnr, "ssim": e.ssim, "views": e.views });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for v in &e.views {
            println!("{}: PSNR {:.3} dB, SSIM {:.4}", v.name, v.psnr, v.ssim);
        }
        let which = if held_out {
            "test"
        } else {
            "all (none held out)"
        };
        println!(
            "{} {which} views: PSNR {:.3} dB, SSIM {:.4} ({} Gaussians)",
            e.views.len(),
            e.psnr,
            e.ssim,
            cloud.len()
        );
    }
    Ok(())
}

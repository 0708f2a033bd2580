//! `splat generate`: writes the built-in scene with exact cameras.

use anyhow::{Context, Result};
use splat_datasets::SceneSpec;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Output folder (images/, sparse/0/, transforms_train.json, transforms_test.json, manifest.json).
    #[arg(short, long)]
    output: PathBuf,
    /// Number of views.
    #[arg(long, default_value_t = SceneSpec::default().views)]
    views: usize,
    /// Image width in pixels.
    #[arg(long, default_value_t = SceneSpec::default().width)]
    width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = SceneSpec::default().height)]
    height: u32,
    /// Seed for the scene layout and textures.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Rays per pixel along each axis (anti-aliasing).
    #[arg(long, default_value_t = SceneSpec::default().samples)]
    samples: u32,
    /// Surface points to sample for points3D.
    #[arg(long, default_value_t = SceneSpec::default().points)]
    points: usize,
    /// Also write `surface.ply`: this many Gaussians lying on the scene's surfaces (a stand-in
    /// model for `splat render` and benchmarks until one is trained).
    #[arg(long)]
    cloud: Option<usize>,
}

pub fn run(a: GenerateArgs) -> Result<()> {
    let spec = SceneSpec {
        views: a.views,
        width: a.width,
        height: a.height,
        seed: a.seed,
        samples: a.samples,
        points: a.points,
        ..SceneSpec::default()
    };
    let start = Instant::now();
    eprintln!(
        "rendering {} views at {}x{} ({} rays/pixel)…",
        spec.views,
        spec.width,
        spec.height,
        spec.samples * spec.samples
    );
    let progress = crate::progress::Progress::new("rendering", spec.views as u64);
    let g = splat_datasets::generate_with_progress(&spec, &a.output, &|_| progress.inc())
        .with_context(|| format!("generating the built-in scene into {}", a.output.display()))?;
    progress.finish();
    let rec = &g.reconstruction;
    println!(
        "wrote {}: {} images, {} 3D points, exact PINHOLE cameras in sparse/0, transforms_train.json / transforms_test.json ({:.1} s)",
        a.output.display(),
        rec.images.len(),
        rec.points3d.len(),
        start.elapsed().as_secs_f64()
    );
    if let Some(n) = a.cloud {
        let cloud = splat_datasets::surface_cloud(&g, n, a.seed);
        let path = a.output.join("surface.ply");
        splat_scene::ply::write_ply(&path, &cloud)?;
        println!(
            "wrote {} ({} Gaussians on the scene's surfaces, SH degree 3)",
            path.display(),
            cloud.len()
        );
    }
    Ok(())
}

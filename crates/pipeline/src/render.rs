//! `splat render`: pictures of a model (any form `crate::model_file` reads) from the cameras of
//! a COLMAP workspace or a Blender/nerfstudio `transforms_*.json` folder, on the GPU.

use anyhow::{Context, Result, bail};
use splat_scene::Reconstruction;
use splat_train::{Gaussians32, GpuGaussians, Rasterizer, View};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub struct RenderArgs {
    /// The model: a 3DGS PLY (or .compressed.ply, .splat, .spz, .sog), a training checkpoint
    /// (.ckpt), or a `splat run` / `splat train` folder (while it trains, its newest checkpoint).
    model: PathBuf,
    /// Cameras: a COLMAP workspace (sparse/0, binary or text) or a folder with transforms_*.json.
    data: PathBuf,
    /// The view to render, counted from 0 in sorted image-name order.
    #[arg(long, conflicts_with = "all")]
    view: Option<usize>,
    /// Render every view into the folder given by -o.
    #[arg(long)]
    all: bool,
    /// Output PNG (or folder with --all).
    #[arg(short, long)]
    output: PathBuf,
    /// Background colour, three numbers in [0, 1].
    #[arg(long, value_parser = parse_rgb, default_value = "0,0,0")]
    background: [f64; 3],
    /// Near plane (camera z); default 1 % of the scene extent, as in training.
    #[arg(long)]
    near: Option<f64>,
}

/// Parses "R,G,B" with each value in [0, 1].
pub fn parse_rgb(s: &str) -> Result<[f64; 3], String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| {
            x.trim()
                .parse::<f64>()
                .map_err(|_| format!("'{x}' is not a number"))
        })
        .collect::<Result<_, _>>()?;
    match v.as_slice() {
        [r, g, b] if v.iter().all(|c| (0.0..=1.0).contains(c)) => Ok([*r, *g, *b]),
        _ => Err(format!(
            "expected three numbers in [0, 1] like 1,1,1, got '{s}'"
        )),
    }
}

/// Cameras and image names from either kind of dataset.
pub fn load_cameras(data: &Path) -> Result<Reconstruction> {
    Ok(splat_scene::dataset::Dataset::load(data)?.model)
}

fn to_png(out: &splat_train::RenderOutput) -> image::RgbImage {
    let mut img = image::RgbImage::new(out.width, out.height);
    for (p, c) in img.pixels_mut().zip(&out.color) {
        for k in 0..3 {
            p[k] = (c[k].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    img
}

pub fn run(a: RenderArgs) -> Result<()> {
    let (file, cloud) = crate::model_file::read_cloud(&a.model)?;
    let rec = load_cameras(&a.data)?;
    let images = rec.images_by_name();
    let chosen: Vec<usize> = match (a.view, a.all) {
        (Some(v), false) => {
            if v >= images.len() {
                bail!(
                    "--view {v}: {} has only {} views (0..{})",
                    a.data.display(),
                    images.len(),
                    images.len().saturating_sub(1)
                );
            }
            vec![v]
        }
        (None, true) => (0..images.len()).collect(),
        _ => bail!("give --view N or --all"),
    };
    let background = a.background;
    let near = a
        .near
        .unwrap_or_else(|| splat_train::train::default_near(&rec));
    let ctx = splat_gpu::GpuContext::new()?;
    let raster = Rasterizer::new(&ctx)?;
    let gpu_g = GpuGaussians::upload(&ctx, &Gaussians32::from_cloud(&cloud))
        .with_context(|| format!("{}: model too large for {}", file.display(), ctx.info.name))?;
    let mut frame = splat_train::Frame::empty(&ctx);
    let progress = crate::progress::Progress::new("rendering", chosen.len() as u64);
    let start = Instant::now();
    for &v in &chosen {
        let im = images[v];
        let cam = &rec.cameras[&im.camera_id];
        let view = View::from_colmap(cam, im, near, background).with_context(|| {
            format!("view {v} ('{}') has a {} camera; run `splat undistort` first to get PINHOLE cameras", im.name, cam.model)
        })?;
        raster.forward_into(&ctx, &gpu_g, &view, &mut frame)?;
        let out = frame.read(&ctx)?;
        let path = if a.all {
            let stem = Path::new(&im.name).with_extension("png");
            a.output.join(stem.file_name().unwrap_or(stem.as_os_str()))
        } else {
            a.output.clone()
        };
        splat_scene::images::save(&path, &image::DynamicImage::ImageRgb8(to_png(&out)))?;
        progress.inc();
    }
    progress.finish();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "rendered {} view(s) of {} Gaussians on {} in {:.2} s ({:.1} ms/view) -> {}",
        chosen.len(),
        cloud.len(),
        ctx.info.name,
        secs,
        1000.0 * secs / chosen.len() as f64,
        a.output.display()
    );
    Ok(())
}

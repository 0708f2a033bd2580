//! Tile keys of a trained model with the 3σ and the opacity-aware tile bounds, on a dataset's
//! test views: (tile, Gaussian) pairs per frame for each, and whether the frames and gradients
//! (for a fixed dL/d(image)) agree. Times per frame are printed too, but they are only as steady
//! as the machine: compare speed with `splat train --profile` or the raster bench on an idle one.
//!
//! `cargo run --release -p splat-train --example tile_keys -- MODEL.ply DATA [RESOLUTION]`

use splat_scene::dataset::Dataset;
use splat_train::train::{TrainConfig, default_near, load_views};
use splat_train::{Gaussians32, GpuGaussians, Rasterizer, TileBounds};
use std::time::Instant;

/// A frame's colour, its mean gradients and its opacity gradients.
type Outputs = (Vec<[f32; 4]>, Vec<[f32; 3]>, Vec<f32>);

/// How many values differ, and by at most how much.
fn differences(a: &[f32], b: &[f32]) -> String {
    let (count, worst) = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x != y)
        .fold((0, 0f32), |(n, w), (x, y)| (n + 1, w.max((x - y).abs())));
    format!("{count} differ (by up to {worst:e})")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, data, rest @ ..] = args.as_slice() else {
        return Err("usage: tile_keys MODEL.ply DATA [RESOLUTION]".into());
    };
    let resolution = rest.first().map(|r| r.parse::<u32>()).transpose()?;
    let data = Dataset::load(std::path::Path::new(data))?;
    let cloud = splat_scene::ply::read_ply(std::path::Path::new(model))?;
    let ctx = splat_gpu::GpuContext::new()?;
    let background = data.source.default_background();
    let mut budget = TrainConfig::default().image_cache_bytes;
    let near = default_near(&data.model);
    let views = load_views(&ctx, &data, true, background, near, resolution, &mut budget)?;
    let g = GpuGaussians::upload(&ctx, &Gaussians32::from_cloud(&cloud))?;
    let wide = Rasterizer::new(&ctx)?.with_bounds(TileBounds::ThreeSigma);
    let tight = Rasterizer::new(&ctx)?.with_bounds(TileBounds::OpacityAware);
    let (mut keys, mut secs, mut same) = ([0u64; 2], [0f64; 2], true);
    for tv in &views {
        let v = &tv.view;
        let d_image = splat_gpu::storage_buffer(
            &ctx,
            "d_image",
            &vec![[1e-3f32, -2e-3, 1.5e-3, 0.0]; (v.width * v.height) as usize],
        );
        let mut outputs: Vec<Outputs> = Vec::new();
        for (k, r) in [&wide, &tight].into_iter().enumerate() {
            let start = Instant::now();
            let frame = r.forward(&ctx, &g, v)?;
            let grads = r.backward(&ctx, &g, &frame, &d_image)?.read(&ctx)?;
            secs[k] += start.elapsed().as_secs_f64();
            let out = frame.read(&ctx)?;
            keys[k] += u64::from(out.keys);
            outputs.push((out.color, grads.means, grads.opacities));
        }
        if outputs[0] != outputs[1] {
            same = false;
            let colour = |o: &Outputs| o.0.iter().flatten().copied().collect::<Vec<f32>>();
            let means = |o: &Outputs| o.1.iter().flatten().copied().collect::<Vec<f32>>();
            eprintln!(
                "{}: colour {}, mean gradients {}, opacity gradients {}",
                tv.name,
                differences(&colour(&outputs[0]), &colour(&outputs[1])),
                differences(&means(&outputs[0]), &means(&outputs[1])),
                differences(&outputs[0].2, &outputs[1].2),
            );
        }
    }
    let n = views.len() as f64;
    println!(
        "{} Gaussians, {} test views: 3σ {:.0} keys/frame ({:.0} ms forward+backward), opacity-aware {:.0} keys/frame ({:.0} ms): {:.1} % of the keys; frames and gradients {}",
        cloud.len(),
        views.len(),
        keys[0] as f64 / n,
        1e3 * secs[0] / n,
        keys[1] as f64 / n,
        1e3 * secs[1] / n,
        100.0 * keys[1] as f64 / keys[0] as f64,
        if same { "identical" } else { "DIFFER" }
    );
    Ok(())
}

//! Which attribute's quantization costs a model its PSNR. The model is quantized as a SOG v2 file
//! would store it and decoded back (in memory: the images are lossless); then one PLY per
//! attribute group is written with only that group taken from the decoded scene and every other
//! attribute exact, plus the fully decoded scene. Scoring each with `splat eval` on the model's
//! views splits the file's PSNR loss by attribute:
//!
//! ```text
//! cargo run --release -p splat-sogs --example attribute_loss -- MODEL.ply OUT \
//!     [--position-bits B] [--sh-levels L] [--palette-size P]
//! for f in OUT/*.ply; do splat eval "$f" DATA --resolution 200; done
//! ```

use splat_scene::GaussianCloud;
use splat_scene::ply::{read_ply, write_ply};
use splat_sogs::CompressOptions;
use std::path::PathBuf;

/// Copies one attribute group from the decoded scene (second) into the exact one (first).
type Take = fn(&mut GaussianCloud, &GaussianCloud);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: attribute_loss MODEL.ply OUT [--position-bits B] [--sh-levels L] [--palette-size P]";
    let model = PathBuf::from(args.next().ok_or(usage)?);
    let out = PathBuf::from(args.next().ok_or(usage)?);
    let mut opts = CompressOptions::default();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(usage)?;
        match flag.as_str() {
            "--position-bits" => opts.position_bits = value.parse()?,
            "--sh-levels" => opts.sh_levels = value.parse()?,
            "--palette-size" => opts.palette_size = Some(value.parse()?),
            _ => return Err(usage.into()),
        }
    }
    let cloud = read_ply(&model)?;
    let quantized = splat_sogs::quantize_on(&cloud, &opts, None, &())?;
    let decoded = splat_sogs::decode(&quantized.sog)?;
    // Texel i holds Gaussian order[i]: put the decoded scene back in the model's order.
    let mut back = cloud.clone();
    let rest = cloud.sh_rest.len() / cloud.len().max(1);
    for (texel, &source) in quantized.order.iter().enumerate() {
        let (t, s) = (texel, source as usize);
        back.means[s] = decoded.means[t];
        back.sh_dc[s] = decoded.sh_dc[t];
        back.opacity[s] = decoded.opacity[t];
        back.log_scales[s] = decoded.log_scales[t];
        back.rotations[s] = decoded.rotations[t];
        back.sh_rest[s * rest..(s + 1) * rest]
            .copy_from_slice(&decoded.sh_rest[t * rest..(t + 1) * rest]);
    }
    std::fs::create_dir_all(&out)?;
    let groups: [(&str, Take); 7] = [
        ("positions", |c, d| c.means.clone_from(&d.means)),
        ("scales", |c, d| c.log_scales.clone_from(&d.log_scales)),
        ("rotations", |c, d| c.rotations.clone_from(&d.rotations)),
        ("opacity", |c, d| c.opacity.clone_from(&d.opacity)),
        ("colour", |c, d| c.sh_dc.clone_from(&d.sh_dc)),
        ("sh_rest", |c, d| c.sh_rest.clone_from(&d.sh_rest)),
        ("all", |c, d| c.clone_from(d)),
    ];
    write_ply(&out.join("exact.ply"), &cloud)?;
    for (name, take) in groups {
        let mut mixed = cloud.clone();
        take(&mut mixed, &back);
        write_ply(&out.join(format!("only_{name}.ply")), &mixed)?;
    }
    println!(
        "{} Gaussians, SH degree {}, palette {} (mse {:.3e}); PLYs in {}",
        cloud.len(),
        cloud.sh_degree,
        quantized.palette_size,
        quantized.palette_mse,
        out.display()
    );
    Ok(())
}

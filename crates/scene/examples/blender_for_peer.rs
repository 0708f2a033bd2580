//! A Blender (NeRF-synthetic) scene as a peer trainer such as brush should get it, so that it
//! trains on exactly what `splat train --resolution PX` trains on: every photo composited over
//! the background and downscaled with the same area filter, saved as 8-bit PNG under its own
//! name plus `.png` (brush skips extension-less `file_path`s), and `points3d.ply`: random points
//! in the reference implementation's [−1.3, 1.3]³ cube (its start for synthetic scenes), named by
//! `ply_file_path` in `transforms_train.json`.
//!
//! `cargo run --release -p splat-scene --example blender_for_peer -- DATA OUT PX [POINTS]`
//! (POINTS: 100000, as the reference; the background is white, Blender scenes' default here).

use rand::{Rng, SeedableRng};
use splat_scene::images::{fit_longest, load_rgb, resize_area, save};
use std::io::Write;
use std::path::Path;

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, out, px, rest @ ..] = args.as_slice() else {
        return Err("usage: blender_for_peer DATA OUT PX [POINTS]".into());
    };
    let (data, out) = (Path::new(data), Path::new(out));
    let px: u32 = px.parse()?;
    let points: usize = rest.first().map_or(Ok(100_000), |p| p.parse())?;
    std::fs::create_dir_all(out)?;
    let mut photos = 0;
    for split in ["train", "test"] {
        let name = format!("transforms_{split}.json");
        let mut doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(data.join(&name))?)?;
        let frames = doc["frames"]
            .as_array_mut()
            .ok_or_else(|| format!("{}: no frames", data.join(&name).display()))?;
        for frame in frames {
            let file = frame["file_path"]
                .as_str()
                .ok_or("a frame without file_path")?
                .to_string();
            let source = [data.join(format!("{file}.png")), data.join(&file)]
                .into_iter()
                .find(|p| p.is_file())
                .ok_or_else(|| format!("{}: no such photo", data.join(&file).display()))?;
            let photo = load_rgb(&source, [1.0; 3])?;
            let (w, h) = fit_longest(photo.width(), photo.height(), px);
            let small = resize_area(&photo, w, h);
            let target = out.join(format!("{file}.png"));
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)?;
            }
            save(
                &target,
                &image::DynamicImage::ImageRgb8(image::DynamicImage::ImageRgb32F(small).to_rgb8()),
            )?;
            frame["file_path"] = serde_json::Value::String(format!("{file}.png"));
            photos += 1;
        }
        if split == "train" {
            doc["ply_file_path"] = serde_json::Value::String("points3d.ply".into());
        }
        std::fs::write(out.join(&name), serde_json::to_string_pretty(&doc)?)?;
    }
    write_points(&out.join("points3d.ply"), points)?;
    println!(
        "wrote {}: {photos} photos at {px} px, {points} random points",
        out.display()
    );
    Ok(())
}

/// `n` points uniform in [−1.3, 1.3]³, grey, as an ASCII point PLY (x, y, z, red, green, blue).
fn write_points(path: &Path, n: usize) -> Result<(), Failure> {
    let mut r = rand_pcg::Pcg64::seed_from_u64(0);
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "ply\nformat ascii 1.0\nelement vertex {n}")?;
    for p in ["x", "y", "z"] {
        writeln!(w, "property float {p}")?;
    }
    for c in ["red", "green", "blue"] {
        writeln!(w, "property uchar {c}")?;
    }
    writeln!(w, "end_header")?;
    for _ in 0..n {
        let [x, y, z]: [f32; 3] = std::array::from_fn(|_| r.random_range(-1.3..1.3));
        writeln!(w, "{x} {y} {z} 128 128 128")?;
    }
    Ok(())
}

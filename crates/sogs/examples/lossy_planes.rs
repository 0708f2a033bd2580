//! What lossy WebP would buy a SOG file, plane by plane: re-encodes one image of a `.sog` at a
//! time as lossy WebP (RGB lossy at each quality, alpha kept lossless) and writes each variant
//! as its own `.sog`, printing its size; scoring each decoded variant with `splat eval` gives
//! the PSNR it costs:
//!
//! ```text
//! cargo run --release -p splat-sogs --example lossy_planes -- IN.sog OUT [QUALITY…]
//! for f in OUT/*.sog; do splat decompress "$f" -o "${f%.sog}.ply"; splat eval "${f%.sog}.ply" DATA; done
//! ```

use splat_sogs::container;
use splat_sogs::planes::Image;
use std::path::{Path, PathBuf};

/// Planes whose values tolerate small errors (the high position byte and the palette labels
/// do not: one step there is a jump).
const PLANES: [&str; 5] = [
    "means_l.webp",
    "quats.webp",
    "scales.webp",
    "sh0.webp",
    "shN_centroids.webp",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: lossy_planes IN.sog OUT [QUALITY…]";
    let input = PathBuf::from(args.next().ok_or(usage)?);
    let out = PathBuf::from(args.next().ok_or(usage)?);
    let mut qualities: Vec<f32> = args.map(|q| q.parse()).collect::<Result<_, _>>()?;
    if qualities.is_empty() {
        qualities = vec![90.0, 98.0];
    }
    std::fs::create_dir_all(&out)?;
    let raw = container::read_raw(&input)?;
    let whole: usize = raw.files.iter().map(|(_, b)| b.len()).sum();
    println!("{}: {whole} bytes in its files", input.display());
    for plane in PLANES {
        let Some(index) = raw.files.iter().position(|(n, _)| n == plane) else {
            continue;
        };
        let image = container::decode_webp(&raw.files[index].1, plane, &input)?;
        for &q in &qualities {
            let lossy = encode_lossy(&image, q)?;
            let mut files = raw.files.clone();
            let before = files[index].1.len();
            files[index].1 = lossy;
            let name = format!("{}-q{q}.sog", plane.trim_end_matches(".webp"));
            let bytes = write(&out.join(&name), &files, &raw.meta)?;
            println!(
                "{name}: {plane} {before} → {} bytes; file {bytes} bytes",
                files[index].1.len()
            );
        }
    }
    Ok(())
}

/// Lossy WebP of `img`'s RGB at `quality`, its alpha lossless.
fn encode_lossy(img: &Image, quality: f32) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut config = webp::WebPConfig::new().map_err(|_| "libwebp config")?;
    config.lossless = 0;
    config.quality = quality;
    config.method = 6;
    config.alpha_compression = 1;
    config.alpha_quality = 100;
    config.alpha_filtering = 2;
    config.exact = 1;
    config.use_sharp_yuv = 1;
    let encoder = webp::Encoder::from_rgba(&img.rgba, img.width as u32, img.height as u32);
    let mem = encoder
        .encode_advanced(&config)
        .map_err(|e| format!("libwebp: {e:?}"))?;
    Ok(mem.to_vec())
}

/// The scene's files (images as given, `meta.json` re-serialised) as a bundled `.sog`.
fn write(
    path: &Path,
    files: &[container::EncodedFile],
    meta: &splat_sogs::meta::Meta,
) -> Result<usize, Box<dyn std::error::Error>> {
    let mut files: Vec<container::EncodedFile> = files
        .iter()
        .filter(|(n, _)| n != "meta.json")
        .cloned()
        .collect();
    let splat_sogs::meta::Meta::V2(meta) = meta else {
        return Err("only SOG v2 files are re-encoded".into());
    };
    files.push(("meta.json".into(), serde_json::to_vec(meta)?));
    Ok(container::write(path, &files)?)
}

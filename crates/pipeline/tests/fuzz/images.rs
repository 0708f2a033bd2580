//! Photos: JPEG with EXIF (orientation and 35 mm focal length) and PNG, as SfM's input reader
//! and the training photo loader read them.

use crate::{Outcome, Seed, cases, fuzz, named};
use image::ImageEncoder;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A little-endian TIFF/EXIF block: IFD0 with Orientation and a pointer to an EXIF IFD holding
/// FocalLengthIn35mmFilm and the camera's make.
fn exif_block(orientation: u16, focal_35mm: u16) -> Vec<u8> {
    let mut b = b"II\x2a\x00".to_vec();
    b.extend(8u32.to_le_bytes());
    let entry = |b: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
        b.extend(tag.to_le_bytes());
        b.extend(kind.to_le_bytes());
        b.extend(count.to_le_bytes());
        b.extend(value.to_le_bytes());
    };
    b.extend(3u16.to_le_bytes());
    entry(&mut b, 0x0112, 3, 1, u32::from(orientation));
    entry(&mut b, 0x010F, 2, 4, u32::from_le_bytes(*b"Cam\0"));
    entry(&mut b, 0x8769, 4, 1, 50);
    b.extend(0u32.to_le_bytes());
    b.extend(1u16.to_le_bytes());
    entry(&mut b, 0xA405, 3, 1, u32::from(focal_35mm));
    b.extend(0u32.to_le_bytes());
    b
}

fn photo() -> image::RgbImage {
    image::RgbImage::from_fn(40, 28, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 9) as u8, ((x ^ y) * 8) as u8])
    })
}

fn seeds() -> Vec<Seed> {
    let img = photo();
    let mut jpeg = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90);
    enc.set_exif_metadata(exif_block(6, 28)).unwrap();
    enc.write_image(
        &img,
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    vec![
        Seed::all(vec![(PathBuf::from("photo.jpg"), jpeg)]),
        Seed::all(vec![(PathBuf::from("photo.png"), png.into_inner())]),
    ]
}

/// SfM's reader (orientation, focal prior, grey image) and the training loader must agree: both
/// read it, or both refuse it, the loader naming the file.
fn check(dir: &Path) -> Result<Outcome, String> {
    let path = ["photo.jpg", "photo.png"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
        .ok_or("no photo written")?;
    let sfm_read = splat_sfm::input::load(dir, &path, 1600);
    let loaded = splat_scene::images::load_rgb(&path, [0.0; 3]);
    match (sfm_read, loaded) {
        (Ok(im), Ok(rgb)) => {
            let sides = [(im.width, im.height), (rgb.width(), rgb.height())];
            if !(im.focal.is_finite() && im.focal > 0.0) || im.width < 16 || im.height < 16 {
                return Err(format!("read with focal {} and size {sides:?}", im.focal));
            }
            Ok(Outcome::Accepted)
        }
        (Err(_), Err(e)) => named(&e.to_string(), &["photo."]),
        // A photo too small for SfM still loads for training.
        (Err(splat_sfm::input::UnusablePhoto::TooSmall { .. }), Ok(_)) => Ok(Outcome::Refused),
        (Err(e), Ok(_)) => Err(format!("SfM refused what training reads: {e}")),
        (Ok(_), Err(e)) => Err(format!("training refused what SfM reads: {e}")),
    }
}

#[test]
fn photos_jpeg_exif_and_png() {
    fuzz("JPEG/PNG photos", seeds(), cases(2000), Arc::new(check));
}

#[test]
#[ignore = "the long run: 100,000 cases"]
fn photos_long_run() {
    fuzz(
        "JPEG/PNG photos (long)",
        seeds(),
        cases(crate::LONG_RUN_CASES),
        Arc::new(check),
    );
}

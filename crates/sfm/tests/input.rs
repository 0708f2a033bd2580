//! Folders with files that are not usable photos: those are named and skipped; fewer than two
//! usable images is an error that names what was skipped.

use splat_sfm::front_end::{FrontEndOptions, Observer, extract_folder};
use std::path::Path;
use std::sync::Mutex;

#[derive(Default)]
struct Warnings(Mutex<Vec<String>>);
impl Observer for Warnings {
    fn warn(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

fn noise_png(path: &Path, seed: u32) {
    let img = image::RgbImage::from_fn(96, 64, |x, y| {
        let v = ((x * 7919 + y * 104729 + seed * 31337) % 251) as u8;
        image::Rgb([v, v.wrapping_mul(3), v.wrapping_add(50)])
    });
    img.save(path).unwrap();
}

#[test]
fn unreadable_files_are_named_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    noise_png(&dir.path().join("a.png"), 1);
    noise_png(&dir.path().join("b.png"), 2);
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
    let full = std::fs::read(dir.path().join("a.png")).unwrap();
    std::fs::write(dir.path().join("cut.png"), &full[..full.len() / 3]).unwrap();
    std::fs::write(dir.path().join(".hidden.png"), b"ignored").unwrap();
    let warnings = Warnings::default();
    let (images, skipped) =
        extract_folder(dir.path(), &FrontEndOptions::default(), &warnings).unwrap();
    let names: Vec<_> = images.iter().map(|i| i.image.name.as_str()).collect();
    assert_eq!(names, ["a.png", "b.png"]);
    let skipped: Vec<_> = skipped.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(skipped, ["cut.png", "notes.txt"]);
    let warnings = warnings.0.into_inner().unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("cut.png"))
            && warnings.iter().any(|w| w.contains("notes.txt")),
        "{warnings:?}"
    );
    // No EXIF: the focal guess is 1.2 × the longest side.
    assert_eq!(images[0].image.focal, 1.2 * 96.0);
}

#[test]
fn fewer_than_two_usable_images_is_an_error_naming_the_skipped_files() {
    let dir = tempfile::tempdir().unwrap();
    noise_png(&dir.path().join("only.png"), 3);
    std::fs::write(dir.path().join("broken.jpg"), b"\xff\xd8\xff\xe0garbage").unwrap();
    let err = extract_folder(
        dir.path(),
        &FrontEndOptions::default(),
        &Warnings::default(),
    )
    .err()
    .expect("must fail");
    let text = err.to_string();
    assert!(
        text.contains("1 usable image") && text.contains("broken.jpg"),
        "{text}"
    );
    let err = extract_folder(
        &dir.path().join("missing"),
        &FrontEndOptions::default(),
        &Warnings::default(),
    )
    .err()
    .expect("must fail");
    assert!(err.to_string().contains("missing"), "{err}");
}

/// A little-endian TIFF/EXIF block: IFD0 with Orientation and a pointer to an EXIF IFD holding
/// FocalLengthIn35mmFilm.
fn exif_block(orientation: u16, focal_35mm: u16) -> Vec<u8> {
    let mut b = b"II\x2a\x00".to_vec();
    b.extend(8u32.to_le_bytes());
    let entry = |b: &mut Vec<u8>, tag: u16, kind: u16, value: u32| {
        b.extend(tag.to_le_bytes());
        b.extend(kind.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend(value.to_le_bytes());
    };
    b.extend(2u16.to_le_bytes());
    entry(&mut b, 0x0112, 3, u32::from(orientation));
    entry(&mut b, 0x8769, 4, 38);
    b.extend(0u32.to_le_bytes());
    assert_eq!(b.len(), 38);
    b.extend(1u16.to_le_bytes());
    entry(&mut b, 0xA405, 3, u32::from(focal_35mm));
    b.extend(0u32.to_le_bytes());
    b
}

#[test]
fn exif_orientation_and_focal_are_honoured() {
    use image::ImageEncoder;
    let dir = tempfile::tempdir().unwrap();
    // 96×64 stored, "rotate 90° clockwise to display" (orientation 6): upright it is 64×96.
    let img = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 3) as u8, 128])
    });
    let mut bytes = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95);
    enc.set_exif_metadata(exif_block(6, 35)).unwrap();
    enc.write_image(&img, 96, 64, image::ExtendedColorType::Rgb8)
        .unwrap();
    std::fs::write(dir.path().join("rotated.jpg"), &bytes).unwrap();
    let im = splat_sfm::input::load(dir.path(), &dir.path().join("rotated.jpg"), 1600).unwrap();
    assert_eq!((im.width, im.height), (64, 96));
    assert_eq!((im.gray.width, im.gray.height), (64, 96));
    // Upright, the stored image's top-left corner (dark red) is at the top right.
    assert!(im.gray.at(63, 0) < im.gray.at(0, 0));
    assert_eq!(im.focal_source, splat_sfm::input::FocalSource::Exif);
    let diagonal = (64f64 * 64.0 + 96.0 * 96.0).sqrt();
    assert!(
        (im.focal - 35.0 / 43.266_615 * diagonal).abs() < 1e-6,
        "{}",
        im.focal
    );
}

/// A little-endian TIFF/EXIF block, written by hand: IFD0 pointing to a GPS IFD with latitude
/// 33° 55' 30.5" S, longitude 18° 25' 12" W and altitude 12.5 m below sea level.
fn gps_exif_block() -> Vec<u8> {
    let mut b = b"II\x2a\x00".to_vec();
    b.extend(8u32.to_le_bytes());
    let entry = |b: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        b.extend(tag.to_le_bytes());
        b.extend(kind.to_le_bytes());
        b.extend(count.to_le_bytes());
        b.extend(value);
    };
    // IFD0 at 8: one entry, the GPS IFD pointer (LONG) to offset 26.
    b.extend(1u16.to_le_bytes());
    entry(&mut b, 0x8825, 4, 1, 26u32.to_le_bytes());
    b.extend(0u32.to_le_bytes());
    assert_eq!(b.len(), 26);
    // GPS IFD: 6 entries (ends at 26 + 2 + 72 + 4 = 104); rationals follow at 104, 128, 152.
    let (ascii, byte, rational) = (2, 1, 5);
    b.extend(6u16.to_le_bytes());
    entry(&mut b, 0x0001, ascii, 2, *b"S\0\0\0");
    entry(&mut b, 0x0002, rational, 3, 104u32.to_le_bytes());
    entry(&mut b, 0x0003, ascii, 2, *b"W\0\0\0");
    entry(&mut b, 0x0004, rational, 3, 128u32.to_le_bytes());
    entry(&mut b, 0x0005, byte, 1, [1, 0, 0, 0]);
    entry(&mut b, 0x0006, rational, 1, 152u32.to_le_bytes());
    b.extend(0u32.to_le_bytes());
    assert_eq!(b.len(), 104);
    for (num, den) in [
        (33u32, 1u32),
        (55, 1),
        (305, 10),
        (18, 1),
        (25, 1),
        (12, 1),
        (25, 2),
    ] {
        b.extend(num.to_le_bytes());
        b.extend(den.to_le_bytes());
    }
    b
}

#[test]
fn exif_gps_position_is_read_with_its_hemispheres_and_altitude() {
    use image::ImageEncoder;
    let dir = tempfile::tempdir().unwrap();
    let img =
        image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 3) as u8, (y * 5) as u8, 9]));
    let mut bytes = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95);
    enc.set_exif_metadata(gps_exif_block()).unwrap();
    enc.write_image(&img, 64, 48, image::ExtendedColorType::Rgb8)
        .unwrap();
    std::fs::write(dir.path().join("gps.jpg"), &bytes).unwrap();
    let im = splat_sfm::input::load(dir.path(), &dir.path().join("gps.jpg"), 1600).unwrap();
    let gps = im.gps.expect("a GPS position");
    assert!(
        (gps.latitude + (33.0 + 55.0 / 60.0 + 30.5 / 3600.0)).abs() < 1e-12,
        "{gps:?}"
    );
    assert!(
        (gps.longitude + (18.0 + 25.0 / 60.0 + 12.0 / 3600.0)).abs() < 1e-12,
        "{gps:?}"
    );
    assert_eq!(gps.altitude, Some(-12.5));
    // A photo without GPS has none.
    noise_png(&dir.path().join("plain.png"), 3);
    let plain = splat_sfm::input::load(dir.path(), &dir.path().join("plain.png"), 1600).unwrap();
    assert!(plain.gps.is_none());
}

#[test]
fn transparent_pixels_are_black_whatever_colour_they_store() {
    // A cut-out photo: noise everywhere, alpha 0 on the left half, 50 % in a middle band, opaque
    // on the right. Features must see the composite, never the colour hidden under alpha 0.
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (96u32, 64u32);
    let alpha = |x: u32| match x {
        0..40 => 0u8,
        40..56 => 128,
        _ => 255,
    };
    let noise = |x: u32, y: u32| ((x * 7919 + y * 104729) % 251) as u8;
    let rgba = image::RgbaImage::from_fn(w, h, |x, y| {
        let v = noise(x, y);
        image::Rgba([v, v.wrapping_mul(3), v.wrapping_add(50), alpha(x)])
    });
    rgba.save(dir.path().join("cut-out.png")).unwrap();
    let im = splat_sfm::input::load(dir.path(), &dir.path().join("cut-out.png"), 1600).unwrap();
    assert_eq!((im.gray.width, im.gray.height), (w as usize, h as usize));
    for y in 0..h {
        for x in 0..w {
            let v = f64::from(noise(x, y));
            let g = f64::from(noise(x, y).wrapping_mul(3));
            let b = f64::from(noise(x, y).wrapping_add(50));
            let a = f64::from(alpha(x)) / 255.0;
            // Rec. 601 luminance of the colour composited over black, from the 8-bit values.
            let expected = a * (0.299 * v + 0.587 * g + 0.114 * b) / 255.0;
            let got = f64::from(im.gray.at(x as usize, y as usize));
            assert!(
                (got - expected).abs() < 2.5 / 255.0,
                "({x}, {y}): {got} against {expected}"
            );
        }
    }
}

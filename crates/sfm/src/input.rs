//! Photo input: every file of a folder that decodes as an image, turned upright by its EXIF
//! orientation, with a focal-length prior from EXIF (35 mm equivalent) or 1.2·max(w, h), and
//! scaled to the working resolution for feature extraction. A photo with an alpha channel (an
//! object cut out of its background) is composited over black first, as the undistorter does:
//! the colour a transparent pixel happens to store is not part of the picture.

use crate::error::{Result, SfmError};
use crate::gray::GrayImage;
use image::{DynamicImage, ImageDecoder, ImageReader};
use std::path::{Path, PathBuf};

/// The diagonal of a 36×24 mm frame: 35 mm-equivalent focal lengths are relative to it.
const FULL_FRAME_DIAGONAL_MM: f64 = 43.266_615;
/// Focal prior, relative to the longest side, when the photo says nothing (COLMAP's default).
pub const DEFAULT_FOCAL_FACTOR: f64 = 1.2;

/// Where a focal length prior comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FocalSource {
    /// EXIF's 35 mm-equivalent focal length.
    Exif,
    /// 1.2·max(w, h): the photo said nothing.
    Default,
    /// Estimated from the fundamental matrices of well-verified pairs.
    SelfCalibrated,
}

/// One photo, ready for feature extraction.
#[derive(Debug, Clone)]
pub struct InputImage {
    /// Path relative to the image folder, with `/` separators (the database's image name).
    pub name: String,
    /// Upright size in pixels.
    pub width: u32,
    pub height: u32,
    /// Focal length prior in pixels, and where it came from.
    pub focal: f64,
    pub focal_source: FocalSource,
    /// EXIF make and model, when present (photos from one camera share intrinsics).
    pub camera_name: Option<String>,
    /// Where the photo was taken, when its EXIF has a GPS position.
    pub gps: Option<GpsPosition>,
    /// The grey working image and original pixels per working pixel along x and y.
    pub gray: GrayImage,
    pub scale: (f32, f32),
}

/// Every regular, non-hidden file under `dir` (recursively), sorted by path.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| SfmError::Io {
            path: d.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| SfmError::Io {
                path: d.clone(),
                source,
            })?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The database name of `path` inside `root`.
pub fn image_name(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Why a file of the photo folder cannot be used; shown beside its name in the match report.
#[derive(Debug, thiserror::Error)]
pub enum UnusablePhoto {
    /// The file could not be opened or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Its bytes do not start like any image format the decoder knows.
    #[error("not an image file")]
    NotAnImage,
    /// It looks like an image but does not decode.
    #[error("{0}")]
    Decode(#[from] image::ImageError),
    /// Too few pixels for features.
    #[error("{width}×{height} pixels is too small")]
    TooSmall { width: u32, height: u32 },
}

/// Decodes one photo; the error says why it cannot be used.
pub fn load(
    root: &Path,
    path: &Path,
    max_image_size: u32,
) -> std::result::Result<InputImage, UnusablePhoto> {
    let reader = ImageReader::open(path)?.with_guessed_format()?;
    if reader.format().is_none() {
        return Err(UnusablePhoto::NotAnImage);
    }
    let mut decoder = reader.into_decoder()?;
    let orientation = decoder.orientation()?;
    let exif = decoder.exif_metadata().ok().flatten();
    let mut img = DynamicImage::from_decoder(decoder)?;
    img.apply_orientation(orientation);
    let (width, height) = (img.width(), img.height());
    if width < 16 || height < 16 {
        return Err(UnusablePhoto::TooSmall { width, height });
    }
    let info = exif.and_then(|raw| exif::Reader::new().read_raw(raw).ok());
    let longest = f64::from(width.max(height));
    let focal35 = info.as_ref().and_then(focal_35mm);
    let (focal, focal_source) = match focal35 {
        Some(f35) => {
            let diagonal = (f64::from(width).powi(2) + f64::from(height).powi(2)).sqrt();
            (f35 / FULL_FRAME_DIAGONAL_MM * diagonal, FocalSource::Exif)
        }
        None => (DEFAULT_FOCAL_FACTOR * longest, FocalSource::Default),
    };
    let camera_name = info.as_ref().and_then(camera_name);
    let gps = info.as_ref().and_then(gps_position);
    let rgb = opaque_rgb8(&img);
    let (gray, scale) = if width.max(height) > max_image_size {
        // Not the project's area filter (splat_scene::images::resize_area, made for training photos):
        // its box average blurs more than the half-pixel SIFT assumes, and measured at 1024 px
        // it cost 6 % of the inliers per pair on sceaux-castle against this triangle filter
        // (benches/sfm_vs_colmap.sh), which is close to COLMAP's bilinear downscaling.
        let (w, h) = splat_scene::images::fit_longest(width, height, max_image_size);
        let small = image::imageops::resize(&rgb, w, h, image::imageops::FilterType::Triangle);
        let scale = (width as f32 / w as f32, height as f32 / h as f32);
        (GrayImage::from_rgb8(&small), scale)
    } else {
        (GrayImage::from_rgb8(&rgb), (1.0, 1.0))
    };
    Ok(InputImage {
        name: image_name(root, path),
        width,
        height,
        focal,
        focal_source,
        camera_name,
        gps,
        gray,
        scale,
    })
}

/// The photo's colours with any alpha composited over black.
fn opaque_rgb8(img: &DynamicImage) -> image::RgbImage {
    if img.color().has_alpha() {
        DynamicImage::ImageRgb32F(splat_scene::images::composite(img, [0.0; 3])).to_rgb8()
    } else {
        img.to_rgb8()
    }
}

/// A WGS84 position from EXIF.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GpsPosition {
    /// Degrees, north positive.
    pub latitude: f64,
    /// Degrees, east positive.
    pub longitude: f64,
    /// Metres above sea level, when recorded.
    pub altitude: Option<f64>,
}

/// The `k`-th rational of an EXIF field, when it has one with a non-zero denominator (some
/// cameras write 0/0 before a GPS fix).
fn rational(info: &exif::Exif, tag: exif::Tag, k: usize) -> Option<f64> {
    match &info.get_field(tag, exif::In::PRIMARY)?.value {
        exif::Value::Rational(r) => r
            .get(k)
            .filter(|r| r.denom != 0)
            .map(exif::Rational::to_f64),
        _ => None,
    }
}

/// Degrees from EXIF's (degrees, minutes, seconds) rationals and its N/S or E/W reference.
fn degrees(info: &exif::Exif, value: exif::Tag, reference: exif::Tag, negative: u8) -> Option<f64> {
    let part = |k| rational(info, value, k);
    let magnitude = part(0)? + part(1).unwrap_or(0.0) / 60.0 + part(2).unwrap_or(0.0) / 3600.0;
    let sign = match info
        .get_field(reference, exif::In::PRIMARY)
        .map(|f| &f.value)
    {
        Some(exif::Value::Ascii(v)) if v.first().and_then(|s| s.first()) == Some(&negative) => -1.0,
        _ => 1.0,
    };
    Some(sign * magnitude)
}

/// The GPS position of EXIF's GPS IFD; none when latitude or longitude is missing or out of
/// range (0/0 rationals are read as missing).
pub fn gps_position(info: &exif::Exif) -> Option<GpsPosition> {
    let latitude = degrees(
        info,
        exif::Tag::GPSLatitude,
        exif::Tag::GPSLatitudeRef,
        b'S',
    )?;
    let longitude = degrees(
        info,
        exif::Tag::GPSLongitude,
        exif::Tag::GPSLongitudeRef,
        b'W',
    )?;
    if !(latitude.abs() <= 90.0 && longitude.abs() <= 180.0) {
        return None;
    }
    let altitude = rational(info, exif::Tag::GPSAltitude, 0).map(|a| {
        let below = info
            .get_field(exif::Tag::GPSAltitudeRef, exif::In::PRIMARY)
            .and_then(|f| f.value.get_uint(0))
            == Some(1);
        if below { -a } else { a }
    });
    Some(GpsPosition {
        latitude,
        longitude,
        altitude,
    })
}

fn focal_35mm(info: &exif::Exif) -> Option<f64> {
    let field = info.get_field(exif::Tag::FocalLengthIn35mmFilm, exif::In::PRIMARY)?;
    let v = f64::from(field.value.get_uint(0)?);
    (v > 0.0).then_some(v)
}

fn camera_name(info: &exif::Exif) -> Option<String> {
    let text = |tag| {
        info.get_field(tag, exif::In::PRIMARY).map(|f| {
            f.display_value()
                .to_string()
                .trim_matches('"')
                .trim()
                .to_string()
        })
    };
    let make = text(exif::Tag::Make).unwrap_or_default();
    let model = text(exif::Tag::Model).unwrap_or_default();
    let name = format!("{make} {model}").trim().to_string();
    (!name.is_empty()).then_some(name)
}

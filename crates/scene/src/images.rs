//! Loading photos for the stages (with alpha composited on a background) and saving images
//! atomically in the format their extension names.

use crate::{Result, SceneError, write_atomic_bytes};
use image::{DynamicImage, ImageFormat, Rgb32FImage};
use std::path::Path;

/// JPEG quality for images we re-encode (undistorted photos).
pub const JPEG_QUALITY: u8 = 95;

/// Opens an image, naming the file in any error.
pub fn open(path: &Path) -> Result<DynamicImage> {
    let reader = image::ImageReader::open(path).map_err(|e| SceneError::io(path, e))?;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| SceneError::io(path, e))?;
    reader.decode().map_err(|source| SceneError::Image {
        path: path.to_path_buf(),
        source,
    })
}

/// Linear-in-file RGB floats in [0, 1]; an alpha channel is composited over `background`
/// (`rgb·a + bg·(1−a)`, as the 3DGS reference does for Blender scenes).
pub fn load_rgb(path: &Path, background: [f32; 3]) -> Result<Rgb32FImage> {
    Ok(composite(&open(path)?, background))
}

/// Composites an image's alpha over `background`.
pub fn composite(img: &DynamicImage, background: [f32; 3]) -> Rgb32FImage {
    if !img.color().has_alpha() {
        return img.to_rgb32f();
    }
    let rgba = img.to_rgba32f();
    let mut out = Rgb32FImage::new(rgba.width(), rgba.height());
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = p[3];
        for c in 0..3 {
            o[c] = p[c] * a + background[c] * (1.0 - a);
        }
    }
    out
}

/// Image dimensions from the file header, without decoding the pixels.
pub fn dimensions(path: &Path) -> Result<(u32, u32)> {
    let reader = image::ImageReader::open(path).map_err(|e| SceneError::io(path, e))?;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| SceneError::io(path, e))?;
    reader
        .into_dimensions()
        .map_err(|source| SceneError::Image {
            path: path.to_path_buf(),
            source,
        })
}

/// Saves `img` atomically in the format of `path`'s extension (JPEG at quality 95).
pub fn save(path: &Path, img: &DynamicImage) -> Result<()> {
    let format = ImageFormat::from_path(path).map_err(|source| SceneError::Image {
        path: path.to_path_buf(),
        source,
    })?;
    let mut bytes = Vec::new();
    let result = if format == ImageFormat::Jpeg {
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY);
        DynamicImage::ImageRgb8(img.to_rgb8()).write_with_encoder(enc)
    } else {
        img.write_to(&mut std::io::Cursor::new(&mut bytes), format)
    };
    result.map_err(|source| SceneError::Image {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic_bytes(path, &bytes)
}

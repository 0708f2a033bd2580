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

/// The size an image of `width`×`height` gets when its longest side is brought down to
/// `longest` pixels (never up), keeping the aspect ratio.
pub fn fit_longest(width: u32, height: u32, longest: u32) -> (u32, u32) {
    let side = width.max(height);
    if longest == 0 || side <= longest {
        return (width, height);
    }
    let f = f64::from(longest) / f64::from(side);
    let scaled = |v: u32| ((f64::from(v) * f).round() as u32).max(1);
    (scaled(width), scaled(height))
}

/// Resamples with an area (box-coverage) filter: each output pixel is the mean of the input
/// over its footprint, partial pixels weighted by the overlap. This is what downscaling photos
/// for training wants (no aliasing, mean colour kept); the `image` crate's filters are
/// point-sampled kernels, hence this one.
pub fn resize_area(img: &Rgb32FImage, width: u32, height: u32) -> Rgb32FImage {
    let (w, h) = img.dimensions();
    if (w, h) == (width, height) {
        return img.clone();
    }
    let xs = coverage(w, width);
    let ys = coverage(h, height);
    // Rows first (width), then columns.
    let src = img.as_raw();
    let mut tmp = vec![0.0f32; width as usize * h as usize * 3];
    for y in 0..h as usize {
        for (ox, taps) in xs.iter().enumerate() {
            let mut acc = [0.0f32; 3];
            for &(ix, wt) in taps {
                let p = (y * w as usize + ix) * 3;
                for c in 0..3 {
                    acc[c] += wt * src[p + c];
                }
            }
            tmp[(y * width as usize + ox) * 3..][..3].copy_from_slice(&acc);
        }
    }
    let mut out = Rgb32FImage::new(width, height);
    let dst: &mut [f32] = &mut out;
    for (oy, taps) in ys.iter().enumerate() {
        for x in 0..width as usize {
            let mut acc = [0.0f32; 3];
            for &(iy, wt) in taps {
                let p = (iy * width as usize + x) * 3;
                for c in 0..3 {
                    acc[c] += wt * tmp[p + c];
                }
            }
            dst[(oy * width as usize + x) * 3..][..3].copy_from_slice(&acc);
        }
    }
    out
}

/// For each of `to` output pixels along an axis of `from` input pixels: the input pixels its
/// footprint overlaps and their weights (summing to 1).
fn coverage(from: u32, to: u32) -> Vec<Vec<(usize, f32)>> {
    let ratio = f64::from(from) / f64::from(to);
    (0..to)
        .map(|o| {
            let (a, b) = (f64::from(o) * ratio, f64::from(o + 1) * ratio);
            let first = a.floor() as usize;
            let last = (b.ceil() as usize).min(from as usize);
            (first..last)
                .filter_map(|i| {
                    let overlap = (b.min(i as f64 + 1.0) - a.max(i as f64)) / ratio;
                    (overlap > 1e-9).then_some((i, overlap as f32))
                })
                .collect()
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: u32, h: u32) -> Rgb32FImage {
        Rgb32FImage::from_fn(w, h, |x, y| {
            image::Rgb([
                x as f32 / w as f32,
                y as f32 / h as f32,
                ((x * 7 + y * 13) % 5) as f32 / 4.0,
            ])
        })
    }

    #[test]
    fn halving_averages_two_by_two_blocks() {
        let img = ramp(8, 6);
        let half = resize_area(&img, 4, 3);
        for y in 0..3 {
            for x in 0..4 {
                for c in 0..3 {
                    let mean = (0..2)
                        .flat_map(|dy| (0..2).map(move |dx| (dx, dy)))
                        .map(|(dx, dy)| f64::from(img.get_pixel(2 * x + dx, 2 * y + dy)[c]))
                        .sum::<f64>()
                        / 4.0;
                    let got = f64::from(half.get_pixel(x, y)[c]);
                    assert!((got - mean).abs() < 1e-6, "({x},{y},{c}): {got} vs {mean}");
                }
            }
        }
    }

    #[test]
    fn any_factor_keeps_the_mean_and_constant_images() {
        let img = ramp(37, 23);
        let mean = |i: &Rgb32FImage| {
            i.as_raw().iter().map(|&v| f64::from(v)).sum::<f64>() / i.as_raw().len() as f64
        };
        for (w, h) in [(10, 6), (36, 22), (5, 3), (1, 1)] {
            let r = resize_area(&img, w, h);
            assert!((mean(&r) - mean(&img)).abs() < 1e-5, "{w}x{h}");
        }
        let flat = Rgb32FImage::from_pixel(31, 17, image::Rgb([0.2, 0.5, 0.9]));
        let r = resize_area(&flat, 12, 7);
        assert!(r.pixels().all(|p| (p[0] - 0.2).abs() < 1e-6
            && (p[1] - 0.5).abs() < 1e-6
            && (p[2] - 0.9).abs() < 1e-6));
    }

    #[test]
    fn fitting_the_longest_side_keeps_the_aspect_and_never_enlarges() {
        assert_eq!(fit_longest(800, 800, 200), (200, 200));
        assert_eq!(fit_longest(1024, 683, 512), (512, 342));
        assert_eq!(fit_longest(683, 1024, 512), (342, 512));
        assert_eq!(fit_longest(100, 50, 200), (100, 50));
        assert_eq!(fit_longest(100, 50, 0), (100, 50));
    }
}

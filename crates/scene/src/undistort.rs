//! The image undistorter: turns a COLMAP workspace with distorted cameras into one with PINHOLE
//! cameras (what `colmap image_undistorter` does), because trainers take pinhole cameras only.
//!
//! For each distorted camera the output keeps the focal lengths, puts the principal point at the
//! image centre (the Inria loader ignores cx/cy) and crops to the largest centred rectangle in
//! which every pixel maps inside the source image, so there are no blank borders. Pixels are
//! resampled bilinearly; keypoints are moved with the same mapping; 3D points stay.

use crate::colmap::{Point2D, Reconstruction, write_binary};
use crate::{Camera, Result, SceneError, images};
use image::{DynamicImage, Rgb32FImage, RgbImage};
use nalgebra::{Vector2, Vector3};
use rayon::prelude::*;
use std::path::Path;

/// The largest output size relative to the input, per axis (as COLMAP's `max_scale`).
pub const MAX_SCALE: f64 = 2.0;

/// A camera whose distortion leaves no valid image area around its principal point.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("camera {camera}: the principal point ({cx}, {cy}) is not inside the valid image area")]
pub struct NoValidArea {
    pub camera: u32,
    pub cx: f64,
    pub cy: f64,
}

/// The PINHOLE camera that replaces `cam` after undistortion.
pub fn pinhole_for(cam: &Camera) -> Result<Camera, NoValidArea> {
    let (fx, fy) = cam.focal();
    let (cx, cy) = cam.principal_point();
    if cam.model.is_pinhole() {
        return Ok(Camera::pinhole(
            cam.id, cam.width, cam.height, fx, fy, cx, cy,
        ));
    }
    let (w, h) = (cam.width as f64, cam.height as f64);
    let steps = 2 * (cam.width.max(cam.height) as usize).clamp(16, 4096);
    let lift = |x: f64, y: f64| cam.unproject(&Vector2::new(x, y));
    let (mut left, mut right, mut top, mut bottom) = (f64::MIN, f64::MAX, f64::MIN, f64::MAX);
    for s in 0..=steps {
        let t = s as f64 / steps as f64;
        left = left.max(lift(0.0, t * h).x);
        right = right.min(lift(w, t * h).x);
        top = top.max(lift(t * w, 0.0).y);
        bottom = bottom.min(lift(t * w, h).y);
    }
    let half_u = (-left).min(right);
    let half_v = (-top).min(bottom);
    if !(half_u > 0.0 && half_v > 0.0 && half_u.is_finite() && half_v.is_finite()) {
        return Err(NoValidArea {
            camera: cam.id,
            cx,
            cy,
        });
    }
    let (mut nfx, mut nfy) = (fx, fy);
    let scale = (2.0 * half_u * fx / w).max(2.0 * half_v * fy / h);
    if scale > MAX_SCALE {
        nfx *= MAX_SCALE / scale;
        nfy *= MAX_SCALE / scale;
    }
    let nw = (2.0 * half_u * nfx).floor().max(1.0) as u64;
    let nh = (2.0 * half_v * nfy).floor().max(1.0) as u64;
    Ok(Camera::pinhole(
        cam.id,
        nw,
        nh,
        nfx,
        nfy,
        nw as f64 / 2.0,
        nh as f64 / 2.0,
    ))
}

/// Where the centre of output pixel (x, y) of `dst` comes from in `src`, in pixel coordinates.
fn source_pixel(src: &Camera, dst: &Camera, x: f64, y: f64) -> Option<Vector2<f64>> {
    let uv = dst.unproject(&Vector2::new(x, y));
    src.project(&Vector3::new(uv.x, uv.y, 1.0))
}

/// Bilinear sample at continuous pixel coordinates (pixel centres at +0.5), clamped at the edges.
fn bilinear(img: &Rgb32FImage, x: f64, y: f64) -> [f32; 3] {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let fx = x - 0.5;
    let fy = y - 0.5;
    let x0 = fx.floor();
    let y0 = fy.floor();
    let (ax, ay) = ((fx - x0) as f32, (fy - y0) as f32);
    let px = |xi: i64, yi: i64| {
        img.get_pixel(xi.clamp(0, w - 1) as u32, yi.clamp(0, h - 1) as u32)
            .0
    };
    let (x0, y0) = (x0 as i64, y0 as i64);
    let (p00, p10, p01, p11) = (
        px(x0, y0),
        px(x0 + 1, y0),
        px(x0, y0 + 1),
        px(x0 + 1, y0 + 1),
    );
    let mut out = [0.0; 3];
    for c in 0..3 {
        let top = p00[c] * (1.0 - ax) + p10[c] * ax;
        let bot = p01[c] * (1.0 - ax) + p11[c] * ax;
        out[c] = top * (1.0 - ay) + bot * ay;
    }
    out
}

/// Resamples an image taken with `src` into the pinhole camera `dst`.
pub fn undistort_image(img: &Rgb32FImage, src: &Camera, dst: &Camera) -> Rgb32FImage {
    let (w, h) = (dst.width as u32, dst.height as u32);
    // Scale if the image on disk is not at the camera's resolution.
    let sx = f64::from(img.width()) / src.width as f64;
    let sy = f64::from(img.height()) / src.height as f64;
    let mut out = Rgb32FImage::new(w, h);
    out.par_chunks_mut(3 * w as usize)
        .enumerate()
        .for_each(|(y, row)| {
            for x in 0..w as usize {
                let p = source_pixel(src, dst, x as f64 + 0.5, y as f64 + 0.5)
                    .map_or([0.0; 3], |s| bilinear(img, s.x * sx, s.y * sy));
                row[3 * x..3 * x + 3].copy_from_slice(&p);
            }
        });
    out
}

fn to_rgb8(img: &Rgb32FImage) -> RgbImage {
    let mut out = RgbImage::new(img.width(), img.height());
    for (o, p) in out.pixels_mut().zip(img.pixels()) {
        for c in 0..3 {
            o[c] = (p[c].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    out
}

/// Undistorts a workspace: reads images named in `rec` from `image_dir`, writes
/// `out/images/<name>` and `out/sparse/0/*.bin` with PINHOLE cameras. Returns the new model.
pub fn undistort_workspace(
    rec: &Reconstruction,
    image_dir: &Path,
    out: &Path,
) -> Result<Reconstruction> {
    undistort_workspace_with_progress(rec, image_dir, out, &|_| {})
}

/// As `undistort_workspace`, calling `done(name)` after each image is written.
pub fn undistort_workspace_with_progress(
    rec: &Reconstruction,
    image_dir: &Path,
    out: &Path,
    done: &(dyn Fn(&str) + Sync),
) -> Result<Reconstruction> {
    let mut new = rec.clone();
    for (id, cam) in &rec.cameras {
        let pin = pinhole_for(cam).map_err(|e| SceneError::invalid(image_dir, e.to_string()))?;
        new.cameras.insert(*id, pin);
    }
    let out_images = out.join("images");
    rec.images
        .values()
        .collect::<Vec<_>>()
        .par_iter()
        .try_for_each(|im| -> Result<()> {
            let src = &rec.cameras[&im.camera_id];
            let dst = &new.cameras[&im.camera_id];
            let in_path = image_dir.join(&im.name);
            let out_path = out_images.join(&im.name);
            if src.model.is_pinhole() {
                let bytes = std::fs::read(&in_path).map_err(|e| SceneError::io(&in_path, e))?;
                crate::write_atomic_bytes(&out_path, &bytes)?;
                done(&im.name);
                return Ok(());
            }
            let img = images::load_rgb(&in_path, [0.0; 3])?;
            let und = undistort_image(&img, src, dst);
            images::save(&out_path, &DynamicImage::ImageRgb8(to_rgb8(&und)))?;
            done(&im.name);
            Ok(())
        })?;
    for im in new.images.values_mut() {
        let src = &rec.cameras[&im.camera_id];
        let dst = &new.cameras[&im.camera_id];
        if src.model.is_pinhole() {
            continue;
        }
        for p in &mut im.points2d {
            let uv = src.unproject(&Vector2::new(p.xy[0], p.xy[1]));
            if let Some(q) = dst.project(&Vector3::new(uv.x, uv.y, 1.0)) {
                *p = Point2D {
                    xy: [q.x, q.y],
                    point3d_id: p.point3d_id,
                };
            }
        }
    }
    write_binary(&out.join("sparse/0"), &new)?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CameraModel;

    /// A smooth pattern defined on the normalized image plane, so the same "scene" can be
    /// rendered through any camera.
    fn pattern(u: f64, v: f64) -> [f32; 3] {
        let a = (0.5 + 0.5 * (u * 9.0).sin() * (v * 7.0).cos()) as f32;
        let b = (0.5 + 0.5 * (u * 4.0 + v * 5.0).sin()) as f32;
        [a, b, 0.5 * (a + b)]
    }

    fn render(cam: &Camera) -> Rgb32FImage {
        Rgb32FImage::from_fn(cam.width as u32, cam.height as u32, |x, y| {
            let uv = cam.unproject(&Vector2::new(f64::from(x) + 0.5, f64::from(y) + 0.5));
            image::Rgb(pattern(uv.x, uv.y))
        })
    }

    #[test]
    fn undistorted_image_matches_a_pinhole_rendering() {
        let cam = Camera {
            id: 1,
            model: CameraModel::OpenCv,
            width: 320,
            height: 240,
            params: vec![300.0, 310.0, 161.0, 119.0, -0.2, 0.05, 0.001, -0.001],
        };
        let pin = pinhole_for(&cam).unwrap();
        assert_eq!(pin.model, CameraModel::Pinhole);
        assert!(
            pin.width > 320 && pin.width < 400,
            "barrel distortion widens the view: {}",
            pin.width
        );
        let out = undistort_image(&render(&cam), &cam, &pin);
        let truth = render(&pin);
        let mut max_err: f32 = 0.0;
        for (a, b) in out.pixels().zip(truth.pixels()) {
            for c in 0..3 {
                max_err = max_err.max((a[c] - b[c]).abs());
            }
        }
        // Bilinear interpolation of a smooth pattern: small error, and no blank (black) border.
        assert!(max_err < 0.03, "max error {max_err}");
    }

    #[test]
    fn every_output_pixel_maps_inside_the_source() {
        for cam in crate::camera::tests_support::sample_cameras() {
            let pin = pinhole_for(&cam).unwrap();
            for &(x, y) in &[
                (0.5, 0.5),
                (pin.width as f64 - 0.5, 0.5),
                (0.5, pin.height as f64 - 0.5),
                (pin.width as f64 - 0.5, pin.height as f64 - 0.5),
            ] {
                let s = source_pixel(&cam, &pin, x, y).unwrap();
                assert!(
                    s.x >= -0.01
                        && s.y >= -0.01
                        && s.x <= cam.width as f64 + 0.01
                        && s.y <= cam.height as f64 + 0.01,
                    "{}: corner maps to {s:?}",
                    cam.model
                );
            }
        }
    }
}

//! The training and test photos as posed views: loaded, downscaled to the training resolution,
//! and cached on the GPU within a memory budget (the rest uploaded when used).
//!
//! On the host each photo is kept as 8-bit RGB (3 bytes a pixel, as the photos themselves and
//! as the reference implementation keeps its downscaled images), so that a thousand photos at
//! 1,600 px need 5.8 GB rather than the 23 GB of f32; on the GPU it is packed 8-bit RGBA (4 bytes
//! a pixel, `loss::pack_rgb8`), so that the default 4 GiB cache holds about 550 such photos
//! rather than the 140 of f32.

use crate::error::TrainError;
use crate::loss::pack_rgb8;
use crate::view::View;
use splat_gpu::{GpuContext, storage_buffer};
use splat_scene::dataset::Dataset;

/// A posed photo, cached on the GPU when it fit.
pub struct TrainView {
    pub name: String,
    pub view: View,
    /// The photo packed for the loss (`pack_rgb8`), when cached on the GPU.
    pub cached: Option<wgpu::Buffer>,
    /// The photo, 8 bits per channel, row-major.
    pub pixels: Vec<[u8; 3]>,
}

/// One 8-bit channel as the f32 the GPU trains against.
#[inline]
fn unit(v: u8) -> f32 {
    f32::from(v) / 255.0
}

/// A [0, 1] channel value to 8 bits, rounded to nearest.
#[inline]
fn to_byte(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

impl TrainView {
    /// The photo as f32 RGB in [0, 1].
    pub fn rgb(&self) -> Vec<[f32; 3]> {
        self.pixels.iter().map(|p| p.map(unit)).collect()
    }

    /// The photo as the loss reads it, one `pack_rgb8` word per pixel.
    fn packed(&self) -> impl Iterator<Item = u32> + '_ {
        self.pixels.iter().copied().map(pack_rgb8)
    }

    /// Bytes of the photo on the GPU.
    pub fn gpu_bytes(&self) -> u64 {
        self.pixels.len() as u64 * 4
    }

    /// The photo on the GPU, packed for the loss: the cached buffer, or `scratch` (grown
    /// when needed) with the photo written into it. Queue writes land before the next
    /// submission, after every earlier one, so one scratch buffer serves every step.
    pub fn target(&self, ctx: &GpuContext, scratch: &mut wgpu::Buffer) -> wgpu::Buffer {
        if let Some(b) = &self.cached {
            return b.clone();
        }
        let buf = splat_gpu::reuse_buffer(ctx, scratch, self.gpu_bytes(), "target (streamed)");
        // Written in place into the queue's staging memory: no per-step copy of the photo.
        if let Some(size) = wgpu::BufferSize::new(self.gpu_bytes())
            && let Some(mut staged) = ctx.queue.write_buffer_with(&buf, 0, size)
        {
            staged
                .slice(..)
                .write_iter(self.packed().flat_map(u32::to_ne_bytes));
        }
        buf
    }
}

/// The test (or training) photos of `data`, alpha composited over `background`, downscaled
/// (area filter, intrinsics scaled alike) to a longest side of `resolution` pixels, cached on
/// the GPU while `cache_budget` (bytes, reduced by what is cached) lasts and the device has
/// memory for them.
pub fn load_views(
    ctx: &GpuContext,
    data: &Dataset,
    test: bool,
    background: [f64; 3],
    near: f64,
    resolution: Option<u32>,
    cache_budget: &mut u64,
) -> Result<Vec<TrainView>, TrainError> {
    let images = if test {
        data.test_images()
    } else {
        data.train_images()
    };
    let mut unflushed = 0u64;
    let views = images
        .into_iter()
        .map(|im| {
            let cam = &data.model.cameras[&im.camera_id];
            let mut view = View::from_colmap(cam, im, near, background).ok_or_else(|| {
                TrainError::Data(format!(
                    "image '{}' has a {} camera; run `splat undistort` first",
                    im.name, cam.model
                ))
            })?;
            let path = data.image_root.join(&im.name);
            let img = splat_scene::images::load_rgb(&path, background.map(|v| v as f32))?;
            if u64::from(img.width()) != cam.width || u64::from(img.height()) != cam.height {
                return Err(TrainError::Data(format!(
                    "{}: {}x{} pixels, but its camera says {}x{}",
                    path.display(),
                    img.width(),
                    img.height(),
                    cam.width,
                    cam.height
                )));
            }
            let (w, h) =
                splat_scene::images::fit_longest(view.width, view.height, resolution.unwrap_or(0));
            let img = if (w, h) != (view.width, view.height) {
                let (sx, sy) = (
                    f64::from(w) / f64::from(view.width),
                    f64::from(h) / f64::from(view.height),
                );
                view.fx *= sx;
                view.cx *= sx;
                view.fy *= sy;
                view.cy *= sy;
                view.width = w;
                view.height = h;
                splat_scene::images::resize_area(&img, w, h)
            } else {
                img
            };
            let mut tv = TrainView {
                name: im.name.clone(),
                view,
                cached: None,
                pixels: img.pixels().map(|p| p.0.map(to_byte)).collect(),
            };
            let bytes = tv.gpu_bytes();
            if bytes <= *cache_budget {
                // Out of device memory is not an error here: the photo is streamed instead.
                let packed: Vec<u32> = tv.packed().collect();
                tv.cached = ctx
                    .checked("caching a photo", || {
                        Ok(storage_buffer(ctx, "target", &packed))
                    })
                    .ok();
                if tv.cached.is_some() {
                    *cache_budget -= bytes;
                    unflushed += bytes;
                    if unflushed >= UPLOAD_FLUSH_BYTES {
                        flush_uploads(ctx)?;
                        unflushed = 0;
                    }
                } else {
                    *cache_budget = 0;
                }
            }
            Ok(tv)
        })
        .collect::<Result<Vec<_>, TrainError>>()?;
    if unflushed > 0 {
        flush_uploads(ctx)?;
    }
    Ok(views)
}

/// A cached photo reaches the GPU through a staging copy that wgpu keeps until a submission has
/// carried it: without a submission every so often, loading holds the whole cache twice (1,000
/// photos at 1,600 px: 9.6 GB of device memory at peak for a 4 GiB cache).
const UPLOAD_FLUSH_BYTES: u64 = 64 << 20;

/// Submits the uploads written so far and waits for them, so that their staging memory is freed.
fn flush_uploads(ctx: &GpuContext) -> Result<(), TrainError> {
    ctx.queue.submit([]);
    ctx.wait()?;
    Ok(())
}

/// The training views, then the test views, of `data` (as `load_views`, sharing one cache
/// budget, training views first); an error when there is no training view.
pub fn load_train_and_test(
    ctx: &GpuContext,
    data: &Dataset,
    background: [f64; 3],
    resolution: Option<u32>,
    cache_budget: &mut u64,
) -> Result<(Vec<TrainView>, Vec<TrainView>), TrainError> {
    let near = super::init::default_near(&data.model);
    let train = load_views(ctx, data, false, background, near, resolution, cache_budget)?;
    if train.is_empty() {
        return Err(TrainError::Data("no training images".into()));
    }
    let test = load_views(ctx, data, true, background, near, resolution, cache_budget)?;
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An 8-bit photo read as f32 (`v / 255`, as the image decoder widens it) is kept exactly:
    /// only downscaled photos are rounded, to the nearest of the 256 levels.
    #[test]
    fn eight_bit_values_survive_the_host_format_exactly() {
        for b in 0..=255u8 {
            let decoded = f32::from(b) / 255.0;
            assert_eq!(to_byte(decoded), b);
            assert_eq!(unit(to_byte(decoded)).to_bits(), decoded.to_bits());
        }
        assert_eq!(to_byte(0.5 / 255.0 + 1e-4), 1);
        assert_eq!(to_byte(1.7), 255);
        assert_eq!(to_byte(-0.2), 0);
    }
}

//! SIFT-style features: DoG keypoints with subpixel refinement, up to two orientations each,
//! and 128-d RootSIFT descriptors stored as bytes (COLMAP's layout).
//!
//! Written here rather than taken from a crate: no maintained Rust crate offers a SIFT
//! detector/descriptor whose output matches what COLMAP's database expects.

mod describe;
mod detect;
mod scale_space;

pub use describe::DESCRIPTOR_LEN;

use crate::gray::GrayImage;
use rayon::prelude::*;

/// Extraction settings (COLMAP's SIFT defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct SiftOptions {
    /// Keep at most this many keypoint locations, the strongest DoG responses first. Each
    /// location may carry up to `max_orientations` features, so an image can have more
    /// features than this (COLMAP counts the same way).
    pub max_features: usize,
    /// Scales per octave.
    pub levels: usize,
    /// Blur of each octave's first image.
    pub sigma0: f32,
    /// DoG contrast threshold (intensities in [0, 1]).
    pub peak_threshold: f32,
    /// Largest ratio of principal curvatures (edges above it are dropped).
    pub edge_threshold: f32,
    pub max_orientations: usize,
    /// Start from the input upsampled 2× (finds small features).
    pub upsample: bool,
}

impl Default for SiftOptions {
    fn default() -> Self {
        Self {
            max_features: 8192,
            levels: 3,
            sigma0: 1.6,
            peak_threshold: 0.02 / 3.0,
            edge_threshold: 10.0,
            max_orientations: 2,
            upsample: true,
        }
    }
}

/// A keypoint in image pixels (the top-left pixel's centre at (0.5, 0.5), as COLMAP).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Keypoint {
    pub x: f32,
    pub y: f32,
    /// Blur σ of the keypoint's scale, in pixels.
    pub scale: f32,
    /// Dominant gradient direction, radians in [0, 2π), y down.
    pub orientation: f32,
    /// |DoG| at the refined extremum.
    pub response: f32,
}

impl Keypoint {
    /// COLMAP's six-column affine form: x, y, a11, a12, a21, a22.
    pub fn affine(&self) -> [f32; 6] {
        let (s, c) = self.orientation.sin_cos();
        [
            self.x,
            self.y,
            self.scale * c,
            -self.scale * s,
            self.scale * s,
            self.scale * c,
        ]
    }
}

/// The keypoints of one image and their descriptors, in the same order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    pub keypoints: Vec<Keypoint>,
    pub descriptors: Vec<[u8; DESCRIPTOR_LEN]>,
}

impl Features {
    pub fn len(&self) -> usize {
        self.keypoints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keypoints.is_empty()
    }

    /// Keypoint coordinates multiplied by `(fx, fy)` and scales by their mean (working →
    /// original pixels).
    pub fn rescale(&mut self, (fx, fy): (f32, f32)) {
        for k in &mut self.keypoints {
            k.x *= fx;
            k.y *= fy;
            k.scale *= 0.5 * (fx + fy);
        }
    }
}

/// Detects and describes the features of a grey image.
pub fn extract(img: &GrayImage, opts: &SiftOptions) -> Features {
    if img.width < 16 || img.height < 16 {
        return Features::default();
    }
    let octaves = scale_space::build(img, opts.levels, opts.sigma0, opts.upsample);
    // (octave, extremum), strongest first; ties keep detection order so results are repeatable.
    let mut found: Vec<(usize, detect::Extremum)> = octaves
        .iter()
        .enumerate()
        .flat_map(|(o, oct)| {
            detect::extrema(oct, opts.peak_threshold, opts.edge_threshold)
                .into_iter()
                .map(move |e| (o, e))
        })
        .collect();
    found.sort_by(|a, b| {
        let sa = octaves[a.0].step() * 2f32.powf(a.1.level / opts.levels as f32);
        let sb = octaves[b.0].step() * 2f32.powf(b.1.level / opts.levels as f32);
        sb.total_cmp(&sa)
            .then(b.1.response.abs().total_cmp(&a.1.response.abs()))
    });
    found.truncate(opts.max_features);
    let sigma = |level: f32| scale_space::level_sigma(level, opts.levels, opts.sigma0);
    let oriented: Vec<(usize, detect::Extremum, f32)> = found
        .par_iter()
        .map(|&(o, e)| {
            let img = &octaves[o].gaussians[e.level.round() as usize];
            describe::orientations(img, e.x, e.y, sigma(e.level), opts.max_orientations)
                .into_iter()
                .map(|a| (o, e, a))
                .collect::<Vec<_>>()
        })
        .flatten()
        .collect();
    let described: Vec<(Keypoint, [u8; DESCRIPTOR_LEN])> = oriented
        .par_iter()
        .filter_map(|&(o, e, angle)| {
            let oct = &octaves[o];
            let s = sigma(e.level);
            let img = &oct.gaussians[e.level.round() as usize];
            let hist = describe::descriptor(img, e.x, e.y, s, angle)?;
            let step = oct.step();
            let kp = Keypoint {
                x: e.x * step + 0.5,
                y: e.y * step + 0.5,
                scale: s * step,
                orientation: angle,
                response: e.response.abs(),
            };
            Some((kp, describe::root_sift_bytes(&hist)))
        })
        .collect();
    let (keypoints, descriptors) = described.into_iter().unzip();
    Features {
        keypoints,
        descriptors,
    }
}

//! The Gaussian scale space and its difference-of-Gaussians, octave by octave.
//!
//! Octave `o` (from −1, the input upsampled twice) holds `levels + 3` Gaussian images; image `k`
//! has blur σ₀·2^((k−1)/levels) in that octave's pixels (so DoG extrema at images 1…levels have
//! the scales σ₀ … σ₀·2^((levels−1)/levels), as in Lowe's and VLFeat's SIFT), and pixel `i` of
//! octave `o` sits at input pixel `i·2^o`. The next octave starts from image `levels` decimated
//! by two, whose blur is then that of image 0.

use crate::gray::GrayImage;

/// Blur assumed already present in the input (the camera's own blur).
const INPUT_SIGMA: f32 = 0.5;

pub struct Octave {
    /// The octave's index: −1 is the upsampled input, 0 the input's own resolution.
    pub index: i32,
    pub gaussians: Vec<GrayImage>,
    pub dogs: Vec<GrayImage>,
}

impl Octave {
    /// Input pixels per pixel of this octave.
    pub fn step(&self) -> f32 {
        2f32.powi(self.index)
    }
}

/// Builds the octaves down to a smallest side of about 16 pixels.
pub fn build(input: &GrayImage, levels: usize, sigma0: f32, upsample: bool) -> Vec<Octave> {
    let (first_octave, mut base) = if upsample {
        (-1, input.upsample2())
    } else {
        (0, input.clone())
    };
    let present = if upsample {
        2.0 * INPUT_SIGMA
    } else {
        INPUT_SIGMA
    };
    let first = level_sigma(0, levels, sigma0);
    base = base.blur((first * first - present * present).max(0.0).sqrt());
    let mut octaves = Vec::new();
    let mut index = first_octave;
    loop {
        let gaussians = octave_gaussians(base, levels, sigma0);
        let dogs = gaussians
            .windows(2)
            .map(|pair| pair[1].difference(&pair[0]))
            .collect();
        let next = gaussians[levels].decimate2();
        octaves.push(Octave {
            index,
            gaussians,
            dogs,
        });
        if next.width.min(next.height) < 16 {
            break;
        }
        base = next;
        index += 1;
    }
    octaves
}

/// Blur of Gaussian image `k` (fractional for refined levels), in its octave's pixels.
pub fn level_sigma(k: impl Into<f64>, levels: usize, sigma0: f32) -> f32 {
    sigma0 * 2f64.powf((k.into() - 1.0) / levels as f64) as f32
}

fn octave_gaussians(base: GrayImage, levels: usize, sigma0: f32) -> Vec<GrayImage> {
    let sigma = |k: usize| level_sigma(k as f64, levels, sigma0);
    let mut out = Vec::with_capacity(levels + 3);
    out.push(base);
    for k in 1..levels + 3 {
        let extra = (sigma(k).powi(2) - sigma(k - 1).powi(2)).sqrt();
        let next = out[k - 1].blur(extra);
        out.push(next);
    }
    out
}

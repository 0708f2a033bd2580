//! Single-channel f32 images and the filters the scale space is made of: separable Gaussian
//! blur (clamped borders), 2× bilinear upsampling and 2× decimation.

use rayon::prelude::*;

/// A row-major grey image with values in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct GrayImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl GrayImage {
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0.0; width * height],
        }
    }

    /// Luminance (Rec. 601 weights) of an 8-bit RGB image.
    pub fn from_rgb8(img: &image::RgbImage) -> Self {
        let (w, h) = img.dimensions();
        let data = img
            .pixels()
            .map(|p| {
                (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
                    / 255.0
            })
            .collect();
        Self {
            width: w as usize,
            height: h as usize,
            data,
        }
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    pub fn row(&self, y: usize) -> &[f32] {
        &self.data[y * self.width..(y + 1) * self.width]
    }

    /// Twice the size, bilinear: output pixel `i` samples input position `i / 2`.
    pub fn upsample2(&self) -> Self {
        let (w, h) = (self.width, self.height);
        let (ow, oh) = (2 * w, 2 * h);
        let mut out = Self::new(ow, oh);
        out.data
            .par_chunks_mut(ow)
            .enumerate()
            .for_each(|(oy, row)| {
                let y0 = oy / 2;
                let y1 = (y0 + 1).min(h - 1);
                let fy = if oy % 2 == 1 { 0.5 } else { 0.0 };
                let (r0, r1) = (self.row(y0), self.row(y1));
                for (ox, v) in row.iter_mut().enumerate() {
                    let x0 = ox / 2;
                    let x1 = (x0 + 1).min(w - 1);
                    let fx = if ox % 2 == 1 { 0.5 } else { 0.0 };
                    let top = r0[x0] + (r0[x1] - r0[x0]) * fx;
                    let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx;
                    *v = top + (bottom - top) * fy;
                }
            });
        out
    }

    /// Every other pixel (output `i` is input `2i`); the caller has blurred enough first.
    pub fn decimate2(&self) -> Self {
        let (ow, oh) = (self.width.div_ceil(2), self.height.div_ceil(2));
        let mut out = Self::new(ow, oh);
        out.data
            .par_chunks_mut(ow)
            .enumerate()
            .for_each(|(oy, row)| {
                let src = self.row(2 * oy);
                for (ox, v) in row.iter_mut().enumerate() {
                    *v = src[2 * ox];
                }
            });
        out
    }

    /// Gaussian blur with standard deviation `sigma` pixels (kernel radius ⌈4σ⌉, borders clamped).
    pub fn blur(&self, sigma: f32) -> Self {
        if sigma <= 0.0 {
            return self.clone();
        }
        let kernel = gaussian_kernel(sigma);
        let r = kernel.len() / 2;
        let (w, h) = (self.width, self.height);
        // Horizontal pass: each row padded by clamping, then a k-outer / x-inner loop the
        // compiler vectorises.
        let mut tmp = Self::new(w, h);
        tmp.data.par_chunks_mut(w).enumerate().for_each(|(y, out)| {
            let src = self.row(y);
            let mut padded = Vec::with_capacity(w + 2 * r);
            padded.extend(std::iter::repeat_n(src[0], r));
            padded.extend_from_slice(src);
            padded.extend(std::iter::repeat_n(src[w - 1], r));
            out.fill(0.0);
            for (k, &wk) in kernel.iter().enumerate() {
                let shifted = &padded[k..k + w];
                for (o, &s) in out.iter_mut().zip(shifted) {
                    *o += wk * s;
                }
            }
        });
        // Vertical pass: weighted sum of whole rows.
        let mut out = Self::new(w, h);
        out.data.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
            for (k, &wk) in kernel.iter().enumerate() {
                let sy = (y as isize + k as isize - r as isize).clamp(0, h as isize - 1);
                let src = tmp.row(sy as usize);
                for (o, &s) in row.iter_mut().zip(src) {
                    *o += wk * s;
                }
            }
        });
        out
    }

    /// `self − other`, pixel by pixel (same size).
    pub fn difference(&self, other: &Self) -> Self {
        let data = self
            .data
            .iter()
            .zip(&other.data)
            .map(|(a, b)| a - b)
            .collect();
        Self {
            width: self.width,
            height: self.height,
            data,
        }
    }
}

/// A normalised sampled Gaussian of radius ⌈4σ⌉.
pub fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let r = (4.0 * sigma).ceil().max(1.0) as isize;
    let mut k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_matches_direct_2d_convolution() {
        let mut img = GrayImage::new(23, 17);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = ((i * 7919) % 101) as f32 / 100.0;
        }
        let sigma = 1.3;
        let out = img.blur(sigma);
        let k = gaussian_kernel(sigma);
        let r = (k.len() / 2) as isize;
        for y in 0..img.height {
            for x in 0..img.width {
                let mut s = 0.0f64;
                for dy in -r..=r {
                    for dx in -r..=r {
                        let sx = (x as isize + dx).clamp(0, img.width as isize - 1) as usize;
                        let sy = (y as isize + dy).clamp(0, img.height as isize - 1) as usize;
                        s += f64::from(k[(dx + r) as usize] * k[(dy + r) as usize])
                            * f64::from(img.at(sx, sy));
                    }
                }
                assert!((f64::from(out.at(x, y)) - s).abs() < 1e-5, "({x},{y})");
            }
        }
    }

    #[test]
    fn upsample_then_decimate_is_identity() {
        let mut img = GrayImage::new(9, 5);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = i as f32;
        }
        let up = img.upsample2();
        assert_eq!(up.width, 18);
        assert_eq!(up.at(3, 2), (img.at(1, 1) + img.at(2, 1)) / 2.0);
        assert_eq!(up.decimate2(), img);
    }
}

//! Orientation assignment and the 128-d descriptor (4×4 cells × 8 orientation bins), in the
//! keypoint's rotated frame on the Gaussian image nearest its scale, then RootSIFT.

use crate::gray::GrayImage;
use std::f32::consts::TAU;

const ORIENTATION_BINS: usize = 36;
/// Orientation window σ, in units of the keypoint's σ.
const ORIENTATION_WINDOW: f32 = 1.5;
/// A second orientation is kept when its peak reaches this fraction of the highest.
const ORIENTATION_PEAK_RATIO: f32 = 0.8;
/// Descriptor cell width in units of the keypoint's σ.
const MAGNIFICATION: f32 = 3.0;
const CELLS: usize = 4;
const ANGLE_BINS: usize = 8;
pub const DESCRIPTOR_LEN: usize = CELLS * CELLS * ANGLE_BINS;
/// Clamp of the normalised histogram before renormalising (Lowe's illumination robustness).
const CLAMP: f32 = 0.2;

/// Central-difference gradient at an interior pixel, as (magnitude, angle in [0, 2π)).
#[inline]
fn gradient(img: &GrayImage, x: usize, y: usize) -> (f32, f32) {
    let gx = 0.5 * (img.at(x + 1, y) - img.at(x - 1, y));
    let gy = 0.5 * (img.at(x, y + 1) - img.at(x, y - 1));
    ((gx * gx + gy * gy).sqrt(), fast_atan2(gy, gx))
}

/// atan2 in [0, 2π) with an absolute error under 1e-5 rad (a polynomial on [0, 1] and octant
/// symmetry): the histograms bin angles into 10° and 45° bins, and libm's atan2 was a
/// large share of the descriptor's cost.
#[inline]
fn fast_atan2(y: f32, x: f32) -> f32 {
    // Least-squares odd polynomial for atan on [0, 1] (max error 1.3e-7).
    const C: [f32; 8] = [
        0.999_999_4,
        -0.333_302_22,
        0.199_511_11,
        -0.139_332_3,
        0.097_093_51,
        -0.056_880_89,
        0.022_566_83,
        -0.004_257_41,
    ];
    let (ax, ay) = (x.abs(), y.abs());
    let (lo, hi) = if ax < ay { (ax, ay) } else { (ay, ax) };
    if hi == 0.0 {
        return 0.0;
    }
    let t = lo / hi;
    let t2 = t * t;
    let mut a = C.iter().rev().fold(0.0, |acc, &c| acc * t2 + c) * t;
    if ay > ax {
        a = std::f32::consts::FRAC_PI_2 - a;
    }
    if x < 0.0 {
        a = std::f32::consts::PI - a;
    }
    if y < 0.0 {
        a = TAU - a;
    }
    if a >= TAU { 0.0 } else { a }
}

/// Calls `visit(dx, dy, px, py)` for every interior pixel (px, py) of the square window of
/// `radius` pixels around the pixel nearest (x, y); (dx, dy) is the offset from (x, y). The
/// visitor computes the gradient only where it needs it.
fn for_each_pixel(
    img: &GrayImage,
    x: f32,
    y: f32,
    radius: isize,
    mut visit: impl FnMut(f32, f32, usize, usize),
) {
    let (xi, yi) = (x.round() as isize, y.round() as isize);
    let rows = (yi - radius).max(1)..(yi + radius + 1).min(img.height as isize - 1);
    let cols = (xi - radius).max(1)..(xi + radius + 1).min(img.width as isize - 1);
    for py in rows {
        for px in cols.clone() {
            visit(px as f32 - x, py as f32 - y, px as usize, py as usize);
        }
    }
}

/// Up to `max` dominant gradient orientations around (x, y) at blur `sigma` (octave pixels),
/// strongest first.
pub fn orientations(img: &GrayImage, x: f32, y: f32, sigma: f32, max: usize) -> Vec<f32> {
    let window = ORIENTATION_WINDOW * sigma;
    let radius = (3.0 * window).round() as isize;
    let mut hist = [0f32; ORIENTATION_BINS];
    for_each_pixel(img, x, y, radius, |rx, ry, px, py| {
        let r2 = rx * rx + ry * ry;
        if r2 > (radius * radius) as f32 + 0.5 {
            return;
        }
        let (mag, angle) = gradient(img, px, py);
        let weight = (-r2 / (2.0 * window * window)).exp();
        let fbin = angle / TAU * ORIENTATION_BINS as f32 - 0.5;
        let b0 = fbin.floor();
        let frac = fbin - b0;
        let b0 = (b0 as isize).rem_euclid(ORIENTATION_BINS as isize) as usize;
        hist[b0] += (1.0 - frac) * weight * mag;
        hist[(b0 + 1) % ORIENTATION_BINS] += frac * weight * mag;
    });
    for _ in 0..6 {
        let prev = hist;
        for i in 0..ORIENTATION_BINS {
            let l = prev[(i + ORIENTATION_BINS - 1) % ORIENTATION_BINS];
            let r = prev[(i + 1) % ORIENTATION_BINS];
            hist[i] = (l + prev[i] + r) / 3.0;
        }
    }
    let peak = hist.iter().copied().fold(0f32, f32::max);
    if peak <= 0.0 {
        return Vec::new();
    }
    let mut found: Vec<(f32, f32)> = Vec::new();
    for i in 0..ORIENTATION_BINS {
        let l = hist[(i + ORIENTATION_BINS - 1) % ORIENTATION_BINS];
        let r = hist[(i + 1) % ORIENTATION_BINS];
        let v = hist[i];
        if v > l && v > r && v >= ORIENTATION_PEAK_RATIO * peak {
            let offset = 0.5 * (l - r) / (l - 2.0 * v + r);
            let angle = ((i as f32 + 0.5 + offset) / ORIENTATION_BINS as f32 * TAU).rem_euclid(TAU);
            found.push((v, angle));
        }
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0));
    found.into_iter().take(max).map(|(_, a)| a).collect()
}

/// The normalised SIFT histogram for a keypoint at (x, y), blur `sigma` and `angle`, or `None`
/// when the image around it is flat.
pub fn descriptor(
    img: &GrayImage,
    x: f32,
    y: f32,
    sigma: f32,
    angle: f32,
) -> Option<[f32; DESCRIPTOR_LEN]> {
    let cell = MAGNIFICATION * sigma;
    let radius = (cell * std::f32::consts::SQRT_2 * (CELLS as f32 + 1.0) * 0.5).round() as isize;
    let (cos, sin) = (angle.cos(), angle.sin());
    let half = CELLS as f32 / 2.0;
    let mut hist = [0f32; DESCRIPTOR_LEN];
    for_each_pixel(img, x, y, radius, |ox, oy, px, py| {
        // Offset in the keypoint's frame, in cells, with cell centres at −1.5 … 1.5.
        let u = (cos * ox + sin * oy) / cell;
        let v = (-sin * ox + cos * oy) / cell;
        let (bu, bv) = (u + half - 0.5, v + half - 0.5);
        if bu <= -1.0 || bv <= -1.0 || bu >= CELLS as f32 || bv >= CELLS as f32 {
            return;
        }
        let (mag, theta) = gradient(img, px, py);
        let weight = (-(u * u + v * v) / (2.0 * half * half)).exp();
        let rel = (theta - angle).rem_euclid(TAU) / TAU * ANGLE_BINS as f32;
        accumulate(&mut hist, bu, bv, rel, weight * mag);
    });
    normalize(&mut hist)?;
    hist.iter_mut().for_each(|v| *v = v.min(CLAMP));
    normalize(&mut hist)?;
    Some(hist)
}

/// Trilinear vote into the cell/orientation histogram.
fn accumulate(hist: &mut [f32; DESCRIPTOR_LEN], bu: f32, bv: f32, bo: f32, value: f32) {
    let (u0, v0, o0) = (bu.floor(), bv.floor(), bo.floor());
    let (fu, fv, fo) = (bu - u0, bv - v0, bo - o0);
    let (u0, v0, o0) = (u0 as isize, v0 as isize, o0 as isize);
    for (du, wu) in [(0, 1.0 - fu), (1, fu)] {
        let cu = u0 + du;
        if !(0..CELLS as isize).contains(&cu) {
            continue;
        }
        for (dv, wv) in [(0, 1.0 - fv), (1, fv)] {
            let cv = v0 + dv;
            if !(0..CELLS as isize).contains(&cv) {
                continue;
            }
            for (dor, wo) in [(0, 1.0 - fo), (1, fo)] {
                let co = ((o0 + dor) as usize) % ANGLE_BINS;
                let index = (cv as usize * CELLS + cu as usize) * ANGLE_BINS + co;
                hist[index] += value * wu * wv * wo;
            }
        }
    }
}

fn normalize(v: &mut [f32]) -> Option<()> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm <= 1e-12 {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Some(())
}

/// RootSIFT (Arandjelović & Zisserman 2012): L1-normalise, square-root; the result has unit L2
/// norm, so Euclidean distance between RootSIFT vectors is the Hellinger distance of the SIFTs.
/// Stored as bytes the way COLMAP stores SIFT: round(min(255, 512·v)).
pub fn root_sift_bytes(hist: &[f32; DESCRIPTOR_LEN]) -> [u8; DESCRIPTOR_LEN] {
    let l1: f32 = hist.iter().sum();
    let mut out = [0u8; DESCRIPTOR_LEN];
    for (o, &h) in out.iter_mut().zip(hist) {
        let v = (h / l1).sqrt();
        *o = (512.0 * v).round().min(255.0) as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fast_atan2;
    use std::f32::consts::TAU;

    #[test]
    fn fast_atan2_matches_libm() {
        let mut worst = 0f64;
        for i in 0..20_000 {
            let a = f64::from(i) / 20_000.0 * std::f64::consts::TAU;
            for r in [1e-3, 0.7, 3.0] {
                let (y, x) = ((r * a.sin()) as f32, (r * a.cos()) as f32);
                let exact = f64::from(y)
                    .atan2(f64::from(x))
                    .rem_euclid(std::f64::consts::TAU);
                let d = (f64::from(fast_atan2(y, x)) - exact).abs();
                worst = worst.max(d.min(std::f64::consts::TAU - d));
            }
        }
        assert!(worst < 1e-5, "{worst:e}");
        assert_eq!(fast_atan2(0.0, 0.0), 0.0);
        assert!(fast_atan2(-1e-9, 1.0) < TAU);
    }
}

//! The photometric loss in f64, written directly (2-D window, no separable passes): the oracle
//! for `loss.wgsl`. L = (1−λ)·mean|x−y| + λ·(1 − mean SSIM(x, y)) over pixels and
//! channels, SSIM with an 11×11 Gaussian window (σ = 1.5), zero padding, C1 = 0.01², C2 = 0.03².

/// The loss and its two terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossValue {
    pub total: f64,
    pub l1: f64,
    pub ssim: f64,
}

use crate::constants::{SSIM_C1 as C1, SSIM_C2 as C2, SSIM_RADIUS as RADIUS};

fn window() -> [f64; 11] {
    let mut g = [0.0; 11];
    for (k, v) in g.iter_mut().enumerate() {
        let d = k as f64 - 5.0;
        *v = (-d * d / (2.0 * 1.5 * 1.5)).exp();
    }
    let s: f64 = g.iter().sum();
    g.map(|v| v / s)
}

/// Σ_q G(p − q)·f(q) over the image (zero outside), for every pixel p and channel.
fn blur(f: &[[f64; 3]], w: usize, h: usize) -> Vec<[f64; 3]> {
    let g = window();
    let mut out = vec![[0.0; 3]; w * h];
    for py in 0..h as i64 {
        for px in 0..w as i64 {
            let mut acc = [0.0; 3];
            for dy in -RADIUS..=RADIUS {
                for dx in -RADIUS..=RADIUS {
                    let (qx, qy) = (px + dx, py + dy);
                    if qx < 0 || qy < 0 || qx >= w as i64 || qy >= h as i64 {
                        continue;
                    }
                    let wgt = g[(dx + RADIUS) as usize] * g[(dy + RADIUS) as usize];
                    let v = f[qy as usize * w + qx as usize];
                    for c in 0..3 {
                        acc[c] += wgt * v[c];
                    }
                }
            }
            out[py as usize * w + px as usize] = acc;
        }
    }
    out
}

fn map2(a: &[[f64; 3]], b: &[[f64; 3]], f: impl Fn(f64, f64) -> f64) -> Vec<[f64; 3]> {
    a.iter()
        .zip(b)
        .map(|(p, q)| [0, 1, 2].map(|c| f(p[c], q[c])))
        .collect()
}

/// SSIM map and its partials A = ∂S/∂μx − 2μx ∂S/∂σx² − μy ∂S/∂σxy, B = ∂S/∂σx², C = ∂S/∂σxy.
type SsimMaps = (Vec<[f64; 3]>, Vec<[f64; 3]>, Vec<[f64; 3]>, Vec<[f64; 3]>);

fn ssim_maps(x: &[[f64; 3]], y: &[[f64; 3]], w: usize, h: usize) -> SsimMaps {
    let mx = blur(x, w, h);
    let my = blur(y, w, h);
    let exx = blur(&map2(x, x, |a, b| a * b), w, h);
    let eyy = blur(&map2(y, y, |a, b| a * b), w, h);
    let exy = blur(&map2(x, y, |a, b| a * b), w, h);
    let n = w * h;
    let (mut s, mut am, mut bm, mut cm) = (
        vec![[0.0; 3]; n],
        vec![[0.0; 3]; n],
        vec![[0.0; 3]; n],
        vec![[0.0; 3]; n],
    );
    for p in 0..n {
        for c in 0..3 {
            let (ux, uy) = (mx[p][c], my[p][c]);
            let vx = exx[p][c] - ux * ux;
            let vy = eyy[p][c] - uy * uy;
            let cxy = exy[p][c] - ux * uy;
            let (a, b) = (2.0 * ux * uy + C1, 2.0 * cxy + C2);
            let (cc, d) = (ux * ux + uy * uy + C1, vx + vy + C2);
            let sv = a * b / (cc * d);
            let ds_dmx = 2.0 * uy * b / (cc * d) - sv * 2.0 * ux / cc;
            let ds_dvx = -sv / d;
            let ds_dcxy = 2.0 * a / (cc * d);
            s[p][c] = sv;
            am[p][c] = ds_dmx - 2.0 * ux * ds_dvx - uy * ds_dcxy;
            bm[p][c] = ds_dvx;
            cm[p][c] = ds_dcxy;
        }
    }
    (s, am, bm, cm)
}

/// The loss of render `x` against target `y` (row-major RGB, `w`×`h`).
pub fn photometric_loss(
    x: &[[f64; 3]],
    y: &[[f64; 3]],
    w: usize,
    h: usize,
    lambda: f64,
) -> LossValue {
    let count = (w * h * 3) as f64;
    let (s, ..) = ssim_maps(x, y, w, h);
    let ssim = s.iter().flatten().sum::<f64>() / count;
    let l1 = map2(x, y, |a, b| (a - b).abs())
        .iter()
        .flatten()
        .sum::<f64>()
        / count;
    LossValue {
        total: (1.0 - lambda) * l1 + lambda * (1.0 - ssim),
        l1,
        ssim,
    }
}

/// dL/dx for `photometric_loss` (sign(0) = 0 for the L1 term).
pub fn photometric_loss_grad(
    x: &[[f64; 3]],
    y: &[[f64; 3]],
    w: usize,
    h: usize,
    lambda: f64,
) -> Vec<[f64; 3]> {
    let count = (w * h * 3) as f64;
    let (_, a, b, c) = ssim_maps(x, y, w, h);
    let (ga, gb, gc) = (blur(&a, w, h), blur(&b, w, h), blur(&c, w, h));
    (0..w * h)
        .map(|p| {
            [0, 1, 2].map(|ch| {
                let (xv, yv) = (x[p][ch], y[p][ch]);
                let d_ssim = ga[p][ch] + 2.0 * xv * gb[p][ch] + yv * gc[p][ch];
                let sign = if xv > yv {
                    1.0
                } else if xv < yv {
                    -1.0
                } else {
                    0.0
                };
                ((1.0 - lambda) * sign - lambda * d_ssim) / count
            })
        })
        .collect()
}

#[cfg(test)]
mod window_tests {
    use super::window;
    use crate::constants::SSIM_WINDOW_F32;

    #[test]
    fn the_gpu_window_is_the_reference_window_to_8_decimals() {
        // Rounding to 8 decimals, then to f32 (half an ulp: 2^-24 relative).
        let exact = window();
        for (k, &w) in SSIM_WINDOW_F32.iter().enumerate() {
            assert!(
                (f64::from(w) - exact[5 + k]).abs() <= 5e-9 + f64::from(w) * 2f64.powi(-24),
                "weight {k}: {w} vs {}",
                exact[5 + k]
            );
            assert_eq!(exact[5 + k], exact[5 - k], "the window is symmetric");
        }
    }
}

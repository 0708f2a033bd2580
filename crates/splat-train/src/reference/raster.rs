//! Per-pixel front-to-back blending over depth-sorted Gaussians, and its backward pass.

use super::project::{ProjectedGrad, project, project_backward};
use super::{ALPHA_MAX, ALPHA_MIN, Gaussians, Grads, Projected, T_MIN, TILE, View};
use rayon::prelude::*;

/// A rendered view with what the backward pass and the tests need.
#[derive(Debug, Clone)]
pub struct Render {
    pub width: u32,
    pub height: u32,
    /// Row-major RGB.
    pub image: Vec<[f64; 3]>,
    /// Accumulated opacity, 1 − final transmittance.
    pub alpha: Vec<f64>,
    /// Expected depth Σ zᵢ αᵢ Tᵢ (not normalised by alpha).
    pub depth: Vec<f64>,
    pub projected: Vec<Projected>,
    /// Visible Gaussians front to back (depth, then index).
    pub order: Vec<usize>,
    /// A hash of every discrete decision (culling, tiles, which Gaussians touch which pixel,
    /// clamps); equal signatures mean the render is a smooth function of the parameters there.
    pub signature: u64,
}

/// One Gaussian's effect on one pixel.
struct Contribution {
    id: usize,
    alpha: f64,
    gauss: f64,
    clamped: bool,
    d: [f64; 2],
}

fn contributors(
    projected: &[Projected],
    order: &[usize],
    x: u32,
    y: u32,
) -> (Vec<Contribution>, f64) {
    let (tx, ty) = (x / TILE, y / TILE);
    let centre = [f64::from(x) + 0.5, f64::from(y) + 0.5];
    let mut t = 1.0;
    let mut out = Vec::new();
    for &id in order {
        let p = &projected[id];
        if tx < p.rect[0] || tx >= p.rect[2] || ty < p.rect[1] || ty >= p.rect[3] {
            continue;
        }
        let d = [p.mean2d[0] - centre[0], p.mean2d[1] - centre[1]];
        let power =
            -0.5 * (p.conic[0] * d[0] * d[0] + p.conic[2] * d[1] * d[1]) - p.conic[1] * d[0] * d[1];
        if power > 0.0 {
            continue;
        }
        let gauss = power.exp();
        let raw = p.opacity * gauss;
        let alpha = raw.min(ALPHA_MAX);
        if alpha < ALPHA_MIN {
            continue;
        }
        let next = t * (1.0 - alpha);
        if next < T_MIN {
            break;
        }
        out.push(Contribution {
            id,
            alpha,
            gauss,
            clamped: raw > ALPHA_MAX,
            d,
        });
        t = next;
    }
    (out, t)
}

fn fnv(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x100_0000_01b3)
}

/// One rendered row: colours, alphas, depths and the row's signature.
type Row = (Vec<[f64; 3]>, Vec<f64>, Vec<f64>, u64);

/// Every Gaussian projected into `view`, and the visible ones front to back (depth, then index).
fn project_and_order(g: &Gaussians, view: &View) -> (Vec<Projected>, Vec<usize>) {
    let projected: Vec<Projected> = (0..g.len())
        .into_par_iter()
        .map(|i| project(g, i, view))
        .collect();
    let mut order: Vec<usize> = (0..g.len()).filter(|&i| projected[i].visible).collect();
    order.sort_by(|&a, &b| {
        projected[a]
            .depth
            .total_cmp(&projected[b].depth)
            .then(a.cmp(&b))
    });
    (projected, order)
}

/// Renders `g` into `view`.
pub fn forward(g: &Gaussians, view: &View) -> Render {
    let (projected, order) = project_and_order(g, view);
    let (w, h) = (view.width, view.height);
    let rows: Vec<Row> = (0..h)
        .into_par_iter()
        .map(|y| {
            let mut img = Vec::with_capacity(w as usize);
            let mut alpha = Vec::with_capacity(w as usize);
            let mut depth = Vec::with_capacity(w as usize);
            let mut sig = 0xcbf2_9ce4_8422_2325u64;
            for x in 0..w {
                let (cs, t_final) = contributors(&projected, &order, x, y);
                let mut c = [0.0; 3];
                let mut dep = 0.0;
                let mut t = 1.0;
                for k in &cs {
                    let p = &projected[k.id];
                    for (cv, pc) in c.iter_mut().zip(p.color) {
                        *cv += pc * k.alpha * t;
                    }
                    dep += p.depth * k.alpha * t;
                    t *= 1.0 - k.alpha;
                    sig = fnv(fnv(sig, k.id as u64), u64::from(k.clamped));
                }
                sig = fnv(sig, u64::MAX);
                img.push([0, 1, 2].map(|ch| c[ch] + t_final * view.background[ch]));
                alpha.push(1.0 - t_final);
                depth.push(dep);
            }
            (img, alpha, depth, sig)
        })
        .collect();
    let mut signature = 0xcbf2_9ce4_8422_2325u64;
    for p in &projected {
        signature = fnv(signature, u64::from(p.visible));
        for r in p.rect {
            signature = fnv(signature, u64::from(r));
        }
        for b in [
            p.color_clamped[0],
            p.color_clamped[1],
            p.color_clamped[2],
            p.clamp_x,
            p.clamp_y,
        ] {
            signature = fnv(signature, u64::from(b));
        }
    }
    let mut out = Render {
        width: w,
        height: h,
        image: Vec::new(),
        alpha: Vec::new(),
        depth: Vec::new(),
        projected,
        order,
        signature: 0,
    };
    for (img, alpha, depth, sig) in rows {
        out.image.extend(img);
        out.alpha.extend(alpha);
        out.depth.extend(depth);
        signature = fnv(signature, sig);
    }
    out.signature = signature;
    out
}

/// Each Gaussian's blending weight αT summed over the pixels of `view`: how much of the image
/// it paints (the GPU's `Rasterizer::accumulate_weights`).
pub fn blend_weights(g: &Gaussians, view: &View) -> Vec<f64> {
    let (projected, order) = project_and_order(g, view);
    let mut weights = vec![0.0; g.len()];
    for y in 0..view.height {
        for x in 0..view.width {
            let (cs, _) = contributors(&projected, &order, x, y);
            let mut t = 1.0;
            for k in &cs {
                weights[k.id] += k.alpha * t;
                t *= 1.0 - k.alpha;
            }
        }
    }
    weights
}

/// Rows per block of the gradient reduction: blocks are summed in a fixed order, so the
/// result does not depend on how rayon schedules them.
const ROWS_PER_BLOCK: u32 = 8;

/// Gradients of a loss given dL/d(image) and dL/d(alpha) for a render made by `forward`.
pub fn backward(
    g: &Gaussians,
    view: &View,
    r: &Render,
    d_image: &[[f64; 3]],
    d_alpha: &[f64],
) -> Grads {
    let n = g.len();
    let w = view.width;
    let blocks: Vec<Vec<ProjectedGrad>> = (0..view.height.div_ceil(ROWS_PER_BLOCK))
        .into_par_iter()
        .map(|b| {
            let mut acc = vec![ProjectedGrad::default(); n];
            for y in b * ROWS_PER_BLOCK..((b + 1) * ROWS_PER_BLOCK).min(view.height) {
                for x in 0..w {
                    let pix = (y * w + x) as usize;
                    pixel_backward(view, r, x, y, d_image[pix], d_alpha[pix], &mut acc);
                }
            }
            acc
        })
        .collect();
    let mut total = vec![ProjectedGrad::default(); n];
    for b in blocks {
        for (t, a) in total.iter_mut().zip(b) {
            for k in 0..2 {
                t.mean2d[k] += a.mean2d[k];
            }
            for k in 0..3 {
                t.conic[k] += a.conic[k];
                t.color[k] += a.color[k];
            }
            t.opacity += a.opacity;
        }
    }
    let mut grads = Grads::zeros(g);
    for (i, (p, t)) in r.projected.iter().zip(&total).enumerate() {
        project_backward(g, i, view, p, t, &mut grads);
    }
    grads
}

fn pixel_backward(
    view: &View,
    r: &Render,
    x: u32,
    y: u32,
    dpix: [f64; 3],
    dalpha: f64,
    acc: &mut [ProjectedGrad],
) {
    let (cs, t_final) = contributors(&r.projected, &r.order, x, y);
    let bg_dot: f64 = (0..3).map(|c| view.background[c] * dpix[c]).sum();
    let mut t = t_final;
    let mut behind = [0.0; 3];
    let mut last_alpha = 0.0;
    let mut last_color = [0.0; 3];
    for k in cs.iter().rev() {
        let p = &r.projected[k.id];
        let a = &mut acc[k.id];
        t /= 1.0 - k.alpha;
        for c in 0..3 {
            a.color[c] += k.alpha * t * dpix[c];
            behind[c] = last_alpha * last_color[c] + (1.0 - last_alpha) * behind[c];
        }
        last_alpha = k.alpha;
        last_color = p.color;
        let mut dl_dalpha: f64 = (0..3)
            .map(|c| (p.color[c] - behind[c]) * dpix[c])
            .sum::<f64>()
            * t;
        dl_dalpha += -t_final / (1.0 - k.alpha) * bg_dot;
        dl_dalpha += dalpha * t_final / (1.0 - k.alpha);
        if k.clamped {
            continue;
        }
        a.opacity += k.gauss * dl_dalpha;
        let dl_dpower = dl_dalpha * k.alpha;
        let [dx, dy] = k.d;
        let [ca, cb, cc] = p.conic;
        a.mean2d[0] += dl_dpower * -(ca * dx + cb * dy);
        a.mean2d[1] += dl_dpower * -(cc * dy + cb * dx);
        a.conic[0] += dl_dpower * -0.5 * dx * dx;
        a.conic[1] += dl_dpower * -dx * dy;
        a.conic[2] += dl_dpower * -0.5 * dy * dy;
    }
}

//! Scale-space extrema of the difference-of-Gaussians, refined to subpixel position and scale
//! by a quadratic fit, and filtered by contrast and by the principal-curvature (edge) ratio.

use super::scale_space::Octave;
use rayon::prelude::*;

/// A refined extremum in octave coordinates.
#[derive(Debug, Clone, Copy)]
pub struct Extremum {
    /// Position in the octave's pixels.
    pub x: f32,
    pub y: f32,
    /// Fractional DoG level (1 ≤ level ≤ levels).
    pub level: f32,
    /// Interpolated DoG value (signed).
    pub response: f32,
}

/// Pixels too close to the border to fit or describe.
const BORDER: usize = 5;
const MAX_REFINE_STEPS: usize = 5;

/// Every extremum of one octave that passes the contrast and edge tests.
pub fn extrema(octave: &Octave, peak_threshold: f32, edge_threshold: f32) -> Vec<Extremum> {
    let dogs = &octave.dogs;
    let levels = dogs.len() - 2;
    let (w, h) = (dogs[0].width, dogs[0].height);
    if w <= 2 * BORDER || h <= 2 * BORDER {
        return Vec::new();
    }
    let prefilter = 0.8 * peak_threshold;
    (1..=levels)
        .into_par_iter()
        .flat_map(|s| (BORDER..h - BORDER).into_par_iter().map(move |y| (s, y)))
        .flat_map_iter(|(s, y)| {
            let mut found = Vec::new();
            let row = dogs[s].row(y);
            for (x, &v) in row.iter().enumerate().take(w - BORDER).skip(BORDER) {
                if v.abs() > prefilter
                    && is_local_extremum(octave, s, x, y, v)
                    && let Some(e) = refine(octave, s, x, y, peak_threshold, edge_threshold)
                {
                    found.push(e);
                }
            }
            found.into_iter()
        })
        .collect()
}

fn is_local_extremum(octave: &Octave, s: usize, x: usize, y: usize, v: f32) -> bool {
    let dogs = &octave.dogs;
    let w = dogs[0].width;
    for img in &dogs[s - 1..=s + 1] {
        for yy in y - 1..=y + 1 {
            let row = &img.data[yy * w + x - 1..yy * w + x + 2];
            for &n in row {
                if (v > 0.0 && n > v) || (v < 0.0 && n < v) {
                    return false;
                }
            }
        }
    }
    // Ties: the centre must be strictly beyond every neighbour but itself.
    let mut equal = 0;
    for img in &dogs[s - 1..=s + 1] {
        for yy in y - 1..=y + 1 {
            for xx in x - 1..=x + 1 {
                if img.at(xx, yy) == v {
                    equal += 1;
                }
            }
        }
    }
    equal == 1
}

/// Newton steps on the DoG's quadratic model, moving to the neighbouring pixel when the offset
/// leaves the current one.
fn refine(
    octave: &Octave,
    s0: usize,
    x0: usize,
    y0: usize,
    peak_threshold: f32,
    edge_threshold: f32,
) -> Option<Extremum> {
    let dogs = &octave.dogs;
    let levels = dogs.len() - 2;
    let (w, h) = (dogs[0].width, dogs[0].height);
    let (mut x, mut y, s) = (x0, y0, s0);
    for _ in 0..MAX_REFINE_STEPS {
        let d = |ds: isize, dx: isize, dy: isize| {
            dogs[(s as isize + ds) as usize]
                .at((x as isize + dx) as usize, (y as isize + dy) as usize)
        };
        let v = d(0, 0, 0);
        let gx = 0.5 * (d(0, 1, 0) - d(0, -1, 0));
        let gy = 0.5 * (d(0, 0, 1) - d(0, 0, -1));
        let gs = 0.5 * (d(1, 0, 0) - d(-1, 0, 0));
        let dxx = d(0, 1, 0) + d(0, -1, 0) - 2.0 * v;
        let dyy = d(0, 0, 1) + d(0, 0, -1) - 2.0 * v;
        let dss = d(1, 0, 0) + d(-1, 0, 0) - 2.0 * v;
        let dxy = 0.25 * (d(0, 1, 1) - d(0, -1, 1) - d(0, 1, -1) + d(0, -1, -1));
        let dxs = 0.25 * (d(1, 1, 0) - d(1, -1, 0) - d(-1, 1, 0) + d(-1, -1, 0));
        let dys = 0.25 * (d(1, 0, 1) - d(1, 0, -1) - d(-1, 0, 1) + d(-1, 0, -1));
        let hess = nalgebra::Matrix3::new(
            f64::from(dxx),
            f64::from(dxy),
            f64::from(dxs),
            f64::from(dxy),
            f64::from(dyy),
            f64::from(dys),
            f64::from(dxs),
            f64::from(dys),
            f64::from(dss),
        );
        let grad = nalgebra::Vector3::new(f64::from(gx), f64::from(gy), f64::from(gs));
        let offset = hess.lu().solve(&(-grad))?;
        let (ox, oy, os) = (offset.x as f32, offset.y as f32, offset.z as f32);
        let step_x = if ox > 0.6 {
            1
        } else if ox < -0.6 {
            -1
        } else {
            0
        };
        let step_y = if oy > 0.6 {
            1
        } else if oy < -0.6 {
            -1
        } else {
            0
        };
        if step_x != 0 || step_y != 0 {
            let nx = x as isize + step_x;
            let ny = y as isize + step_y;
            if nx < BORDER as isize
                || ny < BORDER as isize
                || nx >= (w - BORDER) as isize
                || ny >= (h - BORDER) as isize
            {
                return None;
            }
            x = nx as usize;
            y = ny as usize;
            continue;
        }
        if os.abs() > 1.5 {
            return None;
        }
        let response = v + 0.5 * (gx * ox + gy * oy + gs * os);
        if response.abs() < peak_threshold {
            return None;
        }
        let det = dxx * dyy - dxy * dxy;
        let trace = dxx + dyy;
        let r = edge_threshold;
        if det <= 0.0 || trace * trace * r >= (r + 1.0) * (r + 1.0) * det {
            return None;
        }
        let level = (s as f32 + os).clamp(0.5, levels as f32 + 0.5);
        return Some(Extremum {
            x: x as f32 + ox,
            y: y as f32 + oy,
            level,
            response,
        });
    }
    None
}

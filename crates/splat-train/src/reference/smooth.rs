//! The neighbour smoothness loss of `smooth.wgsl` in f64, written from its definition (each
//! cell's blur formed explicitly, the gradient by the chain rule through every blur that uses
//! a value), for the kernels' tests.

use crate::smooth::{EMPTY, GridMap, RADIUS};

fn huber(d: f64, delta: f64) -> f64 {
    if d.abs() <= delta {
        0.5 * d * d
    } else {
        delta * (d.abs() - 0.5 * delta)
    }
}

/// `Σ_c Σ_d huber(x_c − blur(x)_c)` over the occupied cells of `grid`, for `values` holding
/// `dim` floats per Gaussian, and its gradient with respect to `values`. Multiply both by the
/// kernel's scale to compare.
pub fn smoothness(
    grid: &GridMap,
    values: &[f64],
    dim: usize,
    sigma: f64,
    delta: f64,
) -> (f64, Vec<f64>) {
    let (w, h) = (i64::from(grid.width), i64::from(grid.height));
    let at = |x: i64, y: i64| -> Option<usize> {
        if x < 0 || y < 0 || x >= w || y >= h {
            return None;
        }
        let id = grid.ids[(y * w + x) as usize];
        (id != EMPTY).then_some(id as usize)
    };
    let r = i64::from(RADIUS);
    let mut loss = 0.0;
    let mut grad = vec![0.0; values.len()];
    for y in 0..h {
        for x in 0..w {
            let Some(id) = at(x, y) else { continue };
            // This cell's blur: normalised weights over its occupied neighbours.
            let mut taps = Vec::new();
            for dy in -r..=r {
                for dx in -r..=r {
                    if let Some(j) = at(x + dx, y + dy) {
                        let wt = (-((dx * dx + dy * dy) as f64) / (2.0 * sigma * sigma)).exp();
                        taps.push((j, wt));
                    }
                }
            }
            let total: f64 = taps.iter().map(|t| t.1).sum();
            for d in 0..dim {
                let blurred: f64 = taps
                    .iter()
                    .map(|&(j, wt)| wt / total * values[j * dim + d])
                    .sum();
                let diff = values[id * dim + d] - blurred;
                loss += huber(diff, delta);
                let slope = diff.clamp(-delta, delta);
                grad[id * dim + d] += slope;
                for &(j, wt) in &taps {
                    grad[j * dim + d] -= slope * wt / total;
                }
            }
        }
    }
    (loss, grad)
}

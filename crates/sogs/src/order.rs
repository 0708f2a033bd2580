//! The texel order of a compressed scene: the sort key built from the attributes SOG stores, a
//! Morton order as the starting point, and the self-organizing sort on top.

use crate::layout::GridLayout;
use crate::plas::{self, Grid, KEY_MAX, PlasOptions, PlasStats};
use splat_scene::GaussianCloud;

/// How much each stored attribute counts in the sort key (after each is standardised).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct KeyWeights {
    /// Log-space position (stored in 16 bits over two images: the dominant cost).
    pub position: f32,
    pub colour: f32,
    pub log_scale: f32,
    pub opacity: f32,
}

impl Default for KeyWeights {
    fn default() -> Self {
        KeyWeights {
            position: 3.0,
            colour: 1.0,
            log_scale: 1.0,
            opacity: 0.5,
        }
    }
}

pub const KEY_CHANNELS: usize = 10;

/// `sign(v)·ln(1 + |v|)`, the log space SOG stores positions in.
pub fn log_transform(v: f32) -> f32 {
    v.signum() * (v.abs()).ln_1p()
}

/// 10-bit keys, `KEY_CHANNELS` per Gaussian: log-position, DC colour, log-scales, linear opacity,
/// each attribute standardised with one mean and standard deviation (so its channels keep their
/// relative spread), clipped at ±4σ, weighted, and all mapped to `0..=KEY_MAX` by one affine map
/// (so the weights survive quantisation).
pub fn sort_keys(cloud: &GaussianCloud, weights: &KeyWeights) -> Vec<u16> {
    let n = cloud.len();
    let mut z = vec![0f32; n * KEY_CHANNELS];
    let mut fill =
        |offset: usize, dims: usize, weight: f32, value: &dyn Fn(usize, usize) -> f32| {
            let count = (n * dims).max(1) as f64;
            let mean = (0..n)
                .flat_map(|i| (0..dims).map(move |d| (i, d)))
                .map(|(i, d)| f64::from(value(i, d)))
                .sum::<f64>()
                / count;
            let var = (0..n)
                .flat_map(|i| (0..dims).map(move |d| (i, d)))
                .map(|(i, d)| (f64::from(value(i, d)) - mean).powi(2))
                .sum::<f64>()
                / count;
            let std = var.sqrt().max(1e-12);
            for i in 0..n {
                for d in 0..dims {
                    let s = ((f64::from(value(i, d)) - mean) / std).clamp(-4.0, 4.0) as f32;
                    z[i * KEY_CHANNELS + offset + d] = s * weight;
                }
            }
        };
    fill(0, 3, weights.position, &|i, d| {
        log_transform(cloud.means[i][d])
    });
    fill(3, 3, weights.colour, &|i, d| cloud.sh_dc[i][d]);
    fill(6, 3, weights.log_scale, &|i, d| cloud.log_scales[i][d]);
    fill(9, 1, weights.opacity, &|i, _| sigmoid(cloud.opacity[i]));
    let (lo, hi) = z
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let scale = if hi > lo {
        f32::from(KEY_MAX) / (hi - lo)
    } else {
        0.0
    };
    z.iter()
        .map(|&v| ((v - lo) * scale).round() as u16)
        .collect()
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Gaussian ids in Morton (Z-curve) order of their positions (the scene crate's definition,
/// shared with the compressed PLY writer).
pub use splat_scene::morton::morton_order;

/// Which sort to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Ordering {
    /// The order of the input file.
    Input,
    /// Morton order of the positions (what splat-transform does).
    Morton,
    /// Morton order refined by PLAS on the full key (the default).
    Plas,
}

/// The texel order and how good it is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrderReport {
    /// Mean neighbour key distance in the input order, the Morton order and the result.
    pub neighbour_distance_input: f64,
    pub neighbour_distance_morton: f64,
    pub neighbour_distance: f64,
    pub plas: Option<PlasStats>,
    /// PLAS refined the input's order (better arranged than the Morton order) instead of the
    /// Morton order.
    pub started_from_input: bool,
}

/// Texel `i` holds Gaussian `order[i]`. PLAS starts from the Morton order, or from the input's
/// own order where that is already better arranged (its neighbour distance lower), as a model
/// from compression-aware training is. From the Morton order, the Gaussians beyond the full rows
/// (fewer than one row) are the least opaque ones and go last; from the input, its last partial
/// row stays last. PLAS runs on `gpu` when given (the
/// same result as on the CPU).
pub fn texel_order(
    cloud: &GaussianCloud,
    layout: &GridLayout,
    ordering: Ordering,
    weights: &KeyWeights,
    opts: &PlasOptions,
    gpu: Option<&splat_gpu::GpuContext>,
    progress: &dyn Fn(usize, usize),
) -> Result<(Vec<u32>, OrderReport), splat_gpu::GpuError> {
    let n = cloud.len();
    let keys = sort_keys(cloud, weights);
    let (w, rows) = (layout.width, layout.full_rows());
    let in_grid = w * rows;
    let input: Vec<u32> = (0..n as u32).collect();
    let morton = morton_order(&cloud.means);
    let measure =
        |ids: &[u32]| Grid::new(w, rows, KEY_CHANNELS, &keys, &ids[..in_grid]).neighbour_distance();
    let neighbour_distance_input = measure(&input);
    let neighbour_distance_morton = measure(&morton);
    let mut started_from_input = false;
    let (order, nd, plas) = match ordering {
        Ordering::Input => (input, neighbour_distance_input, None),
        Ordering::Morton => (morton, neighbour_distance_morton, None),
        Ordering::Plas => {
            let (gridded, rest) = if neighbour_distance_input < neighbour_distance_morton {
                // The file is already arranged (compression-aware training writes its model in
                // the grid it trained smooth on): refine that arrangement, rows as they are.
                started_from_input = true;
                (input[..in_grid].to_vec(), input[in_grid..].to_vec())
            } else {
                least_opaque_last(cloud, &morton, n - in_grid)
            };
            let mut grid = Grid::new(w, rows, KEY_CHANNELS, &keys, &gridded);
            let stats = match gpu {
                Some(ctx) => crate::plas_gpu::sort(ctx, &mut grid, opts, progress)?,
                None => plas::sort(&mut grid, opts, progress),
            };
            let nd = grid.neighbour_distance();
            let mut order = grid.ids;
            order.extend(rest);
            (order, nd, Some(stats))
        }
    };
    Ok((
        order,
        OrderReport {
            neighbour_distance_input,
            neighbour_distance_morton,
            neighbour_distance: nd,
            plas,
            started_from_input,
        },
    ))
}

/// `order` split into the Gaussians for the grid and the `leftover` least opaque ones (the
/// partial last row), each part keeping `order`'s order.
fn least_opaque_last(
    cloud: &GaussianCloud,
    order: &[u32],
    leftover: usize,
) -> (Vec<u32>, Vec<u32>) {
    let mut by_opacity: Vec<u32> = (0..cloud.len() as u32).collect();
    by_opacity.sort_by(|&a, &b| {
        cloud.opacity[a as usize]
            .total_cmp(&cloud.opacity[b as usize])
            .then(a.cmp(&b))
    });
    let mut last = vec![false; cloud.len()];
    for &i in &by_opacity[..leftover] {
        last[i as usize] = true;
    }
    order.iter().partition(|&&i| !last[i as usize])
}

//! Where a run starts: the scene's extent and near plane from its cameras, and the initial
//! Gaussians (from the SfM points, or random in a cube when there are none).

use crate::model::Gaussians32;
use crate::sh::{SH_C0, coeff_count};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use splat_scene::Reconstruction;

/// 1.1 × the largest distance of a camera centre from their mean (the 3DGS "cameras extent").
pub fn scene_extent(model: &Reconstruction) -> f64 {
    let centres: Vec<_> = model
        .images
        .values()
        .map(splat_scene::Image::center)
        .collect();
    if centres.is_empty() {
        return 1.0;
    }
    let mean = centres
        .iter()
        .fold(nalgebra::Vector3::zeros(), |a, c| a + c)
        / centres.len() as f64;
    (1.1 * centres
        .iter()
        .map(|c| (c - mean).norm())
        .fold(0.0, f64::max))
    .max(1e-6)
}

/// The near plane used for a dataset: 1 % of its extent (Gaussians closer to a camera are culled).
pub fn default_near(model: &Reconstruction) -> f64 {
    0.01 * scene_extent(model)
}

fn inverse_sigmoid(x: f32) -> f32 {
    (x / (1.0 - x)).ln()
}

/// Gaussians at the sparse points: colour from the point, isotropic scale from the RMS distance
/// to the 3 nearest neighbours, opacity 0.1; without points, 100k random points in the
/// [−1.3, 1.3]³ cube (the reference's choice for synthetic scenes).
pub fn initial_gaussians(model: &Reconstruction, sh_degree: u32, seed: u64) -> Gaussians32 {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let (points, colours): (Vec<[f32; 3]>, Vec<[f32; 3]>) = if model.points3d.is_empty() {
        (0..100_000)
            .map(|_| {
                let p = [0; 3].map(|_| rng.random_range(-1.3f32..1.3));
                (
                    p,
                    [0; 3].map(|_| rng.random_range(0.0f32..1.0) / 255.0 * SH_C0 as f32 + 0.5),
                )
            })
            .unzip()
    } else {
        model
            .points3d
            .values()
            .map(|p| (p.xyz.map(|v| v as f32), p.rgb.map(|c| f32::from(c) / 255.0)))
            .unzip()
    };
    let n = points.len();
    // Brute-force 3-NN, parallel: fine for the sizes SfM gives (tens of thousands).
    let log_scales: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut best = [f32::MAX; 3];
            for (j, q) in points.iter().enumerate() {
                if i == j {
                    continue;
                }
                let d2 = (0..3).map(|k| (points[i][k] - q[k]).powi(2)).sum::<f32>();
                if d2 < best[2] {
                    best[2] = d2;
                    best.sort_by(f32::total_cmp);
                }
            }
            let used: Vec<f32> = best.iter().copied().filter(|d| *d < f32::MAX).collect();
            let mean = if used.is_empty() {
                1e-2
            } else {
                used.iter().sum::<f32>() / used.len() as f32
            };
            mean.max(1e-7).sqrt().ln()
        })
        .collect();
    let k = coeff_count(sh_degree);
    let mut sh = vec![0.0f32; n * k * 3];
    for (i, c) in colours.iter().enumerate() {
        for ch in 0..3 {
            sh[i * k * 3 + ch] = (c[ch] - 0.5) / SH_C0 as f32;
        }
    }
    Gaussians32 {
        sh_degree,
        means: points.iter().flatten().copied().collect(),
        log_scales: log_scales.iter().flat_map(|&s| [s, s, s]).collect(),
        quats: (0..n).flat_map(|_| [1.0, 0.0, 0.0, 0.0]).collect(),
        opacities: vec![inverse_sigmoid(0.1); n],
        sh,
    }
}

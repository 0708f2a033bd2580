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

/// For each point, the mean squared distance to its 3 nearest other points (fewer when there are
/// fewer; 1e-2 for a lone point): exact, from a k-d tree (kiddo), each distance computed as
/// `Σ (pᵢ − qᵢ)²` in f32 and the three summed smallest first, so the result does not depend on
/// how the tree orders its answers. 1M points take seconds where the brute force took hours.
pub fn mean_sq_distance_3nn(points: &[[f32; 3]]) -> Vec<f32> {
    use kiddo::SquaredEuclidean;
    use std::num::NonZero;
    let tree: kiddo::ImmutableKdTree<f32, 3> = kiddo::ImmutableKdTree::new_from_slice(points);
    let wanted = NonZero::new(4.min(points.len()).max(1)).unwrap_or(NonZero::<usize>::MIN);
    points
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let mut d: Vec<f32> = tree
                .nearest_n::<SquaredEuclidean>(p, wanted)
                .into_iter()
                .map(|nn| nn.item as usize)
                .filter(|&j| j != i)
                .map(|j| (0..3).map(|k| (p[k] - points[j][k]).powi(2)).sum::<f32>())
                .collect();
            d.sort_by(f32::total_cmp);
            d.truncate(3);
            if d.is_empty() {
                1e-2
            } else {
                d.iter().sum::<f32>() / d.len() as f32
            }
        })
        .collect()
}

fn inverse_sigmoid(x: f32) -> f32 {
    (x / (1.0 - x)).ln()
}

/// Random Gaussians for a run without SfM points: how many, and the cube they fill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomInit {
    pub centre: [f64; 3],
    pub half_size: f64,
    pub count: usize,
}

/// Where the cameras look and how much of it they see: the cube is centred on the point closest
/// (least squares) to every camera's optical axis and is as wide as the median camera sees at
/// that point's depth; it holds one Gaussian per 6.4 pixels of a training view (the paper's
/// 100,000 at 800×800), between 10,000 and 100,000. For the Blender scenes (cameras on a sphere
/// of radius 4 looking at the origin) this is the reference's ±1.3 cube, give or take 10 %.
/// Cameras that all look one way (no such point) fall back to their spread: the cube sits one
/// scene extent ahead of their mean position.
pub fn random_init(model: &Reconstruction, resolution: Option<u32>) -> RandomInit {
    use nalgebra::{Matrix3, Vector3};
    let fallback = RandomInit {
        centre: [0.0; 3],
        half_size: 1.3,
        count: 100_000,
    };
    let cams: Vec<_> = model
        .images
        .values()
        .filter_map(|im| model.cameras.get(&im.camera_id).map(|c| (im, c)))
        .collect();
    let Some((_, first)) = cams.first() else {
        return fallback;
    };
    let (w, h) = splat_scene::images::fit_longest(
        first.width as u32,
        first.height as u32,
        resolution.unwrap_or(0),
    );
    let count = ((f64::from(w) * f64::from(h) / 6.4) as usize).clamp(10_000, 100_000);
    let axes: Vec<(Vector3<f64>, Vector3<f64>, f64)> = cams
        .iter()
        .map(|(im, cam)| {
            let forward = im.rotation().row(2).transpose();
            let (fx, fy) = cam.focal();
            let tan_half = (cam.width as f64 / (2.0 * fx)).max(cam.height as f64 / (2.0 * fy));
            (im.center(), forward, tan_half)
        })
        .collect();
    let mut a = Matrix3::zeros();
    let mut b = Vector3::zeros();
    for (c, d, _) in &axes {
        let p = Matrix3::identity() - d * d.transpose();
        a += p;
        b += p * c;
    }
    let n = axes.len() as f64;
    let mean_c = axes.iter().fold(Vector3::zeros(), |s, (c, _, _)| s + c) / n;
    let mean_d = axes.iter().fold(Vector3::zeros(), |s, (_, d, _)| s + d) / n;
    // Well posed only when the axes point different ways: the smallest pivot of A (positive
    // semi-definite, trace 2n) must not vanish.
    let looked_at = a
        .cholesky()
        .filter(|ch| ch.l().diagonal().iter().all(|v| v * v > 1e-3 * n))
        .map(|ch| ch.solve(&b));
    let extent = scene_extent(model);
    let centre = looked_at.unwrap_or_else(|| mean_c + mean_d.normalize() * extent);
    let mut widths: Vec<f64> = axes
        .iter()
        .map(|(c, d, tan_half)| d.dot(&(centre - c)) * tan_half)
        .filter(|w| *w > 0.0 && w.is_finite())
        .collect();
    widths.sort_by(f64::total_cmp);
    let half_size = widths.get(widths.len() / 2).copied().unwrap_or(extent);
    if !(centre.iter().all(|v| v.is_finite()) && half_size > 0.0) {
        return RandomInit { count, ..fallback };
    }
    RandomInit {
        centre: [centre.x, centre.y, centre.z],
        half_size,
        count,
    }
}

/// Gaussians at the sparse points: colour from the point, isotropic scale from the RMS distance
/// to the 3 nearest neighbours, opacity 0.1; without points, random ones where the cameras look
/// (`random_init`; `resolution` is the training resolution, which sets their number).
pub fn initial_gaussians(
    model: &Reconstruction,
    sh_degree: u32,
    seed: u64,
    resolution: Option<u32>,
) -> Gaussians32 {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let (points, colours): (Vec<[f32; 3]>, Vec<[f32; 3]>) = if model.points3d.is_empty() {
        let r = random_init(model, resolution);
        (0..r.count)
            .map(|_| {
                let p: [f32; 3] = std::array::from_fn(|a| {
                    (r.centre[a] + r.half_size * rng.random_range(-1.0f64..1.0)) as f32
                });
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
    let log_scales: Vec<f32> = mean_sq_distance_3nn(&points)
        .into_iter()
        .map(|mean| mean.max(1e-7).sqrt().ln())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The brute force the k-d tree replaced, kept as the oracle.
    fn brute(points: &[[f32; 3]]) -> Vec<f32> {
        (0..points.len())
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
                if used.is_empty() {
                    1e-2
                } else {
                    used.iter().sum::<f32>() / used.len() as f32
                }
            })
            .collect()
    }

    /// Cameras at `centres`, each looking at `target`, 800×800 with a 40° field of view.
    fn looking_at(centres: &[[f64; 3]], target: [f64; 3]) -> Reconstruction {
        use nalgebra::{Matrix3, Rotation3, UnitQuaternion, Vector3};
        let mut rec = Reconstruction::default();
        let f = 400.0 / (20f64.to_radians()).tan();
        rec.cameras.insert(
            1,
            splat_scene::Camera::pinhole(1, 800, 800, f, f, 400.0, 400.0),
        );
        for (i, c) in centres.iter().enumerate() {
            let c = Vector3::from(*c);
            let z = (Vector3::from(target) - c).normalize();
            let x = z.cross(&Vector3::new(0.0, 0.0, 1.0)).normalize();
            let y = z.cross(&x);
            let r = Matrix3::from_rows(&[x.transpose(), y.transpose(), z.transpose()]);
            let q = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(r));
            let t = -(r * c);
            rec.images.insert(
                i as u32 + 1,
                splat_scene::Image {
                    id: i as u32 + 1,
                    qvec: [q.w, q.i, q.j, q.k],
                    tvec: [t.x, t.y, t.z],
                    camera_id: 1,
                    name: format!("{i:03}.png"),
                    points2d: Vec::new(),
                },
            );
        }
        rec
    }

    #[test]
    fn random_gaussians_fill_what_the_cameras_look_at() {
        // A Blender-like ring (radius 4, some above, some below) around (5, -2, 1).
        let target = [5.0, -2.0, 1.0];
        let centres: Vec<[f64; 3]> = (0..24)
            .map(|k| {
                let a = f64::from(k) * 0.26;
                let z = if k % 2 == 0 { 1.5 } else { -1.0 };
                [
                    target[0] + 4.0 * a.cos(),
                    target[1] + 4.0 * a.sin(),
                    target[2] + z,
                ]
            })
            .collect();
        let r = random_init(&looking_at(&centres, target), None);
        for (c, t) in r.centre.iter().zip(target) {
            assert!((c - t).abs() < 1e-6, "{r:?}");
        }
        // Seen width at the target: distance × tan(20°) ≈ 4.1–4.3 × 0.364.
        assert!((1.45..1.6).contains(&r.half_size), "{r:?}");
        assert_eq!(r.count, 100_000);
        assert_eq!(
            random_init(&looking_at(&centres, target), Some(200)).count,
            10_000
        );
        assert_eq!(
            random_init(&looking_at(&centres, target), Some(400)).count,
            25_000
        );
        // Cameras that all look the same way: finite, ahead of them.
        let row: Vec<[f64; 3]> = (0..5).map(|k| [f64::from(k), 0.0, 0.0]).collect();
        let ahead = random_init(&looking_at(&row, [2.0, 50.0, 0.0]), None);
        assert!(
            ahead.centre.iter().all(|v| v.is_finite()) && ahead.half_size > 0.0,
            "{ahead:?}"
        );
        assert!(ahead.centre[1] > 0.0, "{ahead:?}");
    }

    #[test]
    fn the_tree_gives_the_brute_forces_bits() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let mut points: Vec<[f32; 3]> = (0..3000)
            .map(|_| [0; 3].map(|_| rng.random_range(-5.0f32..5.0)))
            .collect();
        // Exact duplicates, points on a shared plane and a tight cluster: the hard cases.
        for i in 0..200 {
            points.push(points[i * 7]);
            points.push([
                rng.random_range(-1.0f32..1.0),
                0.5,
                rng.random_range(-1.0f32..1.0),
            ]);
            points.push([1e-4 * i as f32, 2.0, 2.0]);
        }
        for _ in 0..5 {
            points.push([9.0, 9.0, 9.0]);
        }
        let got = mean_sq_distance_3nn(&points);
        let want = brute(&points);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "point {i}: {g} vs {w}");
        }
        for small in [1usize, 2, 3, 4] {
            assert_eq!(
                mean_sq_distance_3nn(&points[..small]),
                brute(&points[..small])
            );
        }
    }
}

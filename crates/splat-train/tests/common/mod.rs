//! Scenes and the rasterizer shared by the GPU tests of this crate.
#![allow(dead_code)] // each test binary uses a different part

use nalgebra::{Matrix3, Quaternion, Rotation3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use splat_test_support::gpu::context;
use splat_train::sh::coeff_count;
use splat_train::{Gaussians32, Rasterizer, View};
use std::sync::OnceLock;

/// A photo on the GPU as the loss takes it: each channel (clamped to [0, 1]) rounded to 8 bits
/// and packed; also the values the GPU sees, for a reference to use.
pub fn photo(rgb: impl IntoIterator<Item = [f64; 3]>) -> (wgpu::Buffer, Vec<[f64; 3]>) {
    let bytes: Vec<[u8; 3]> = rgb
        .into_iter()
        .map(|p| p.map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8))
        .collect();
    let packed: Vec<u32> = bytes
        .iter()
        .map(|&p| splat_train::loss::pack_rgb8(p))
        .collect();
    let seen = bytes
        .iter()
        .map(|p| p.map(|c| f64::from(c) / 255.0))
        .collect();
    (splat_gpu::storage_buffer(context(), "photo", &packed), seen)
}

pub fn rasterizer() -> &'static Rasterizer {
    static R: OnceLock<Rasterizer> = OnceLock::new();
    R.get_or_init(|| Rasterizer::new(context()).expect("rasterizer kernels"))
}

pub fn view(width: u32, height: u32, bg: [f64; 3]) -> View {
    View {
        width,
        height,
        fx: 0.9 * f64::from(width),
        fy: 0.95 * f64::from(width),
        cx: 0.5 * f64::from(width) + 1.3,
        cy: 0.5 * f64::from(height) - 0.7,
        rotation: Rotation3::from_euler_angles(0.1, -0.2, 0.05).into_inner(),
        translation: Vector3::new(0.2, -0.1, 0.5),
        near: 0.01,
        background: bg,
    }
}

/// `n` Gaussians spread over (and past) the view: most in front at depths 1–8, some behind,
/// a few huge, tiny or needle-like.
pub fn scene(v: &View, n: usize, degree: u32, seed: u64) -> Gaussians32 {
    let mut r = rand_pcg::Pcg64::seed_from_u64(seed);
    let k = coeff_count(degree);
    let mut g = Gaussians32 {
        sh_degree: degree,
        means: vec![],
        log_scales: vec![],
        quats: vec![],
        opacities: vec![],
        sh: vec![],
    };
    for i in 0..n {
        let z: f64 = if i % 17 == 5 {
            -r.random_range(0.5..3.0)
        } else {
            r.random_range(1.0..8.0)
        };
        let px = r.random_range(-0.3..1.3) * f64::from(v.width);
        let py = r.random_range(-0.3..1.3) * f64::from(v.height);
        let cam = Vector3::new(
            (px - v.cx) * z.abs() / v.fx,
            (py - v.cy) * z.abs() / v.fy,
            z,
        );
        let w = v.rotation.transpose() * (cam - v.translation);
        g.means.extend([w.x as f32, w.y as f32, w.z as f32]);
        let base: f32 = match i % 11 {
            0 => r.random_range(-0.5..0.3),  // huge
            1 => r.random_range(-7.0..-5.0), // tiny
            _ => r.random_range(-3.5..-1.5),
        };
        let aniso: f32 = if i % 7 == 3 {
            2.5
        } else {
            r.random_range(0.0..0.6)
        };
        g.log_scales
            .extend([base + aniso, base - aniso, base + r.random_range(-0.3..0.3)]);
        g.quats.extend([
            r.random_range(-1.0..1.0f32),
            r.random_range(-1.0..1.0),
            r.random_range(-1.0..1.0),
            r.random_range(-1.0..1.0),
        ]);
        g.opacities.push(r.random_range(-3.0..5.0));
        for kk in 0..k {
            for _ in 0..3 {
                g.sh.push(if kk == 0 {
                    r.random_range(-1.5..2.0)
                } else {
                    r.random_range(-0.4..0.4)
                });
            }
        }
    }
    g
}

/// Caps every scale of `g` at a quarter of its mean's distance from `v`'s camera, so that the
/// camera stays well outside each 3σ ellipsoid (where nothing is drawn) even after the means move
/// a little: for tests that learn a scene back, which a Gaussian culled in one of them would
/// stop.
pub fn keep_camera_outside(g: &mut Gaussians32, v: &View) {
    let c = v.camera_centre();
    for (m, ls) in g.means.chunks(3).zip(g.log_scales.chunks_mut(3)) {
        let d = (Vector3::new(f64::from(m[0]), f64::from(m[1]), f64::from(m[2])) - c).norm();
        let cap = (0.25 * d).ln() as f32;
        for s in ls {
            *s = s.min(cap);
        }
    }
}

/// The rotation matrix of quaternion `q` (w, x, y, z; normalised here), in f64.
pub fn rotation(q: &[f32]) -> Matrix3<f64> {
    UnitQuaternion::from_quaternion(Quaternion::new(
        f64::from(q[0]),
        f64::from(q[1]),
        f64::from(q[2]),
        f64::from(q[3]),
    ))
    .to_rotation_matrix()
    .into_inner()
}

/// The built-in scene generated into `dir` and loaded.
pub fn built_in(
    dir: &std::path::Path,
    views: usize,
    width: u32,
    height: u32,
    points: usize,
) -> splat_scene::dataset::Dataset {
    splat_datasets::generate(
        &splat_datasets::SceneSpec {
            views,
            width,
            height,
            points,
            ..Default::default()
        },
        dir,
    )
    .expect("generating the built-in scene");
    splat_scene::dataset::Dataset::load(dir).expect("loading the built-in scene")
}

//! The WGSL forward rasterizer against the f64 reference on the real device (lavapipe in CI):
//! random scenes with overlapping, large, tiny, very anisotropic, partly off-screen and
//! behind-camera Gaussians, every SH degree, image sizes that are not multiples of 16, and the
//! empty and single-Gaussian cases.

mod common;

use common::{rasterizer, scene, view};
use splat_test_support::gpu::context;
use splat_train::reference::{self, Render};
use splat_train::{Gaussians32, GpuGaussians, RenderOutput, View};

fn render_both(g: &Gaussians32, v: &View) -> (RenderOutput, Render) {
    let ctx = context();
    let gpu = rasterizer()
        .render(ctx, &GpuGaussians::upload(ctx, g).expect("upload"), v)
        .expect("GPU render");
    (
        gpu,
        reference::forward(&reference::Gaussians::from_f32(g), v),
    )
}

fn compare(g: &Gaussians32, v: &View, what: &str) {
    let (gpu, cpu) = render_both(g, v);
    let mut max_err: f64 = 0.0;
    let mut worst = 0;
    for (i, (a, b)) in gpu.color.iter().zip(&cpu.image).enumerate() {
        let e = (0..3)
            .map(|c| (f64::from(a[c]) - b[c]).abs())
            .fold(0.0, f64::max)
            .max((f64::from(a[3]) - cpu.alpha[i]).abs());
        if e > max_err {
            max_err = e;
            worst = i;
        }
    }
    assert!(
        max_err < 1e-3,
        "{what}: max abs error {max_err} at pixel ({}, {}): GPU {:?} vs reference {:?} / alpha {}",
        worst as u32 % v.width,
        worst as u32 / v.width,
        gpu.color[worst],
        cpu.image[worst],
        cpu.alpha[worst]
    );
    let depth_err = gpu
        .depth
        .iter()
        .zip(&cpu.depth)
        .map(|(a, b)| (f64::from(*a) - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max);
    assert!(depth_err < 1e-3, "{what}: depth relative error {depth_err}");
}

#[test]
fn random_scenes_match_the_reference_at_every_sh_degree() {
    for degree in 0..=3 {
        let v = view(77, 53, [0.1, 0.5, 0.9]);
        let g = scene(&v, 300, degree, 10 + u64::from(degree));
        compare(&g, &v, &format!("degree {degree}"));
    }
}

#[test]
fn dense_scene_with_early_termination_matches() {
    // Many opaque Gaussians: most pixels stop at the transmittance floor; several batches per tile.
    let v = view(64, 48, [1.0, 1.0, 1.0]);
    let mut g = scene(&v, 1500, 1, 3);
    for o in &mut g.opacities {
        *o = o.abs() + 2.0;
    }
    let (gpu, cpu) = render_both(&g, &v);
    assert!(
        cpu.alpha.iter().filter(|&&a| a > 0.9998).count() > 100,
        "the scene does not saturate"
    );
    assert!(gpu.keys > 1500, "{} keys", gpu.keys);
    compare(&g, &v, "dense");
}

#[test]
fn zero_and_one_gaussians() {
    let v = view(40, 30, [0.25, 0.5, 0.75]);
    let empty = Gaussians32 {
        sh_degree: 0,
        means: vec![],
        log_scales: vec![],
        quats: vec![],
        opacities: vec![],
        sh: vec![],
    };
    let (gpu, _) = render_both(&empty, &v);
    assert!(gpu.color.iter().all(|c| *c == [0.25, 0.5, 0.75, 0.0]));
    let mut one = scene(&v, 1, 2, 4);
    one.opacities[0] = 3.0;
    // The scene's first Gaussian is one of its huge ones, large enough to hold the camera: a
    // third of its size.
    for s in &mut one.log_scales {
        *s -= 1.1;
    }
    compare(&one, &v, "one Gaussian");
    let (gpu, _) = render_both(&one, &v);
    assert!(
        gpu.color.iter().any(|c| c[3] > 0.5),
        "the single Gaussian is not visible"
    );
}

#[test]
fn degenerate_and_non_finite_gaussians_are_culled_not_nan() {
    let v = view(32, 32, [0.0; 3]);
    let mut g = scene(&v, 40, 0, 5);
    g.quats[0..4].copy_from_slice(&[0.0; 4]);
    g.log_scales[3..6].copy_from_slice(&[-80.0, -80.0, -80.0]);
    g.means[6] = f32::NAN;
    g.log_scales[9] = 80.0;
    let (gpu, _) = render_both(&g, &v);
    assert!(
        gpu.color.iter().flatten().all(|c| c.is_finite()),
        "NaN or infinity in the image"
    );
}

#[test]
fn gaussians_the_camera_stands_inside_are_culled_as_in_the_reference() {
    // Three Gaussians with their means just in front of the camera (past the near plane): two
    // opaque ones enclose the camera centre (a ball, and a needle along the view axis), one is a
    // faint sheet facing it that does not; the random scene behind them.
    let v = view(48, 40, [0.2, 0.3, 0.4]);
    let mut g = scene(&v, 200, 1, 21);
    let k = g.sh.len() / g.opacities.len();
    let to_world = |c: [f64; 3]| {
        let w = v.rotation.transpose() * (nalgebra::Vector3::from(c) - v.translation);
        [w.x as f32, w.y as f32, w.z as f32]
    };
    // The camera's quaternion (w, x, y, z): local axes = camera axes, so local z is the view axis.
    let q = nalgebra::UnitQuaternion::from_rotation_matrix(
        &nalgebra::Rotation3::from_matrix_unchecked(v.rotation.transpose()),
    );
    let quat = [q.w as f32, q.i as f32, q.j as f32, q.k as f32];
    for (depth, scales, opacity) in [
        (0.5, [0.4f32, 0.4, 0.4], 4.0),
        (0.8, [0.02, 0.02, 0.5], 4.0),
        (0.3, [0.6, 0.6, 0.02], -1.0),
    ] {
        g.means.extend(to_world([0.0, 0.0, depth]));
        g.log_scales.extend(scales.map(f32::ln));
        g.quats.extend(quat);
        g.opacities.push(opacity);
        g.sh.extend(std::iter::repeat_n(0.3, k));
    }
    let n = g.opacities.len();
    let cpu = reference::forward(&reference::Gaussians::from_f32(&g), &v);
    let shown: Vec<bool> = cpu.projected[n - 3..].iter().map(|p| p.visible).collect();
    assert_eq!(shown, [false, false, true], "the reference's inside test");
    compare(&g, &v, "camera inside Gaussians");
}

#[test]
fn reused_frame_buffers_give_the_same_images_as_fresh_ones() {
    let ctx = context();
    let r = rasterizer();
    let (big, small) = (view(77, 53, [0.2; 3]), view(40, 30, [0.7; 3]));
    let ga = GpuGaussians::upload(ctx, &scene(&big, 400, 2, 61)).unwrap();
    let gb = GpuGaussians::upload(ctx, &scene(&small, 50, 0, 62)).unwrap();
    let mut frame = splat_train::Frame::empty(ctx);
    // Small, then big (buffers grow), then small again (stale data past the end must not leak).
    for (g, v) in [(&gb, &small), (&ga, &big), (&gb, &small), (&ga, &big)] {
        r.forward_into(ctx, g, v, &mut frame).unwrap();
        let reused = frame.read(ctx).unwrap();
        let fresh = r.render(ctx, g, v).unwrap();
        assert_eq!(reused.color, fresh.color);
        assert_eq!(reused.last, fresh.last);
    }
}

/// A frame whose tile/Gaussian key list cannot fit one buffer binding is a `TooLarge` error that
/// says so (training turns it into "N Gaussians do not fit on this GPU …"), not a device error.
#[test]
fn a_frame_with_too_many_keys_is_a_clear_error() {
    let ctx = context();
    // An image within one binding (its RGBA f32 pixels, 64 MiB), many keys per Gaussian.
    let v = view(2048, 2048, [0.0; 3]);
    let tiles = 128 * 128;
    // Every Gaussian covers every tile: enough of them to overflow one binding of 4-byte keys.
    let n = (ctx.max_binding() / (4 * tiles) + 1) as usize;
    let mut g = scene(&v, n, 0, 5);
    let centre = v.rotation.transpose() * (nalgebra::Vector3::new(0.0, 0.0, 3.0) - v.translation);
    // Sheets facing the camera, wide across the view and thin towards it (the camera far
    // outside each one's 3σ ellipsoid).
    let q = nalgebra::UnitQuaternion::from_rotation_matrix(
        &nalgebra::Rotation3::from_matrix_unchecked(v.rotation.transpose()),
    );
    for i in 0..n {
        for k in 0..3 {
            g.means[3 * i + k] = centre[k] as f32;
        }
        g.log_scales[3 * i..3 * i + 3].copy_from_slice(&[5.0, 5.0, -3.0]);
        g.quats[4 * i..4 * i + 4]
            .copy_from_slice(&[q.w as f32, q.i as f32, q.j as f32, q.k as f32]);
        g.opacities[i] = 0.0;
    }
    let gg = GpuGaussians::upload(ctx, &g).expect("upload");
    match rasterizer().forward(ctx, &gg, &v) {
        Err(e @ splat_gpu::GpuError::TooLarge { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("tile/Gaussian key list"), "{msg}");
        }
        Err(e) => panic!("expected TooLarge, got {e}"),
        Ok(f) => panic!("{} keys fit, expected an error", f.keys),
    }
}

/// An image larger than one buffer binding (RGBA f32 per pixel) is a `TooLarge` error naming
/// the image, found before any work, not a device error.
#[test]
fn an_image_past_one_buffer_binding_is_a_clear_error() {
    let ctx = context();
    let width = 4096;
    let height = (ctx.max_binding() / (16 * u64::from(width)) + 1) as u32;
    let v = view(width, height, [0.0; 3]);
    let gg = GpuGaussians::upload(ctx, &scene(&v, 10, 0, 6)).expect("upload");
    match rasterizer().forward(ctx, &gg, &v) {
        Err(e @ splat_gpu::GpuError::TooLarge { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("RGBA image"), "{msg}");
        }
        Err(e) => panic!("expected TooLarge, got {e}"),
        Ok(_) => panic!("a {width}×{height} image fit one binding"),
    }
}

/// Gaussians at exactly one depth blend in id order, as the reference orders ties: the depth sort
/// is done once per Gaussian and the keys then sorted by tile only, so this checks that both
/// sorts are stable and that keys are emitted front to back.
#[test]
fn equal_depths_blend_in_id_order() {
    let mut v = view(48, 40, [0.0; 3]);
    v.rotation = nalgebra::Matrix3::identity();
    v.translation = nalgebra::Vector3::zeros();
    let mut g = scene(&v, 60, 0, 21);
    for i in 0..60 {
        // Two depth layers (exact in f32 through an identity camera), large, nearly opaque,
        // overlapping across tile borders.
        let z = if i % 3 == 0 { 3.0f32 } else { 2.0 };
        let (px, py) = ((i * 7 % 48) as f32, (i * 11 % 40) as f32);
        g.means[3 * i] = (px - v.cx as f32) * z / v.fx as f32;
        g.means[3 * i + 1] = (py - v.cy as f32) * z / v.fy as f32;
        g.means[3 * i + 2] = z;
        g.log_scales[3 * i..3 * i + 3].copy_from_slice(&[-1.6, -1.6, -1.6]);
        g.quats[4 * i..4 * i + 4].copy_from_slice(&[1.0, 0.0, 0.0, 0.0]);
        g.opacities[i] = 3.0;
    }
    compare(&g, &v, "equal depths");
    // The test can tell the orders apart: ties taken last id first render differently.
    let reversed = reverse_ids(&g);
    let flipped = reference::forward(&reference::Gaussians::from_f32(&reversed), &v);
    let (gpu, _) = render_both(&g, &v);
    let diff = gpu
        .color
        .iter()
        .zip(&flipped.image)
        .map(|(a, b)| {
            (0..3)
                .map(|c| (f64::from(a[c]) - b[c]).abs())
                .fold(0.0, f64::max)
        })
        .fold(0.0, f64::max);
    assert!(diff > 0.1, "reversing the ties changes nothing ({diff})");
}

/// `g` with its Gaussians in the opposite id order.
fn reverse_ids(g: &Gaussians32) -> Gaussians32 {
    let rev = |v: &[f32], k: usize| -> Vec<f32> { v.chunks(k).rev().flatten().copied().collect() };
    let k = 3 * splat_train::sh::coeff_count(g.sh_degree);
    Gaussians32 {
        sh_degree: g.sh_degree,
        means: rev(&g.means, 3),
        log_scales: rev(&g.log_scales, 3),
        quats: rev(&g.quats, 4),
        opacities: rev(&g.opacities, 1),
        sh: rev(&g.sh, k),
    }
}

//! The f64 reference rasterizer: closed-form checks of the forward pass, and its analytic
//! gradients against central finite differences for every parameter kind and SH degree.

use nalgebra::{Matrix3, Rotation3, Vector3};
use rand::{Rng, SeedableRng};
use splat_train::reference::{Gaussians, Render, View, backward, forward};
use splat_train::sh;

fn view(bg: [f64; 3]) -> View {
    View {
        width: 37,
        height: 29,
        fx: 30.0,
        fy: 32.0,
        cx: 18.3,
        cy: 14.1,
        rotation: Rotation3::from_euler_angles(0.05, -0.08, 0.02).into_inner(),
        translation: Vector3::new(0.1, -0.05, 0.2),
        near: 0.01,
        background: bg,
    }
}

/// A small random scene in front of the view: overlapping, large, tiny, anisotropic and
/// partly off-screen Gaussians, plus one behind the camera.
fn scene(degree: u32, n: usize, seed: u64) -> Gaussians {
    let mut r = rand_pcg::Pcg64::seed_from_u64(seed);
    let k = sh::coeff_count(degree);
    let v = view([0.0; 3]);
    let mut g = Gaussians {
        sh_degree: degree,
        means: vec![],
        log_scales: vec![],
        quats: vec![],
        opacities: vec![],
        sh: vec![],
    };
    for i in 0..n {
        let z = r.random_range(2.0..5.0);
        // Gaussian 1 sits beyond the widened field of view (its Jacobian is clamped) with its
        // edge on screen; Gaussian 4 is opaque enough for α to clamp at 0.99.
        let (px, py) = if i == 1 {
            (-14.0, 10.0)
        } else {
            (r.random_range(2.0..35.0), r.random_range(2.0..27.0))
        };
        let cam = Vector3::new(
            (px - v.cx) * z / v.fx,
            (py - v.cy) * z / v.fy,
            if i == 2 { -1.0 } else { z },
        );
        let world = v.rotation.transpose() * (cam - v.translation);
        g.means.push([world.x, world.y, world.z]);
        // Gaussian 1's size follows its depth: large enough (≈ 0.3 z) for its edge to reach the
        // screen, small enough that the camera stays outside its 3σ ellipsoid (≈ 1.5 z away).
        let base: f64 = if i == 1 {
            (0.3 * z).ln()
        } else {
            r.random_range(-2.6..-1.2)
        };
        let aniso = if i % 3 == 0 { 1.2 } else { 0.2 };
        g.log_scales.push([
            base + aniso,
            base - aniso * 0.5,
            base + r.random_range(-0.3..0.3),
        ]);
        g.quats.push([
            r.random_range(0.3..1.0),
            r.random_range(-0.5..0.5),
            r.random_range(-0.5..0.5),
            r.random_range(-0.5..0.5),
        ]);
        g.opacities.push(if i == 4 {
            6.0
        } else {
            r.random_range(-1.0..2.5)
        });
        for kk in 0..k {
            for _ in 0..3 {
                g.sh.push(if kk == 0 {
                    r.random_range(-0.2..1.2)
                } else {
                    r.random_range(-0.3..0.3)
                });
            }
        }
    }
    g
}

/// Loss weights: L = Σ w·image + Σ wa·alpha.
fn weights(v: &View, seed: u64) -> (Vec<[f64; 3]>, Vec<f64>) {
    let mut r = rand_pcg::Pcg64::seed_from_u64(seed);
    let n = (v.width * v.height) as usize;
    (
        (0..n)
            .map(|_| {
                [
                    r.random_range(-1.0..1.0),
                    r.random_range(-1.0..1.0),
                    r.random_range(-1.0..1.0),
                ]
            })
            .collect(),
        (0..n).map(|_| r.random_range(-1.0..1.0)).collect(),
    )
}

fn loss(r: &Render, w: &(Vec<[f64; 3]>, Vec<f64>)) -> f64 {
    let mut l = 0.0;
    for (p, c) in r.image.iter().zip(&w.0) {
        l += p[0] * c[0] + p[1] * c[1] + p[2] * c[2];
    }
    l + r.alpha.iter().zip(&w.1).map(|(a, b)| a * b).sum::<f64>()
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Means,
    LogScales,
    Quats,
    Opacities,
    Sh,
}

fn param(g: &mut Gaussians, kind: Kind, idx: usize) -> &mut f64 {
    match kind {
        Kind::Means => &mut g.means[idx / 3][idx % 3],
        Kind::LogScales => &mut g.log_scales[idx / 3][idx % 3],
        Kind::Quats => &mut g.quats[idx / 4][idx % 4],
        Kind::Opacities => &mut g.opacities[idx],
        Kind::Sh => &mut g.sh[idx],
    }
}

fn count(g: &Gaussians, kind: Kind) -> usize {
    match kind {
        Kind::Means | Kind::LogScales => 3 * g.len(),
        Kind::Quats => 4 * g.len(),
        Kind::Opacities => g.len(),
        Kind::Sh => g.sh.len(),
    }
}

fn analytic(gr: &splat_train::reference::Grads, kind: Kind, idx: usize) -> f64 {
    match kind {
        Kind::Means => gr.means[idx / 3][idx % 3],
        Kind::LogScales => gr.log_scales[idx / 3][idx % 3],
        Kind::Quats => gr.quats[idx / 4][idx % 4],
        Kind::Opacities => gr.opacities[idx],
        Kind::Sh => gr.sh[idx],
    }
}

/// Central differences where the render's discrete decisions stay put on both sides; one-sided
/// where only one side keeps them; parameters where both sides change are counted, not compared.
fn check_gradients(degree: u32, seed: u64, bg: [f64; 3]) {
    let v = view(bg);
    let g = scene(degree, 9, seed);
    let w = weights(&v, seed + 100);
    let base = forward(&g, &v);
    assert!(
        base.projected[1].visible && base.projected[1].clamp_x,
        "the off-screen Gaussian is not exercised"
    );
    assert!(
        !base.projected[2].visible,
        "the Gaussian behind the camera is not culled"
    );
    let grads = backward(&g, &v, &base, &w.0, &w.1);
    let mut unsmooth = 0;
    let mut total = 0;
    for kind in [
        Kind::Means,
        Kind::LogScales,
        Kind::Quats,
        Kind::Opacities,
        Kind::Sh,
    ] {
        let (mut err2, mut ref2) = (0.0, 0.0);
        for idx in 0..count(&g, kind) {
            total += 1;
            let x0 = *param(&mut g.clone(), kind, idx);
            let h = 1e-6 * x0.abs().max(1.0);
            let eval = |x: f64| {
                let mut gg = g.clone();
                *param(&mut gg, kind, idx) = x;
                let r = forward(&gg, &v);
                (loss(&r, &w), r.signature)
            };
            let (lp, sp) = eval(x0 + h);
            let (lm, sm) = eval(x0 - h);
            let l0 = loss(&base, &w);
            let fd = match (sp == base.signature, sm == base.signature) {
                (true, true) => (lp - lm) / (2.0 * h),
                (true, false) => (lp - l0) / h,
                (false, true) => (l0 - lm) / h,
                (false, false) => {
                    unsmooth += 1;
                    continue;
                }
            };
            let a = analytic(&grads, kind, idx);
            err2 += (a - fd).powi(2);
            ref2 += fd * fd;
        }
        assert!(
            ref2 > 0.0,
            "degree {degree}: all finite differences of {kind:?} are zero"
        );
        let rel = (err2 / ref2).sqrt();
        assert!(
            rel < 1e-4,
            "degree {degree} seed {seed}: {kind:?} gradient relative error {rel:e}"
        );
    }
    assert!(
        unsmooth * 50 <= total,
        "{unsmooth} of {total} parameters sit on a discontinuity"
    );
}

#[test]
fn gradients_match_finite_differences_degree_0() {
    check_gradients(0, 1, [0.0; 3]);
    check_gradients(0, 2, [1.0, 0.5, 0.2]);
}

#[test]
fn gradients_match_finite_differences_degree_1() {
    check_gradients(1, 3, [0.3, 0.3, 0.3]);
}

#[test]
fn gradients_match_finite_differences_degree_2() {
    check_gradients(2, 4, [0.0, 0.0, 1.0]);
}

#[test]
fn gradients_match_finite_differences_degree_3() {
    check_gradients(3, 5, [1.0, 1.0, 1.0]);
    check_gradients(3, 6, [0.1, 0.7, 0.4]);
}

#[test]
fn single_gaussian_matches_the_closed_form() {
    // An isotropic Gaussian on the optical axis: Σ₂ = (f·s/z)² + 0.3 on the diagonal.
    let v = View {
        width: 32,
        height: 32,
        fx: 50.0,
        fy: 50.0,
        cx: 16.0,
        cy: 16.0,
        rotation: Matrix3::identity(),
        translation: Vector3::zeros(),
        near: 0.01,
        background: [0.2, 0.4, 0.6],
    };
    let s: f64 = 0.05;
    let g = Gaussians {
        sh_degree: 0,
        means: vec![[0.0, 0.0, 2.0]],
        log_scales: vec![[s.ln(); 3]],
        quats: vec![[2.0, 0.0, 0.0, 0.0]],
        opacities: vec![0.5],
        sh: vec![1.0, 0.0, -0.5],
    };
    let r = forward(&g, &v);
    let var = (50.0 * s / 2.0_f64).powi(2) + 0.3;
    let opacity = 1.0 / (1.0 + (-0.5f64).exp());
    let colour = [0.5 + sh::SH_C0, 0.5, (0.5 - 0.5 * sh::SH_C0).max(0.0)];
    for (x, y) in [(15u32, 15u32), (16, 16), (18, 13), (10, 16)] {
        let d2 = (16.0 - (f64::from(x) + 0.5)).powi(2) + (16.0 - (f64::from(y) + 0.5)).powi(2);
        let alpha = opacity * (-0.5 * d2 / var).exp();
        let pix = &r.image[(y * 32 + x) as usize];
        for c in 0..3 {
            let want = if alpha >= 1.0 / 255.0 {
                colour[c] * alpha + v.background[c] * (1.0 - alpha)
            } else {
                v.background[c]
            };
            assert!(
                (pix[c] - want).abs() < 1e-12,
                "pixel ({x},{y}) channel {c}: {} vs {want}",
                pix[c]
            );
        }
        let want_alpha = if alpha >= 1.0 / 255.0 { alpha } else { 0.0 };
        assert!((r.alpha[(y * 32 + x) as usize] - want_alpha).abs() < 1e-12);
    }
    // Nothing: the background; behind the camera: culled.
    let empty = Gaussians {
        sh_degree: 0,
        means: vec![],
        log_scales: vec![],
        quats: vec![],
        opacities: vec![],
        sh: vec![],
    };
    assert!(forward(&empty, &v).image.iter().all(|p| *p == v.background));
    let mut behind = g.clone();
    behind.means[0][2] = -2.0;
    let rb = forward(&behind, &v);
    assert!(!rb.projected[0].visible && rb.image.iter().all(|p| *p == v.background));
}

#[test]
fn a_gaussian_the_camera_stands_inside_is_not_drawn() {
    // Camera at the origin looking down +z; one opaque Gaussian at depth 2 per case, turned 90°
    // about y (its x axis along the view axis), so that the test must use the rotation.
    let v = View {
        width: 24,
        height: 24,
        fx: 20.0,
        fy: 20.0,
        cx: 12.0,
        cy: 12.0,
        rotation: Matrix3::identity(),
        translation: Vector3::zeros(),
        near: 0.01,
        background: [0.0; 3],
    };
    let half = std::f64::consts::FRAC_1_SQRT_2;
    let drawn = |scales: [f64; 3]| {
        let g = Gaussians {
            sh_degree: 0,
            means: vec![[0.0, 0.0, 2.0]],
            log_scales: vec![scales.map(f64::ln)],
            quats: vec![[half, 0.0, half, 0.0]],
            opacities: vec![5.0],
            sh: vec![1.0, 1.0, 1.0],
        };
        let r = forward(&g, &v);
        let lit = r.alpha.iter().any(|&a| a > 0.0);
        assert_eq!(r.projected[0].visible, lit, "scales {scales:?}");
        lit
    };
    // Isotropic: the camera 2 away is inside at σ = 0.7 (2.86σ), outside at 0.66 (3.03σ).
    assert!(!drawn([0.7; 3]));
    assert!(drawn([0.66; 3]));
    // A needle turned along the view axis reaches the camera (2σ) although it is thin across:
    // culled.
    assert!(!drawn([1.0, 0.05, 0.05]));
    // A wide sheet turned to face the camera is as large but thin towards it (40σ): drawn. The
    // largest scale alone would not tell these two apart, nor the scales without the rotation.
    assert!(drawn([0.05, 1.0, 1.0]));
}

#[test]
fn opaque_layers_stop_at_the_transmittance_floor() {
    // Three nearly opaque large Gaussians stacked: after two (T = 1e-4) the third is skipped.
    let v = View {
        width: 16,
        height: 16,
        fx: 20.0,
        fy: 20.0,
        cx: 8.0,
        cy: 8.0,
        rotation: Matrix3::identity(),
        translation: Vector3::zeros(),
        near: 0.01,
        background: [0.0; 3],
    };
    // Wide across the view, thin along it: the camera is far outside each one's 3σ ellipsoid.
    let g = Gaussians {
        sh_degree: 0,
        means: vec![[0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [0.0, 0.0, 3.0]],
        log_scales: vec![[1.0, 1.0, -3.0]; 3],
        quats: vec![[1.0, 0.0, 0.0, 0.0]; 3],
        opacities: vec![10.0; 3],
        sh: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
    };
    let r = forward(&g, &v);
    let p = r.image[8 * 16 + 8];
    // α clamps at 0.99: first 0.99, second 0.99·0.01 = 0.0099, third would leave T = 1e-6 < 1e-4.
    assert!(
        (p[0] - (0.5 + sh::SH_C0) * 0.99 - 0.5 * 0.0099).abs() < 1e-9,
        "{p:?}"
    );
    assert!(
        (p[1] - (0.5 + sh::SH_C0) * 0.0099 - 0.5 * 0.99).abs() < 1e-9,
        "{p:?}"
    );
    assert!((r.alpha[8 * 16 + 8] - 0.9999).abs() < 1e-12);
}

//! The photometric loss (L1 + D-SSIM): the f64 reference's gradient against finite differences,
//! and the WGSL kernels against the reference on the real device.

mod common;

use common::photo;
use rand::{Rng, SeedableRng};
use splat_test_support::gpu::context;
use splat_train::PhotometricLoss;
use splat_train::reference::{photometric_loss, photometric_loss_grad};

fn image(w: usize, h: usize, seed: u64) -> Vec<[f64; 3]> {
    let mut r = rand_pcg::Pcg64::seed_from_u64(seed);
    // Smooth structure plus noise, like a render against its photo.
    (0..w * h)
        .map(|p| {
            let (x, y) = ((p % w) as f64, (p / w) as f64);
            [0.0, 1.0, 2.0].map(|c| {
                (0.5 + 0.3 * (0.3 * x + c).sin() * (0.2 * y).cos() + r.random_range(-0.15..0.15))
                    .clamp(0.0, 1.0)
            })
        })
        .collect()
}

#[test]
fn reference_gradient_matches_finite_differences() {
    let (w, h) = (13, 9); // smaller than the window: every pixel is near a border
    let x = image(w, h, 1);
    let y = image(w, h, 2);
    let g = photometric_loss_grad(&x, &y, w, h, 0.2);
    let (mut err, mut norm) = (0.0, 0.0);
    for p in 0..w * h {
        for c in 0..3 {
            let eps = 1e-6;
            let mut xp = x.clone();
            xp[p][c] += eps;
            let mut xm = x.clone();
            xm[p][c] -= eps;
            let fd = (photometric_loss(&xp, &y, w, h, 0.2).total
                - photometric_loss(&xm, &y, w, h, 0.2).total)
                / (2.0 * eps);
            err += (fd - g[p][c]).powi(2);
            norm += fd * fd;
        }
    }
    let rel = (err / norm).sqrt();
    assert!(rel < 1e-6, "relative error {rel:e}");
}

#[test]
fn identical_images_have_zero_loss() {
    let x = image(20, 16, 3);
    let v = photometric_loss(&x, &x, 20, 16, 0.2);
    assert!(
        v.l1 == 0.0 && (v.ssim - 1.0).abs() < 1e-12 && v.total.abs() < 1e-12,
        "{v:?}"
    );
}

fn upload(img: &[[f64; 3]]) -> wgpu::Buffer {
    let data: Vec<[f32; 4]> = img
        .iter()
        .map(|p| [p[0] as f32, p[1] as f32, p[2] as f32, 1.0])
        .collect();
    splat_gpu::storage_buffer(context(), "image", &data)
}

#[test]
fn gpu_loss_and_gradient_match_the_reference() {
    let ctx = context();
    let loss = PhotometricLoss::new(ctx).expect("loss kernels");
    for &(w, h, seed) in &[(70usize, 45usize, 4u64), (16, 16, 5), (5, 300, 6)] {
        let x = image(w, h, seed);
        let y = image(w, h, seed + 10);
        // The reference sees exactly the values the GPU sees: the render in f32, the photo at
        // 8 bits a channel.
        let x: Vec<[f64; 3]> = x.iter().map(|p| p.map(|c| f64::from(c as f32))).collect();
        let (target, y) = photo(y);
        let eval = loss
            .evaluate(ctx, &upload(&x), &target, w as u32, h as u32, 0.2)
            .unwrap();
        let terms = eval.terms(ctx).unwrap();
        let want = photometric_loss(&x, &y, w, h, 0.2);
        assert!(
            (terms.l1 - want.l1).abs() < 1e-6,
            "{w}x{h}: L1 {} vs {}",
            terms.l1,
            want.l1
        );
        assert!(
            (terms.ssim - want.ssim).abs() < 1e-5,
            "{w}x{h}: SSIM {} vs {}",
            terms.ssim,
            want.ssim
        );
        assert!((terms.total - want.total).abs() < 1e-5);
        let got: Vec<[f32; 4]> = splat_gpu::readback(ctx, &eval.d_image, w * h).unwrap();
        let grad = photometric_loss_grad(&x, &y, w, h, 0.2);
        let (mut err, mut norm) = (0.0, 0.0);
        for (a, b) in got.iter().zip(&grad) {
            for c in 0..3 {
                err += (f64::from(a[c]) - b[c]).powi(2);
                norm += b[c] * b[c];
            }
            assert_eq!(a[3], 0.0);
        }
        let rel = (err / norm).sqrt();
        assert!(rel < 1e-4, "{w}x{h}: gradient relative error {rel:e}");
    }
}

/// A photo packed at 8 bits reads on the GPU as the host's `v / 255`: against a render holding
/// exactly those values, the L1 term is zero (to rounding) and SSIM is one, for all 256 levels.
#[test]
fn a_packed_photo_reads_back_as_its_eight_bit_values() {
    let ctx = context();
    let loss = PhotometricLoss::new(ctx).expect("loss kernels");
    let (w, h) = (64usize, 12usize);
    let levels: Vec<[f64; 3]> = (0..w * h)
        .map(|p| {
            let v = (p % 256) as f64;
            [v, 255.0 - v, (v * 7.0) % 256.0].map(|c| c / 255.0)
        })
        .collect();
    let (target, seen) = photo(levels);
    let render = upload(&seen);
    let terms = loss
        .evaluate(ctx, &render, &target, w as u32, h as u32, 0.2)
        .unwrap()
        .terms(ctx)
        .unwrap();
    assert!(terms.l1 < 1e-7, "L1 {}", terms.l1);
    assert!((terms.ssim - 1.0).abs() < 1e-6, "SSIM {}", terms.ssim);
}

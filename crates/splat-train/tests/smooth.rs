//! The neighbour smoothness loss of compression-aware training: the f64 reference's gradient
//! against finite differences of its loss, and the GPU kernels against the reference for every
//! attribute, on grids with holes.

mod common;

use common::built_in;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use splat_gpu::{readback, storage_buffer};
use splat_test_support::gpu::context;
use splat_train::constants::{BAND_COEFFS, GEOM_STRIDE};
use splat_train::reference::smoothness;
use splat_train::sh::coeff_count;
use splat_train::smooth::{AttributeWeights, EMPTY, GridMap, SmoothConfig, Smoothness};
use splat_train::train::{Strategy, TrainConfig, Trainer, initial_gaussians};
use splat_train::{Gaussians32, GpuGaussians, GpuGrads};

/// A `width × height` grid holding Gaussians `0..n` at random cells, the rest empty.
fn scattered_grid(n: usize, width: u32, height: u32, seed: u64) -> GridMap {
    let mut r = rand_pcg::Pcg64::seed_from_u64(seed);
    let cells = (width * height) as usize;
    assert!(n <= cells);
    let mut ids: Vec<u32> = (0..n as u32).collect();
    ids.resize(cells, EMPTY);
    ids.shuffle(&mut r);
    GridMap { width, height, ids }
}

#[test]
fn reference_gradient_matches_finite_differences() {
    let mut r = rand_pcg::Pcg64::seed_from_u64(3);
    let (n, dim) = (40usize, 3usize);
    let grid = scattered_grid(n, 7, 8, 5);
    // Values spread enough that some differences pass Huber's threshold (both regimes tested).
    let x: Vec<f64> = (0..n * dim).map(|_| r.random_range(-1.5..1.5)).collect();
    let (sigma, delta) = (1.3, 0.4);
    let (_, grad) = smoothness(&grid, &x, dim, sigma, delta);
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for i in 0..x.len() {
        let (mut up, mut down) = (x.clone(), x.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (smoothness(&grid, &up, dim, sigma, delta).0
            - smoothness(&grid, &down, dim, sigma, delta).0)
            / (2.0 * h);
        worst = worst.max((fd - grad[i]).abs() / grad[i].abs().max(1e-3));
    }
    assert!(worst < 1e-5, "worst relative error {worst}");
    // Both Huber pieces were exercised.
    let diffs = {
        let (_, g_small) = smoothness(&grid, &x, dim, sigma, 1e9);
        g_small
    };
    assert!(
        diffs.iter().zip(&grad).any(|(a, b)| (a - b).abs() > 1e-9),
        "no residual passed the threshold"
    );
}

#[test]
fn a_smooth_grid_costs_nothing_and_a_constant_shift_changes_nothing() {
    let grid = scattered_grid(30, 6, 6, 9);
    let flat = vec![0.7; 30 * 2];
    let (loss, grad) = smoothness(&grid, &flat, 2, 2.0, 1.0);
    assert!(loss.abs() < 1e-24 && grad.iter().all(|g| g.abs() < 1e-12));
    let mut r = rand_pcg::Pcg64::seed_from_u64(1);
    let x: Vec<f64> = (0..60).map(|_| r.random_range(-1.0..1.0)).collect();
    let shifted: Vec<f64> = x.iter().map(|v| v + 5.0).collect();
    let (a, _) = smoothness(&grid, &x, 2, 2.0, 1.0);
    let (b, _) = smoothness(&grid, &shifted, 2, 2.0, 1.0);
    assert!((a - b).abs() < 1e-9 * a.max(1.0), "{a} vs {b}");
}

/// Random parameters for `n` Gaussians at SH degree 3.
fn model(n: usize, seed: u64) -> Gaussians32 {
    let mut r = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut v = |len: usize, range: f32| -> Vec<f32> {
        (0..len).map(|_| r.random_range(-range..range)).collect()
    };
    Gaussians32 {
        sh_degree: 3,
        means: v(n * 3, 2.0),
        log_scales: v(n * 3, 3.0),
        quats: v(n * 4, 1.0),
        opacities: v(n, 4.0),
        sh: v(n * coeff_count(3) * 3, 0.8),
    }
}

/// Runs the kernels once over `g` on `grid` with gradients starting at `start_*`; returns the
/// gradients after and the loss.
fn run_gpu(
    g: &Gaussians32,
    active_degree: u32,
    grid: &GridMap,
    cfg: &SmoothConfig,
    start_geom: &[f32],
    start_sh: &[Vec<f32>; 4],
) -> (Vec<f32>, [Vec<f32>; 4], f64) {
    let ctx = context();
    let mut gpu = GpuGaussians::upload(ctx, g).unwrap();
    gpu.set_active_sh_degree(active_degree);
    let mut grads = GpuGrads::empty(ctx);
    grads.count = g.len() as u32;
    grads.sh_degree = 3;
    grads.geom = storage_buffer(ctx, "grad geom", start_geom);
    grads.sh = std::array::from_fn(|b| storage_buffer(ctx, "grad sh", &start_sh[b]));
    let mut smooth = Smoothness::new(ctx).unwrap();
    smooth.set_grid(ctx, grid.clone());
    let mut enc = ctx.encoder("smooth test");
    smooth.record(ctx, &mut enc, &gpu, &grads, cfg);
    ctx.queue.submit([enc.finish()]);
    let geom = readback(ctx, &grads.geom, start_geom.len()).unwrap();
    let sh = std::array::from_fn(|b| readback(ctx, &grads.sh[b], start_sh[b].len()).unwrap());
    let loss = smooth.loss(ctx).unwrap();
    (geom, sh, loss)
}

#[test]
fn gpu_gradient_and_loss_match_the_reference_for_every_attribute() {
    let n = 300;
    let g = model(n, 11);
    // 18 × 18 cells: 24 holes spread through the grid, not only at its end.
    let grid = scattered_grid(n, 18, 18, 12);
    let mut r = rand_pcg::Pcg64::seed_from_u64(13);
    let start_geom: Vec<f32> = (0..n * GEOM_STRIDE as usize)
        .map(|_| r.random_range(-0.01..0.01))
        .collect();
    let start_sh: [Vec<f32>; 4] = std::array::from_fn(|b| {
        (0..n * BAND_COEFFS[b] * 3)
            .map(|_| r.random_range(-0.01..0.01))
            .collect()
    });
    let cfg = SmoothConfig {
        lambda: 0.7,
        weights: AttributeWeights {
            means: 0.3,
            log_scales: 1.0,
            rotations: 2.0,
            opacity: 0.5,
            sh_dc: 1.5,
            sh_rest: 0.8,
        },
        sigma: 2.5,
        delta: 0.6,
        ..SmoothConfig::default()
    };
    for active in [3u32, 1] {
        let (geom, sh, loss) = run_gpu(&g, active, &grid, &cfg, &start_geom, &start_sh);
        let total_weight = 0.3 + 1.0 + 2.0 + 0.5 + 1.5 + 0.8;
        let occupied = n as f64;
        let rest_dim: usize = (1..=active as usize).map(|b| 3 * BAND_COEFFS[b]).sum();
        let (sigma, delta) = (f64::from(cfg.sigma), f64::from(cfg.delta));
        let mut expected_loss = 0.0;
        // (values, floats per Gaussian, weight, floats of the attribute, where the gradient is)
        let split = splat_train::model::split_bands(&g.sh, n, 3);
        let geom_groups: [(&[f32], usize, f64, usize); 4] = [
            (&g.means, 3, 0.3, 0),
            (&g.log_scales, 3, 1.0, 3),
            (&g.quats, 4, 2.0, 6),
            (&g.opacities, 1, 0.5, 10),
        ];
        let mut worst: f64 = 0.0;
        let mut compare = |got: f32, want: f64, scale: f64| {
            worst = worst.max((f64::from(got) - want).abs() / scale);
        };
        for (values, dim, weight, offset) in geom_groups {
            let x: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
            let (l, gr) = smoothness(&grid, &x, dim, sigma, delta);
            let scale = f64::from(cfg.lambda) * weight / total_weight / (occupied * dim as f64);
            expected_loss += scale * l;
            let typical = gr.iter().map(|v| v.abs()).fold(0.0, f64::max) * scale;
            for i in 0..n {
                for d in 0..dim {
                    let at = i * GEOM_STRIDE as usize + offset + d;
                    let want = f64::from(start_geom[at]) + scale * gr[i * dim + d];
                    compare(geom[at], want, typical);
                }
            }
        }
        // Fields of the gradient record no attribute owns are untouched.
        for i in 0..n {
            for f in [11usize, 12, 13, 14, 15] {
                let at = i * GEOM_STRIDE as usize + f;
                assert_eq!(geom[at], start_geom[at]);
            }
        }
        for b in 0..4 {
            let dim = 3 * BAND_COEFFS[b];
            if b > active as usize {
                assert_eq!(sh[b], start_sh[b], "band {b} is not rendered: untouched");
                continue;
            }
            let (weight, attribute_dim) = if b == 0 { (1.5, 3) } else { (0.8, rest_dim) };
            let x: Vec<f64> = split[b].iter().map(|&v| f64::from(v)).collect();
            let (l, gr) = smoothness(&grid, &x, dim, sigma, delta);
            let scale =
                f64::from(cfg.lambda) * weight / total_weight / (occupied * attribute_dim as f64);
            expected_loss += scale * l;
            let typical = gr.iter().map(|v| v.abs()).fold(0.0, f64::max) * scale;
            for (k, &got) in sh[b].iter().enumerate() {
                compare(got, f64::from(start_sh[b][k]) + scale * gr[k], typical);
            }
        }
        assert!(
            worst < 1e-4,
            "active degree {active}: worst error {worst} of the largest gradient"
        );
        assert!(
            (loss - expected_loss).abs() < 1e-4 * expected_loss,
            "active degree {active}: loss {loss} vs {expected_loss}"
        );
    }
}

#[test]
fn grid_from_an_order_is_sogs_layout() {
    let order: Vec<u32> = (0..10).rev().collect();
    let grid = GridMap::from_order(&order, 4);
    assert_eq!((grid.width, grid.height), (4, 3));
    assert_eq!(&grid.ids[..10], &order[..]);
    assert_eq!(&grid.ids[10..], &[EMPTY, EMPTY]);
    assert_eq!(grid.occupied(), 10);
}

/// Trains the built-in scene for 300 steps with a fixed set of Gaussians, with or without the
/// neighbour loss; returns the test PSNR, the model as downloaded and the trainer's grid.
fn train_built_in(
    dir: &std::path::Path,
    smooth: Option<SmoothConfig>,
) -> (f64, splat_scene::GaussianCloud, Option<GridMap>) {
    let data = built_in(dir, 12, 80, 60, 3000);
    let init = initial_gaussians(&data.model, 1, 0, None);
    let cfg = TrainConfig {
        steps: 300,
        strategy: Strategy::Fixed,
        sh_interval: 100,
        smooth,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(context(), &data, &init, cfg).unwrap();
    for _ in 0..300 {
        t.step(false).unwrap();
    }
    let psnr = t.evaluate().unwrap();
    (psnr, t.download().unwrap(), t.smoothness_grid().cloned())
}

/// Compression-aware training on the built-in scene: the trainer sorts the model into a grid,
/// writes it in that grid's order (which the compressor then refines instead of starting from
/// the Morton order), and the SOG file is smaller than after plain training, at a small cost in
/// test PSNR.
#[test]
fn compression_aware_training_writes_a_smaller_sog_at_a_small_cost() {
    let dir = tempfile::tempdir().unwrap();
    let (plain_psnr, plain, no_grid) = train_built_in(dir.path(), None);
    assert!(no_grid.is_none());
    let smooth = SmoothConfig {
        from: 1,
        sort_every: 100,
        ..SmoothConfig::default()
    };
    let (aware_psnr, aware, grid) = train_built_in(dir.path(), Some(smooth));
    let grid = grid.expect("the trainer sorted the model into a grid");
    assert_eq!(grid.occupied(), aware.len());
    // The model comes out in its grid's order.
    let layout = splat_sogs::layout::GridLayout::for_count(aware.len());
    assert_eq!(grid.width as usize, layout.width);
    let opts = splat_sogs::CompressOptions::default();
    let (_, plain_report) = splat_sogs::compress(&plain, &opts, &()).unwrap();
    let (_, aware_report) = splat_sogs::compress(&aware, &opts, &()).unwrap();
    assert!(!plain_report.order.started_from_input);
    assert!(
        aware_report.order.started_from_input,
        "the compressor refines the grid training smoothed: {:?}",
        aware_report.order
    );
    let (a, b) = (plain_report.total_bytes, aware_report.total_bytes);
    eprintln!(
        "plain: {a} bytes, {plain_psnr:.2} dB; compression-aware: {b} bytes, {aware_psnr:.2} dB"
    );
    assert!(b < a, "compression-aware {b} bytes vs plain {a} bytes");
    assert!(
        aware_psnr > plain_psnr - 1.0,
        "{aware_psnr:.2} dB vs {plain_psnr:.2} dB"
    );
}

//! The MCMC strategy: the relocation formula against its defining properties (integrated
//! numerically), the host plan, the GPU gather against the plan, the position noise's
//! covariance, the regularisation gradients, and a capped training run.

mod common;

use common::{built_in, rotation, scene, view};
use splat_test_support::gpu::context;
use splat_train::mcmc::{Mcmc, McmcConfig, plan, relocation};
use splat_train::train::{Strategy, TrainConfig, Trainer, initial_gaussians};
use splat_train::{AdamState, GpuGaussians, GpuGrads, Rasterizer};

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn relocated_copies_keep_opacity_and_the_integrated_profile() {
    for &o in &[0.02, 0.3, 0.7, 0.95] {
        let (o1, c1) = relocation(o, 1, 0.005);
        assert!((o1 - o).abs() < 1e-12 && (c1 - 1.0).abs() < 1e-12);
        for n in [2usize, 3, 5, 10] {
            let (new_o, coeff) = relocation(o, n, 0.005);
            // n stacked copies are as opaque at the centre as the original (unless the copies
            // would fall below the opacity floor).
            if new_o > 0.005 {
                assert!(((1.0 - (1.0 - new_o).powi(n as i32)) - o).abs() < 1e-9);
            }
            // Along a line through them they cover the same integral: ∫ 1 − (1 − o' g')ⁿ
            // = ∫ o g, with g a unit-scale Gaussian and g' one of scale `coeff`.
            let integral = |f: &dyn Fn(f64) -> f64| {
                let h = 1e-3;
                (-20_000..=20_000)
                    .map(|k| f(f64::from(k) * h) * h)
                    .sum::<f64>()
            };
            let want = integral(&|x| o * (-x * x / 2.0).exp());
            let got = integral(&|x| {
                1.0 - (1.0 - new_o * (-x * x / (2.0 * coeff * coeff)).exp()).powi(n as i32)
            });
            assert!(
                (got - want).abs() < 1e-6 * want.max(1.0),
                "o {o}, n {n}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn the_plan_relocates_every_dead_gaussian_and_grows_to_the_cap() {
    let logit = |p: f64| (p / (1.0 - p)).ln() as f32;
    let mut opacities: Vec<f32> = (0..1000)
        .map(|i| logit(0.05 + 0.9 * (f64::from(i) / 1000.0)))
        .collect();
    for i in (0..1000).step_by(10) {
        opacities[i] = logit(0.001);
    }
    let cfg = McmcConfig {
        max_gaussians: 1030,
        ..McmcConfig::default()
    };
    let p = plan(&opacities, &cfg, 3, 700);
    assert_eq!(p.relocated, 100);
    assert_eq!(p.added, 30, "5 % growth would be 50; the cap allows 30");
    assert_eq!(p.src_of.len(), 1030);
    for (j, &s) in p.src_of.iter().enumerate() {
        let s = s as usize;
        if j < 1000 && j % 10 == 0 {
            assert_ne!(s % 10, 0, "dead slot {j} copies another dead one");
        }
        if p.flags[j] == 0 {
            assert_eq!(s, j, "an untouched Gaussian stays in place");
            assert_eq!(p.new_opacity[j], opacities[j]);
        } else {
            assert!(sigmoid(f64::from(p.new_opacity[j])) < sigmoid(f64::from(opacities[s])));
            assert!(p.scale_shift[j] != 0.0 || p.new_opacity[j] == opacities[s]);
        }
    }
    assert_eq!(
        p,
        plan(&opacities, &cfg, 3, 700),
        "same seed and step, same plan"
    );
    assert_ne!(p, plan(&opacities, &cfg, 3, 800));
}

#[test]
fn gather_writes_what_the_plan_says_and_clears_touched_moments() {
    let ctx = context();
    let v = view(32, 24, [0.0; 3]);
    let mut g = scene(&v, 600, 1, 4);
    for i in (0..600).step_by(7) {
        g.opacities[i] = -8.0;
    }
    let cfg = McmcConfig {
        max_gaussians: 700,
        ..McmcConfig::default()
    };
    let p = plan(&g.opacities, &cfg, 1, 900);
    assert!(p.relocated > 50 && p.added == 30);
    let mut gg = GpuGaussians::upload(ctx, &g).unwrap();
    let dims = [3usize, 3, 4, 1, 3, 9, 0, 0];
    let moments: Vec<Vec<f32>> = (0..8)
        .map(|b| (0..600 * dims[b]).map(|k| (k % 13) as f32 + 1.0).collect())
        .collect();
    let mut states: [AdamState; 8] = std::array::from_fn(|b| {
        let rows = if dims[b] > 0 { 600 } else { 0 };
        let mut s = AdamState::new(ctx, rows, if rows > 0 { dims[b] as u32 } else { 3 });
        if rows > 0 {
            s.m1 = splat_gpu::storage_buffer(ctx, "m1", &moments[b]);
            s.m2 = splat_gpu::storage_buffer(ctx, "m2", &moments[b]);
        }
        s
    });
    Mcmc::new(ctx)
        .expect("mcmc kernels")
        .apply(ctx, &mut gg, &mut states, &p)
        .unwrap();
    let got = gg.read(ctx).unwrap();
    assert_eq!(got.len(), 630);
    let k = 3 * splat_train::sh::coeff_count(1);
    for (j, &s) in p.src_of.iter().enumerate() {
        let s = s as usize;
        assert_eq!(got.means[3 * j..3 * j + 3], g.means[3 * s..3 * s + 3]);
        assert_eq!(got.quats[4 * j..4 * j + 4], g.quats[4 * s..4 * s + 4]);
        assert_eq!(got.sh[k * j..k * j + k], g.sh[k * s..k * s + k]);
        let want_o = if p.flags[j] & 2 != 0 {
            p.new_opacity[j]
        } else {
            g.opacities[s]
        };
        assert_eq!(got.opacities[j], want_o);
        for d in 0..3 {
            let want = g.log_scales[3 * s + d] + p.scale_shift[j];
            assert!((got.log_scales[3 * j + d] - want).abs() < 1e-6);
        }
    }
    for b in 0..6 {
        assert_eq!(states[b].count, 630);
        let m: Vec<f32> = splat_gpu::readback(ctx, &states[b].m1, 630 * dims[b]).unwrap();
        for (j, &s) in p.src_of.iter().enumerate() {
            for d in 0..dims[b] {
                let want = if p.flags[j] & 1 != 0 {
                    0.0
                } else {
                    moments[b][s as usize * dims[b] + d]
                };
                assert_eq!(m[j * dims[b] + d], want, "group {b}, Gaussian {j}");
            }
        }
    }
}

#[test]
fn noise_moves_only_faint_gaussians_with_their_covariance() {
    let ctx = context();
    let n = 4000;
    let q = [0.9f32, 0.2, -0.3, 0.1];
    let ls = [-1.0f32, -2.0, -1.5];
    let mut g = splat_train::Gaussians32 {
        sh_degree: 0,
        means: vec![0.0; 3 * n],
        log_scales: ls.repeat(n),
        quats: q.repeat(n),
        opacities: vec![-12.0; n],
        sh: vec![0.0; 3 * n],
    };
    for i in 0..n / 2 {
        g.opacities[i] = 3.0; // opaque: the gate is closed
    }
    let gg = GpuGaussians::upload(ctx, &g).unwrap();
    let mcmc = Mcmc::new(ctx).expect("mcmc kernels");
    let mut enc = ctx.encoder("test");
    let scaler = 2.0f32;
    mcmc.perturb(ctx, &mut enc, &gg, scaler, 5, 10);
    ctx.queue.submit([enc.finish()]);
    let means: Vec<f32> = splat_gpu::readback(ctx, &gg.means, 3 * n).unwrap();
    assert!(means[..3 * n / 2].iter().all(|&x| x.abs() < 1e-6));
    // Faint ones: d = s·f·Σz with Σ = R S² Rᵀ and the gate f = 1 / (1 + e^(−100 ((1 − σ(o)) −
    // 0.995))), so Cov(d) = (s f)² Σ².
    let rot = rotation(&q);
    let s2 = nalgebra::Matrix3::from_diagonal(&nalgebra::Vector3::from_iterator(
        ls.iter().map(|&l| (2.0 * f64::from(l)).exp()),
    ));
    let sigma = rot * s2 * rot.transpose();
    let gate = 1.0 / (1.0 + (-100.0 * ((1.0 - sigmoid(-12.0)) - 0.995)).exp());
    let want = sigma * sigma * (f64::from(scaler) * gate).powi(2);
    let mut cov = nalgebra::Matrix3::<f64>::zeros();
    for i in n / 2..n {
        let d =
            nalgebra::Vector3::from_iterator(means[3 * i..3 * i + 3].iter().map(|&x| f64::from(x)));
        cov += d * d.transpose();
    }
    cov /= (n / 2) as f64;
    let err = (cov - want).norm() / want.norm();
    assert!(err < 0.1, "covariance off by {err}: {cov} vs {want}");
}

#[test]
fn regularisation_adds_the_gradients_of_mean_opacity_and_scale() {
    let ctx = context();
    let v = view(32, 24, [0.0; 3]);
    let g = scene(&v, 300, 0, 8);
    let gg = GpuGaussians::upload(ctx, &g).unwrap();
    let frame = Rasterizer::new(ctx)
        .expect("kernels")
        .forward(ctx, &gg, &v)
        .unwrap();
    let d = splat_gpu::storage_buffer(ctx, "d", &vec![[0.1f32, -0.2, 0.05, 0.0]; 32 * 24]);
    let mut grads = GpuGrads::empty(ctx);
    Rasterizer::new(ctx)
        .expect("kernels")
        .backward_into(ctx, &gg, &frame, &d, &mut grads)
        .unwrap();
    let before = grads.read(ctx).unwrap();
    let cfg = McmcConfig {
        opacity_reg: 0.3,
        scale_reg: 0.7,
        ..McmcConfig::default()
    };
    let mut enc = ctx.encoder("test");
    Mcmc::new(ctx)
        .expect("mcmc kernels")
        .regularize(ctx, &mut enc, &gg, &grads, &cfg);
    ctx.queue.submit([enc.finish()]);
    let after = grads.read(ctx).unwrap();
    let n = 300.0;
    for i in 0..300 {
        let o = sigmoid(f64::from(g.opacities[i]));
        let want = f64::from(before.opacities[i]) + 0.3 / n * o * (1.0 - o);
        assert!((f64::from(after.opacities[i]) - want).abs() < 1e-6 * (1.0 + want.abs()));
        for k in 0..3 {
            let want = f64::from(before.log_scales[i][k])
                + 0.7 / (3.0 * n) * f64::from(g.log_scales[3 * i + k]).exp();
            let got = f64::from(after.log_scales[i][k]);
            assert!(
                (got - want).abs() < 1e-5 * (1.0 + want.abs()),
                "{got} vs {want}"
            );
        }
    }
}

#[test]
fn mcmc_training_grows_to_the_cap_and_improves() {
    let dir = tempfile::tempdir().unwrap();
    let data = built_in(dir.path(), 12, 80, 60, 2000);
    let init = initial_gaussians(&data.model, 1, 0, None);
    let cap = init.len() as u32 + 150;
    let cfg = TrainConfig {
        steps: 200,
        strategy: Strategy::Mcmc(McmcConfig {
            max_gaussians: cap,
            from: 20,
            every: 20,
            until: 190,
            ..McmcConfig::default()
        }),
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(context(), &data, &init, cfg).unwrap();
    let before = t.evaluate().unwrap();
    let mut counts = Vec::new();
    for _ in 0..200 {
        t.step(false).unwrap();
        counts.push(t.gaussian_count());
    }
    let after = t.evaluate().unwrap();
    assert!(counts.iter().all(|&c| c <= cap), "over the cap");
    assert_eq!(*counts.last().unwrap(), cap, "{counts:?}");
    assert!(after > before + 3.0, "test PSNR {before:.2} -> {after:.2}");
    eprintln!(
        "MCMC: test PSNR {before:.2} -> {after:.2}, {} -> {cap} Gaussians",
        init.len()
    );
}

#[test]
fn an_mcmc_run_restored_from_a_checkpoint_continues_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let data = built_in(dir.path(), 6, 40, 30, 400);
    let init = initial_gaussians(&data.model, 1, 0, None);
    let cfg = TrainConfig {
        steps: 60,
        seed: 9,
        strategy: Strategy::Mcmc(McmcConfig {
            max_gaussians: init.len() as u32 + 60,
            from: 10,
            every: 10,
            until: 55,
            ..McmcConfig::default()
        }),
        ..TrainConfig::default()
    };
    let ctx = context();
    let mut whole = Trainer::new(ctx, &data, &init, cfg.clone()).unwrap();
    let mut saved = None;
    for s in 0..60 {
        whole.step(false).unwrap();
        if s + 1 == 25 {
            let path = dir.path().join("c.ckpt");
            whole.checkpoint().unwrap().write(&path).unwrap();
            saved = Some(splat_train::checkpoint::Checkpoint::read(&path).unwrap());
        }
    }
    let mut resumed = Trainer::new(ctx, &data, &init, cfg).unwrap();
    resumed.restore(&saved.unwrap()).unwrap();
    assert_eq!(resumed.step, 25);
    for _ in 25..60 {
        resumed.step(false).unwrap();
    }
    assert!(whole.gaussian_count() > init.len() as u32);
    assert_eq!(resumed.download().unwrap(), whole.download().unwrap());
}

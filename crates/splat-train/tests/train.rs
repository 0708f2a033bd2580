//! Training on the built-in scene: test-view PSNR must rise well above the initial point cloud's,
//! and the trained model must come back as a valid PLY.

mod common;

use common::built_in;
use splat_test_support::gpu::context;
use splat_train::DensifyConfig;
use splat_train::train::{Strategy, TrainConfig, Trainer, initial_gaussians};

#[test]
fn training_on_the_built_in_scene_raises_test_psnr() {
    let dir = tempfile::tempdir().unwrap();
    let data = built_in(dir.path(), 12, 80, 60, 3000);
    assert_eq!(data.test_images().len(), 2, "every 8th view is held out");
    let init = initial_gaussians(&data.model, 1, 0, None);
    assert!(init.len() > 1000);
    let cfg = TrainConfig {
        steps: 200,
        strategy: Strategy::Adc(DensifyConfig {
            from: 50,
            every: 50,
            until: 180,
            opacity_reset_every: 0,
            ..DensifyConfig::default()
        }),
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(context(), &data, &init, cfg).unwrap();
    let before = t.evaluate().unwrap();
    let mut first = None;
    let mut last = None;
    for s in 0..200 {
        let l = t.step(s % 50 == 0 || s == 199).unwrap();
        if let Some(l) = l {
            first.get_or_insert(l.total);
            last = Some(l.total);
        }
    }
    let after = t.evaluate().unwrap();
    assert!(
        after > before + 3.0,
        "test PSNR {before:.2} dB -> {after:.2} dB"
    );
    assert!(last.unwrap() < first.unwrap(), "training loss did not fall");
    let report = t.last_densify().expect("densified at steps 100 and 150");
    assert!(report.cloned + report.split > 0, "{report:?}");
    let cloud = t.download().unwrap();
    assert_eq!(cloud.len(), t.gaussian_count() as usize);
    assert_eq!(cloud.len(), report.after as usize);
    assert!(
        cloud.len() > init.len(),
        "{} -> {}",
        init.len(),
        cloud.len()
    );
    let p = dir.path().join("point_cloud.ply");
    splat_scene::ply::write_ply(&p, &cloud).unwrap();
    assert_eq!(splat_scene::ply::read_ply(&p).unwrap(), cloud);
    eprintln!(
        "test PSNR {before:.2} dB -> {after:.2} dB after 200 steps; {} -> {} Gaussians",
        init.len(),
        cloud.len()
    );
}

/// A trainer restored from a checkpoint renders as the run did when the checkpoint was made
/// (the SH degree raised by the schedule included), before it takes a step.
#[test]
fn a_restored_trainer_evaluates_as_the_run_did() {
    let dir = tempfile::tempdir().unwrap();
    let data = built_in(dir.path(), 10, 48, 36, 800);
    let init = initial_gaussians(&data.model, 3, 0, None);
    let cfg = TrainConfig {
        steps: 30,
        sh_interval: 10,
        strategy: Strategy::Fixed,
        ..TrainConfig::default()
    };
    let ctx = context();
    let mut t = Trainer::new(ctx, &data, &init, cfg.clone()).unwrap();
    for _ in 0..25 {
        t.step(false).unwrap();
    }
    assert_eq!(t.gaussians.active_sh_degree(), 2);
    let before = t.evaluate_full().unwrap();
    let mut restored = Trainer::new(ctx, &data, &init, cfg).unwrap();
    restored.restore(&t.checkpoint().unwrap()).unwrap();
    let after = restored.evaluate_full().unwrap();
    assert_eq!(
        (after.psnr, after.ssim),
        (before.psnr, before.ssim),
        "restored at step 25"
    );
}

/// Photos that are not cached on the GPU (budget exhausted) are uploaded at each use: training
/// and evaluation give the same bits whether all, some or none are cached.
#[test]
fn streamed_photos_train_exactly_as_cached_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = built_in(dir.path(), 12, 40, 30, 800);
    let init = initial_gaussians(&data.model, 1, 0, None);
    let run = |budget: u64| {
        let cfg = TrainConfig {
            steps: 24,
            strategy: Strategy::Fixed,
            image_cache_bytes: budget,
            ..TrainConfig::default()
        };
        let mut t = Trainer::new(context(), &data, &init, cfg).unwrap();
        let cached = t.cached_views();
        let losses: Vec<u64> = (0..24)
            .map(|_| t.step(true).unwrap().unwrap().total.to_bits())
            .collect();
        let eval = t.evaluate_full().unwrap();
        (cached, losses, eval.psnr.to_bits(), t.download().unwrap())
    };
    let all = run(u64::MAX);
    let some = run(5 * 40 * 30 * 4);
    let none = run(0);
    assert_eq!(all.0, (12, 12));
    assert_eq!(some.0, (5, 12));
    assert_eq!(none.0, (0, 12));
    for other in [&some, &none] {
        assert_eq!(other.1, all.1, "loss per step");
        assert_eq!(other.2, all.2, "test PSNR");
        assert!(other.3 == all.3, "trained model");
    }
}

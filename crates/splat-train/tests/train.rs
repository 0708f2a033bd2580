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

/// After its last step a run fades out the floaters near the capture path
/// (`Trainer::fade_floaters`): exactly the Gaussians `floaters::seen_only_from_afar` names
/// against the training views. Fading is removing: the model then draws every view as the
/// model without them does, and downloads and counts without them.
#[test]
fn fading_the_floaters_is_removing_them() {
    use splat_train::floaters::seen_only_from_afar;
    let dir = tempfile::tempdir().unwrap();
    let data = built_in(dir.path(), 12, 48, 36, 800);
    let base = initial_gaussians(&data.model, 1, 0, None);
    let cfg = TrainConfig {
        steps: 10,
        strategy: Strategy::Fixed,
        ..TrainConfig::default()
    };
    let ctx = context();
    let views: Vec<splat_train::View> = Trainer::new(ctx, &data, &base, cfg.clone())
        .unwrap()
        .train
        .iter()
        .map(|v| v.view.clone())
        .collect();
    // Dark blobs just beside each training camera, outside its picture: only cameras across
    // the scene have them in theirs.
    let mut all = base.clone();
    let k = all.sh.len() / all.len();
    for v in &views {
        let c = v.camera_centre();
        let (right, forward) = (v.rotation.row(0).transpose(), v.rotation.row(2).transpose());
        for side in [-1.0, 1.0] {
            let p = c + forward * 0.05 + right * (side * 0.2);
            all.means.extend([p.x as f32, p.y as f32, p.z as f32]);
            all.log_scales.extend([(0.02f32).ln(); 3]);
            all.quats.extend([1.0, 0.0, 0.0, 0.0]);
            all.opacities.push(3.0);
            all.sh.extend(std::iter::repeat_n(-1.5, k));
        }
    }
    let means: Vec<[f32; 3]> = all
        .means
        .chunks_exact(3)
        .map(|m| [m[0], m[1], m[2]])
        .collect();
    let floaters = seen_only_from_afar(&means, &views, 10.0);
    let count = floaters.iter().filter(|&&f| f).count();
    let planted = floaters[base.len()..].iter().filter(|&&f| f).count();
    assert!(planted > 0, "none of the planted blobs is a floater");
    let keep: Vec<usize> = (0..all.len()).filter(|&i| !floaters[i]).collect();
    let without = splat_train::compact::select(&all, &keep, all.sh_degree);

    let mut faded = Trainer::new(ctx, &data, &all, cfg.clone()).unwrap();
    let clean = Trainer::new(ctx, &data, &without, cfg).unwrap();
    let every: Vec<splat_train::View> = faded
        .train
        .iter()
        .chain(&faded.test)
        .map(|v| v.view.clone())
        .collect();
    let before: Vec<_> = every
        .iter()
        .map(|v| faded.render(v).unwrap().color)
        .collect();
    assert_eq!(faded.fade_floaters(10.0).unwrap(), count);
    assert_eq!(faded.fade_floaters(10.0).unwrap(), 0, "faded once only");
    let mut changed = 0;
    for (v, was) in every.iter().zip(&before) {
        let (a, b) = (
            faded.render(v).unwrap().color,
            clean.render(v).unwrap().color,
        );
        for (p, q) in a.iter().zip(&b) {
            for c in 0..4 {
                assert!((p[c] - q[c]).abs() < 1e-5, "{p:?} against {q:?}");
            }
        }
        changed += usize::from(a != *was);
    }
    assert!(changed > 0, "the blobs were drawn somewhere before");
    assert_eq!(faded.gaussian_count(), clean.gaussian_count());
    assert_eq!(faded.download().unwrap(), clean.download().unwrap());
}

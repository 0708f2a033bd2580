//! Training on the built-in scene: test-view PSNR must rise well above the initial point cloud's,
//! and the trained model must come back as a valid PLY.

mod common;

use common::built_in;
use gpu::testing::context;
use splat_train::DensifyConfig;
use splat_train::train::{Strategy, TrainConfig, Trainer, initial_gaussians};

#[test]
fn training_on_the_built_in_scene_raises_test_psnr() {
    let dir = tempfile::tempdir().unwrap();
    let data = built_in(dir.path(), 12, 80, 60, 3000);
    assert_eq!(data.test_images().len(), 2, "every 8th view is held out");
    let init = initial_gaussians(&data.model, 1, 0);
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
    let report = t.last_densify.expect("densified at steps 100 and 150");
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
    scene::ply::write_ply(&p, &cloud).unwrap();
    assert_eq!(scene::ply::read_ply(&p).unwrap(), cloud);
    eprintln!(
        "test PSNR {before:.2} dB -> {after:.2} dB after 200 steps; {} -> {} Gaussians",
        init.len(),
        cloud.len()
    );
}

//! Training holds steady memory: after warm-up, steps at a fixed Gaussian count must not grow
//! the process. (lavapipe recompiles a kernel variant per uniform values used in control flow
//! and keeps each until the pipeline dies; per-frame values there grew a run by ~1 MB a step,
//! 30 GB over the paper's 30,000 steps, until the view parameters moved to a storage buffer.)
#![cfg(target_os = "linux")]

use splat_test_support::gpu::context;
use splat_train::train::{Strategy, TrainConfig, Trainer, initial_gaussians};

/// Resident set size of this process, in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("reading /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages in /proc/self/statm");
    pages * 4096
}

#[test]
fn steps_at_a_fixed_gaussian_count_do_not_grow_memory() {
    let dir = tempfile::tempdir().unwrap();
    splat_datasets::generate(
        &splat_datasets::SceneSpec {
            views: 12,
            width: 64,
            height: 48,
            points: 2000,
            ..Default::default()
        },
        dir.path(),
    )
    .expect("generating the built-in scene");
    let data = splat_scene::dataset::Dataset::load(dir.path()).expect("loading the built-in scene");
    let cfg = TrainConfig {
        steps: 1000,
        seed: 1,
        strategy: Strategy::Fixed,
        ..TrainConfig::default()
    };
    let init = initial_gaussians(&data.model, cfg.max_sh_degree, cfg.seed, None);
    let mut t = Trainer::new(context(), &data, &init, cfg).unwrap();
    for _ in 0..60 {
        t.step(false).unwrap();
    }
    let before = resident();
    let steps = 240;
    for _ in 0..steps {
        t.step(false).unwrap();
    }
    let grown = resident().saturating_sub(before);
    assert!(
        grown < 24 << 20,
        "{steps} steps grew the process by {:.1} MiB",
        grown as f64 / f64::from(1u32 << 20)
    );
}

//! Training holds steady memory: after warm-up, steps at a fixed Gaussian count must not grow
//! the process. (lavapipe recompiles a kernel variant per uniform values used in control flow
//! and keeps each until the pipeline dies; per-frame values there grew a run by ~1 MB a step,
//! 30 GB over the paper's 30,000 steps, until the view parameters moved to a storage buffer.)
#![cfg(target_os = "linux")]

mod common;

use common::built_in;
use splat_test_support::gpu::context;
use splat_train::train::{Strategy, TrainConfig, Trainer, initial_gaussians, load_views};
use std::sync::Mutex;

/// The tests here measure the process and the device: one at a time.
static ALONE: Mutex<()> = Mutex::new(());

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
    let _alone = ALONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let data = built_in(dir.path(), 12, 64, 48, 2000);
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

/// Caching photos on the GPU holds the cache and nothing more once loading returns: the staging
/// copies the uploads go through are freed as loading goes (they once doubled the device memory
/// a cache took: 9.6 GB at peak for a 4 GiB cache of 1,000 photos at 1,600 px).
#[test]
fn cached_photos_take_their_own_size_on_the_device() {
    let _alone = ALONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let data = built_in(dir.path(), 16, 320, 240, 2000);
    let ctx = context();
    let held = || {
        ctx.device_memory()
            .expect("wgpu's Vulkan allocator report")
            .allocated
    };
    let before = held();
    let mut budget = u64::MAX;
    let views = load_views(ctx, &data, false, [0.0; 3], 0.01, None, &mut budget).unwrap();
    let cached: u64 = views
        .iter()
        .filter(|v| v.cached.is_some())
        .map(splat_train::train::TrainView::gpu_bytes)
        .sum();
    assert_eq!(cached, views.len() as u64 * 320 * 240 * 4);
    let taken = held().saturating_sub(before);
    assert!(
        taken <= cached + cached / 8,
        "{} photos cached in {cached} bytes took {taken} bytes of device memory",
        views.len()
    );
}

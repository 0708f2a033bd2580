//! The WGSL PLAS backend against the rayon one: the same options and seed give the same grid,
//! cell for cell (runs on lavapipe where there is no GPU; fails, never skips, without a device).

use splat_sogs::layout::GridLayout;
use splat_sogs::order::{KEY_CHANNELS, KeyWeights, sort_keys};
use splat_sogs::plas::{self, Grid, PlasOptions};
use splat_test_support::sog::synthetic_cloud;

fn context() -> splat_gpu::GpuContext {
    splat_gpu::GpuContext::new()
        .unwrap_or_else(|e| panic!("no GPU adapter: {e}\n{}", splat_gpu::LAVAPIPE_HINT))
}

fn same_on_both(grid: Grid, opts: &PlasOptions) {
    let ctx = context();
    let before = grid.neighbour_distance();
    let mut cpu = grid.clone();
    let cpu_stats = plas::sort(&mut cpu, opts, &|_, _| {});
    let mut gpu = grid;
    let gpu_stats = splat_sogs::plas_gpu::sort(&ctx, &mut gpu, opts, &|_, _| {}).expect("GPU sort");
    assert_eq!(
        cpu_stats.iterations, gpu_stats.iterations,
        "the two backends took different paths"
    );
    assert_eq!(cpu.ids, gpu.ids, "grids differ");
    assert_eq!(cpu.keys, gpu.keys);
    assert!(
        gpu.neighbour_distance() < 0.5 * before,
        "{} → {}",
        before,
        gpu.neighbour_distance()
    );
}

#[test]
fn gpu_and_cpu_sort_a_model_identically() {
    let cloud = synthetic_cloud(2100, 0, 4);
    let layout = GridLayout::for_count(cloud.len());
    let keys = sort_keys(&cloud, &KeyWeights::default());
    let rows = layout.full_rows();
    // Start from the input order so there is much to sort.
    let input: Vec<u32> = (0..(layout.width * rows) as u32).collect();
    let grid = Grid::new(layout.width, rows, KEY_CHANNELS, &keys, &input);
    same_on_both(grid, &PlasOptions::default());
}

#[test]
fn gpu_and_cpu_agree_on_a_rectangle_with_another_seed_and_block() {
    let w = 40;
    let h = 26;
    let keys: Vec<u16> = (0..w * h * 3).map(|i| ((i * 7919) % 1024) as u16).collect();
    let ids: Vec<u32> = (0..(w * h) as u32).collect();
    let grid = Grid::new(w, h, 3, &keys, &ids);
    let opts = PlasOptions {
        seed: 99,
        min_block: 8,
        ..PlasOptions::default()
    };
    same_on_both(grid, &opts);
}

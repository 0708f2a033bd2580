//! Where training starts on a large capture: the initial scales of 100k and 1M SfM points (exact
//! 3 nearest neighbours from a k-d tree; the brute force it replaced was O(n²): hours at 1M).
//!
//! Run: `cargo bench -p splat-train --bench init`. Results go to `benches/RESULTS.md`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};

fn bench_init_knn(c: &mut Criterion) {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
    let mut g = c.benchmark_group("init_3nn");
    g.sample_size(10);
    for n in [100_000usize, 1_000_000] {
        let points: Vec<[f32; 3]> = (0..n)
            .map(|_| [0; 3].map(|_| rng.random_range(-10.0f32..10.0)))
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &points, |b, p| {
            b.iter(|| splat_train::train::mean_sq_distance_3nn(p));
        });
    }
    g.finish();
}

criterion_group!(benches, bench_init_knn);
criterion_main!(benches);

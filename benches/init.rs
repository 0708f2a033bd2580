//! Where training starts on a large capture: the initial scales of 100k and 1M SfM points (exact
//! 3 nearest neighbours from a k-d tree; the brute force it replaced was O(n²): hours at 1M).
//! And where it ends: the floaters near the capture path looked for among 200k and 1M Gaussians
//! against 100 and 1,000 training cameras (`splat_train::floaters`).
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

/// A capture walked around a ring of radius 10 (cameras a little above the ground, each looking
/// at the middle with some wobble), Gaussians in and around it.
fn ring_walk(cameras: usize, rng: &mut impl Rng) -> Vec<splat_train::View> {
    use nalgebra::{Matrix3, Vector3};
    (0..cameras)
        .map(|i| {
            let a = i as f64 / cameras as f64 * std::f64::consts::TAU;
            let c = Vector3::new(10.0 * a.cos(), rng.random_range(-0.3..0.3), 10.0 * a.sin());
            let look = Vector3::new(
                rng.random_range(-2.0..2.0),
                0.0,
                rng.random_range(-2.0..2.0),
            );
            let z = (look - c).normalize();
            let x = Vector3::y().cross(&z).normalize();
            let y = z.cross(&x);
            let rotation = Matrix3::from_rows(&[x.transpose(), y.transpose(), z.transpose()]);
            splat_train::View {
                width: 1600,
                height: 1200,
                fx: 1400.0,
                fy: 1400.0,
                cx: 800.0,
                cy: 600.0,
                rotation,
                translation: -(rotation * c),
                near: 0.2,
                background: [0.0; 3],
            }
        })
        .collect()
}

fn bench_floaters(c: &mut Criterion) {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(2);
    let mut g = c.benchmark_group("floaters");
    g.sample_size(10);
    for (n, cameras) in [(200_000usize, 100usize), (1_000_000, 1_000)] {
        let views = ring_walk(cameras, &mut rng);
        let means: Vec<[f32; 3]> = (0..n)
            .map(|_| [0; 3].map(|_| rng.random_range(-14.0f32..14.0)))
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{n}x{cameras}")),
            &(means, views),
            |b, (m, v)| b.iter(|| splat_train::floaters::seen_only_from_afar(m, v, 10.0)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench_init_knn, bench_floaters);
criterion_main!(benches);

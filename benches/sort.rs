//! GPU radix sort throughput (sorted keys per second) at 1M and 10M pairs, u32 keys (32 bits)
//! and u64 keys (44 bits, a tile|depth key), with the data resident on the GPU; a rayon
//! parallel unstable sort of the same pairs on the CPU runs beside it as the baseline.
//!
//! Run: `cargo bench -p splat-gpu --bench sort`. Results go to `benches/RESULTS.md` with the device.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use splat_gpu::{GpuContext, RadixSort, SortKeys, storage_buffer, storage_buffer_zeroed};

fn bench_sort(c: &mut Criterion) {
    let ctx = GpuContext::new().unwrap_or_else(|e| panic!("{e}\n{}", splat_gpu::LAVAPIPE_HINT));
    eprintln!(
        "device: {} ({:?}, {:?})",
        ctx.info.name, ctx.info.backend, ctx.info.device_type
    );
    let sorter = RadixSort::new(&ctx).expect("sort kernels");
    let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
    let mut group = c.benchmark_group("radix_sort");
    group.sample_size(10);
    for &n in &[1usize << 20, 10_000_000] {
        group.throughput(Throughput::Elements(n as u64));
        let keys32: Vec<u32> = (0..n).map(|_| rng.random()).collect();
        let keys_lo: Vec<u32> = (0..n).map(|_| rng.random()).collect();
        let keys_hi: Vec<u32> = (0..n).map(|_| rng.random_range(0..1 << 12)).collect();
        let vals: Vec<u32> = (0..n as u32).collect();
        let bytes = n as u64 * 4;
        let src =
            [&keys32, &keys_lo, &keys_hi, &vals].map(|d| storage_buffer(&ctx, "bench src", d));
        let work = [0; 4].map(|_| storage_buffer_zeroed(&ctx, "bench work", bytes));
        let run = |key_bits: u32, u64_keys: bool| {
            let mut enc = ctx.encoder("bench");
            for i in 0..4 {
                enc.copy_buffer_to_buffer(&src[i], 0, &work[i], 0, bytes);
            }
            let keys = if u64_keys {
                SortKeys::U64 {
                    lo: &work[1],
                    hi: &work[2],
                }
            } else {
                SortKeys::U32(&work[0])
            };
            sorter
                .encode(&ctx, &mut enc, keys, &work[3], n as u32, key_bits)
                .expect("sort");
            ctx.queue.submit([enc.finish()]);
            ctx.wait().expect("wait");
        };
        group.bench_with_input(BenchmarkId::new("gpu_u32_32bit", n), &n, |b, _| {
            b.iter(|| run(32, false));
        });
        group.bench_with_input(BenchmarkId::new("gpu_u64_44bit", n), &n, |b, _| {
            b.iter(|| run(44, true));
        });
        let pairs: Vec<(u32, u32)> = keys32.iter().copied().zip(vals.iter().copied()).collect();
        group.bench_with_input(BenchmarkId::new("cpu_rayon_u32", n), &n, |b, _| {
            b.iter_batched(
                || pairs.clone(),
                |mut p| p.par_sort_unstable_by_key(|x| x.0),
                criterion::BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench_sort);
criterion_main!(benches);

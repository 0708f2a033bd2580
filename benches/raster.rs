//! The rasterizer at 100k and 1M Gaussians, 1280×720 and 1920×1080, on a realistic scene: flat
//! Gaussians lying on the built-in scene's surfaces (SH degree 3), seen from one of its cameras.
//! `forward` times one frame from GPU-resident parameters to a finished image on the GPU (the
//! one mid-frame readback of the key count included; the image is not read back);
//! `forward_backward` adds the backward pass for a given dL/d(image). Before timing, one
//! profiled frame per backward tile-reduction kernel the device runs prints the wall time of every
//! stage (`stage …` lines on stderr); the timed runs use the default kernel.
//!
//! Run: `cargo bench -p splat-train --bench raster`. Results go to `benches/RESULTS.md`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use splat_datasets::{SceneSpec, build, surface_cloud};
use splat_train::{Gaussians32, GpuGaussians, Rasterizer, TileReduction, View};

fn bench_raster(c: &mut Criterion) {
    let ctx = splat_gpu::GpuContext::new()
        .unwrap_or_else(|e| panic!("{e}\n{}", splat_gpu::LAVAPIPE_HINT));
    eprintln!(
        "device: {} ({:?}, {:?})",
        ctx.info.name, ctx.info.backend, ctx.info.device_type
    );
    let raster = Rasterizer::new(&ctx).expect("rasterizer kernels");
    let mut group = c.benchmark_group("raster");
    group.sample_size(10);
    let base = build(&SceneSpec {
        points: 0,
        ..SceneSpec::default()
    })
    .expect("scene");
    for &n in &[100_000usize, 1_000_000] {
        let cloud = surface_cloud(&base, n, 1);
        let g = match GpuGaussians::upload(&ctx, &Gaussians32::from_cloud(&cloud)) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("SKIPPED {n} Gaussians on {}: {e}", ctx.info.name);
                continue;
            }
        };
        for &(w, h) in &[(1280u32, 720u32), (1920, 1080)] {
            let s = build(&SceneSpec {
                width: w,
                height: h,
                points: 0,
                ..SceneSpec::default()
            })
            .expect("scene");
            let rec = &s.reconstruction;
            let im = rec.images_by_name()[3];
            let view = View::from_colmap(&rec.cameras[&im.camera_id], im, 0.04, [1.0; 3])
                .expect("pinhole");
            let d_image = splat_gpu::storage_buffer(
                &ctx,
                "d_image",
                &vec![[1e-3f32, -2e-3, 1.5e-3, 0.0]; (w * h) as usize],
            );

            let mut kernels = vec![TileReduction::Portable];
            if TileReduction::best(&ctx) == TileReduction::Subgroup {
                kernels.push(TileReduction::Subgroup);
            }
            let mut frame = None;
            for kernel in kernels {
                let r = Rasterizer::with_reduction(&ctx, kernel).expect("rasterizer kernels");
                r.set_profiling(true);
                let f = r.forward(&ctx, &g, &view).expect("forward");
                r.backward(&ctx, &g, &f, &d_image).expect("backward");
                for (stage, secs) in r.take_profile() {
                    eprintln!("stage {n} {w}x{h} {kernel:?} {stage}: {:.1} ms", secs * 1e3);
                }
                frame = Some(f);
            }
            let frame = frame.expect("at least one kernel");
            eprintln!(
                "{n} Gaussians at {w}x{h}: {} tile/Gaussian pairs",
                frame.keys
            );
            if ctx.info.device_type == wgpu::DeviceType::Cpu && n >= 1_000_000 {
                // Ten timed samples would take tens of minutes on a CPU device; the profile above is it.
                eprintln!("{n} Gaussians at {w}x{h}: CPU device, single profiled frame only");
                continue;
            }

            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("forward/{n}"), format!("{w}x{h}")),
                &view,
                |b, v| {
                    b.iter(|| {
                        raster.forward(&ctx, &g, v).expect("forward");
                        ctx.wait().expect("wait");
                    });
                },
            );
            group.bench_with_input(
                BenchmarkId::new(format!("forward_backward/{n}"), format!("{w}x{h}")),
                &view,
                |b, v| {
                    b.iter(|| {
                        let f = raster.forward(&ctx, &g, v).expect("forward");
                        raster.backward(&ctx, &g, &f, &d_image).expect("backward");
                        ctx.wait().expect("wait");
                    });
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_raster);
criterion_main!(benches);

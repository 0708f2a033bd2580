//! The SfM front end's costs: SIFT extraction per image (a 1024×768 built-in view, reported per
//! megapixel as throughput), descriptor matching per image pair (8192 × 8192 descriptors, the
//! default feature cap), and geometric verification per pair (1000 matches, 30 % outliers).
//! Times are wall clock on all cores rayon finds; run with RAYON_NUM_THREADS=1 for CPU time per
//! item. The side-by-side comparison with COLMAP on real photos is `benches/sfm_vs_colmap.sh`.
//!
//! Run: `cargo bench -p sfm --bench sfm`. Results go to `benches/RESULTS.md`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nalgebra::Vector2;
use sfm::features::{DESCRIPTOR_LEN, SiftOptions, extract};
use sfm::geometry::two_view::{Intrinsics, TwoViewOptions, verify};
use sfm::gray::GrayImage;
use sfm::matching::{DescriptorMatrix, MatchOptions, match_descriptors};
use splat_datasets::{SceneSpec, build, render_view};

fn bench_extract(c: &mut Criterion) {
    let spec = SceneSpec {
        views: 48,
        width: 1024,
        height: 768,
        samples: 1,
        ..SceneSpec::default()
    };
    let scene = build(&spec).expect("scene");
    let im = scene.reconstruction.images.values().next().expect("a view");
    let img = GrayImage::from_rgb8(&render_view(
        &scene.world,
        &scene.reconstruction.cameras[&1],
        im,
        1,
    ));
    let mut group = c.benchmark_group("sfm");
    group.sample_size(10);
    group.throughput(Throughput::Elements((img.width * img.height) as u64));
    let opts = SiftOptions::default();
    eprintln!(
        "extract: {} features on the 1024×768 view",
        extract(&img, &opts).len()
    );
    group.bench_function("extract_1024x768", |b| b.iter(|| extract(&img, &opts)));
    group.finish();
}

/// Unit-norm byte descriptors, like RootSIFT's, from a small deterministic generator.
fn descriptors(n: usize, seed: u64) -> Vec<[u8; DESCRIPTOR_LEN]> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            let mut v = [0f32; DESCRIPTOR_LEN];
            for x in v.iter_mut() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                *x = (s % 1000) as f32;
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.map(|x| (512.0 * x / norm).round().min(255.0) as u8)
        })
        .collect()
}

fn bench_match(c: &mut Criterion) {
    let a = DescriptorMatrix::new(&descriptors(8192, 1));
    let b = DescriptorMatrix::new(&descriptors(8192, 2));
    let opts = MatchOptions::default();
    let mut group = c.benchmark_group("sfm");
    group.sample_size(10);
    group.bench_function("match_8192x8192", |bch| {
        bch.iter(|| match_descriptors(&a, &b, &opts))
    });
    group.finish();
}

fn bench_verify(c: &mut Criterion) {
    // Two views of points 4–8 units away, 0.5 px noise, 30 % of the matches random.
    let k = Intrinsics {
        focal: 1000.0,
        cx: 512.0,
        cy: 384.0,
        known_focal: true,
    };
    let r = nalgebra::Rotation3::from_euler_angles(0.05, 0.2, 0.02);
    let t = nalgebra::Vector3::new(1.0, 0.1, 0.05);
    let mut s = 12345u64;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let (mut p1, mut p2) = (Vec::new(), Vec::new());
    for i in 0..1000 {
        let x =
            nalgebra::Vector3::new(next() - 0.5, 0.8 * (next() - 0.5), 1.0) * (4.0 + 4.0 * next());
        let y = r * x + t;
        let px = |v: &nalgebra::Vector3<f64>, n: f64| {
            Vector2::new(
                k.focal * v.x / v.z + k.cx + n,
                k.focal * v.y / v.z + k.cy + n,
            )
        };
        p1.push(px(&x, next() - 0.5));
        p2.push(if i % 10 < 3 {
            Vector2::new(1024.0 * next(), 768.0 * next())
        } else {
            px(&y, next() - 0.5)
        });
    }
    let opts = TwoViewOptions::default();
    let mut group = c.benchmark_group("sfm");
    group.sample_size(20);
    group.bench_function("verify_1000_matches", |b| {
        b.iter(|| verify(&k, &k, &p1, &p2, &opts, 7))
    });
    group.finish();
}

criterion_group!(benches, bench_extract, bench_match, bench_verify);
criterion_main!(benches);

//! The SfM front end's costs: SIFT extraction per image (a 1024×768 built-in view, reported per
//! megapixel as throughput), descriptor matching per image pair (8192 × 8192 uniform
//! descriptors, the default feature cap, and the SIFT descriptors of two neighbouring views;
//! with the CPU's dot-product kernel and, where that is not SGEMM, `_sgemm` side by side), and
//! geometric verification per pair (1000 matches, 30 % outliers).
//! `bundle_*` times five Levenberg–Marquardt iterations of a 200-image, 20,000-point bundle
//! adjustment with the dense, the sparse and the iterative reduced-system solvers, of a
//! 50-image one with the dense and the sparse (where `Solver::Auto` switches), and of a
//! 600-image, 60,000-point one with the sparse solver (its growth with the images).
//! Times are wall clock on all cores rayon finds; run with RAYON_NUM_THREADS=1 for CPU time per
//! item. The side-by-side comparison with COLMAP on real photos is `benches/sfm_vs_colmap.sh`.
//!
//! Run: `cargo bench -p splat-sfm --bench splat-sfm`. Results go to `benches/RESULTS.md`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nalgebra::Vector2;
use splat_datasets::{SceneSpec, build, render_view};
use splat_sfm::bundle;
use splat_sfm::dot_products::Kernel;
use splat_sfm::features::{DESCRIPTOR_LEN, SiftOptions, extract};
use splat_sfm::geometry::two_view::{Intrinsics, TwoViewOptions, verify};
use splat_sfm::gray::GrayImage;
use splat_sfm::matching::{DescriptorMatrix, MatchOptions, match_descriptors};

/// The built-in scene's 48 views at 1024×768.
fn views_1024x768() -> splat_datasets::GeneratedScene {
    let spec = SceneSpec {
        views: 48,
        width: 1024,
        height: 768,
        samples: 1,
        ..SceneSpec::default()
    };
    build(&spec).expect("scene")
}

fn bench_extract(c: &mut Criterion) {
    let scene = views_1024x768();
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

/// A deterministic uniform [0, 1) generator (an LCG), so the benches need no RNG state.
fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
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
    let (da, db) = (descriptors(8192, 1), descriptors(8192, 2));
    let (a, b) = (DescriptorMatrix::new(&da), DescriptorMatrix::new(&db));
    let opts = MatchOptions::default();
    let mut group = c.benchmark_group("sfm");
    group.sample_size(10);
    eprintln!("match: the dot-product kernel is {:?}", Kernel::detect());
    group.bench_function("match_8192x8192", |bch| {
        bch.iter(|| match_descriptors(&a, &b, &opts));
    });
    // The SGEMM kernel side by side, where the default is another one.
    if Kernel::detect() != Kernel::Sgemm {
        let (a, b) = (
            DescriptorMatrix::with_kernel(&da, Kernel::Sgemm),
            DescriptorMatrix::with_kernel(&db, Kernel::Sgemm),
        );
        group.bench_function("match_8192x8192_sgemm", |bch| {
            bch.iter(|| match_descriptors(&a, &b, &opts));
        });
    }
    // Real SIFT descriptors, as a pair of photos gives them: two neighbouring 1024×768 views of
    // the built-in scene.
    let scene = views_1024x768();
    let sift: Vec<Vec<[u8; DESCRIPTOR_LEN]>> = scene
        .reconstruction
        .images
        .values()
        .take(2)
        .map(|im| {
            let img = GrayImage::from_rgb8(&render_view(
                &scene.world,
                &scene.reconstruction.cameras[&im.camera_id],
                im,
                1,
            ));
            extract(&img, &SiftOptions::default()).descriptors
        })
        .collect();
    let sift_sgemm: Vec<DescriptorMatrix> = sift
        .iter()
        .map(|d| DescriptorMatrix::with_kernel(d, Kernel::Sgemm))
        .collect();
    let sift: Vec<DescriptorMatrix> = sift.iter().map(|d| DescriptorMatrix::new(d)).collect();
    eprintln!(
        "match: {} × {} SIFT descriptors, {} matches",
        sift[0].len(),
        sift[1].len(),
        match_descriptors(&sift[0], &sift[1], &opts).len()
    );
    group.bench_function("match_sift_1024x768_views", |bch| {
        bch.iter(|| match_descriptors(&sift[0], &sift[1], &opts));
    });
    if Kernel::detect() != Kernel::Sgemm {
        group.bench_function("match_sift_1024x768_views_sgemm", |bch| {
            bch.iter(|| match_descriptors(&sift_sgemm[0], &sift_sgemm[1], &opts));
        });
    }
    group.finish();
}

/// Two views of points 4–8 units away with 0.5 px noise; `outliers` of every 10 matches random.
fn two_view_matches(
    k: &Intrinsics,
    n: usize,
    outliers: usize,
) -> (Vec<Vector2<f64>>, Vec<Vector2<f64>>) {
    let r = nalgebra::Rotation3::from_euler_angles(0.05, 0.2, 0.02);
    let t = nalgebra::Vector3::new(1.0, 0.1, 0.05);
    let mut next = uniform(12345);
    let (mut p1, mut p2) = (Vec::new(), Vec::new());
    for i in 0..n {
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
        p2.push(if i % 10 < outliers {
            Vector2::new(1024.0 * next(), 768.0 * next())
        } else {
            px(&y, next() - 0.5)
        });
    }
    (p1, p2)
}

fn bench_verify(c: &mut Criterion) {
    let k = Intrinsics {
        focal: 1000.0,
        cx: 512.0,
        cy: 384.0,
        known_focal: true,
    };
    let opts = TwoViewOptions::default();
    let mut group = c.benchmark_group("sfm");
    group.sample_size(20);
    // A good pair: 70 % inliers, RANSAC stops after a few dozen samples.
    let (p1, p2) = two_view_matches(&k, 1000, 3);
    group.bench_function("verify_1000_matches", |b| {
        b.iter(|| verify(&k, &k, &p1, &p2, &opts, 7));
    });
    // A weak pair, as most of an object capture's exhaustive pairs are: 20 % inliers, so E's
    // and F's searches run to their sample caps.
    let (p1, p2) = two_view_matches(&k, 300, 8);
    group.sample_size(10);
    group.bench_function("verify_300_matches_20pct_inliers", |b| {
        b.iter(|| verify(&k, &k, &p1, &p2, &opts, 7));
    });
    group.finish();
}

/// `n_cams` cameras on a circle looking inwards, 100 points per camera near the centre, each
/// seen by the 8 cameras nearest its azimuth; 0.5 px noise, poses and points slightly moved.
fn bundle_problem(n_cams: usize) -> bundle::Problem {
    let mut next = uniform(99);
    let cam = bundle::CameraParams {
        focal: 1000.0,
        cx: 640.0,
        cy: 480.0,
        k: 0.0,
    };
    let poses: Vec<bundle::Pose> = (0..n_cams)
        .map(|i| {
            let a = std::f64::consts::TAU * i as f64 / n_cams as f64;
            let c = nalgebra::Vector3::new(10.0 * a.cos(), 10.0 * a.sin(), 0.5);
            let forward = (-c).normalize();
            let right = forward.cross(&nalgebra::Vector3::z()).normalize();
            let down = forward.cross(&right);
            let r = nalgebra::Matrix3::from_rows(&[
                right.transpose(),
                down.transpose(),
                forward.transpose(),
            ]);
            bundle::Pose {
                rotation: r,
                translation: -(r * c),
                camera: 0,
            }
        })
        .collect();
    let mut points = Vec::new();
    let mut observations = Vec::new();
    for j in 0..100 * n_cams {
        let x = nalgebra::Vector3::new(4.0 * next() - 2.0, 4.0 * next() - 2.0, 2.0 * next() - 1.0);
        let az = x.y.atan2(x.x).rem_euclid(std::f64::consts::TAU);
        let nearest = (az / std::f64::consts::TAU * n_cams as f64) as usize;
        for d in 0..8 {
            let i = (nearest + n_cams - 4 + d) % n_cams;
            let pose = &poses[i];
            if let Some(px) = cam.project(&(pose.rotation * x + pose.translation)) {
                observations.push(bundle::Observation {
                    pose: i,
                    point: j,
                    xy: px + Vector2::new(next() - 0.5, next() - 0.5),
                });
            }
        }
        points.push(x + nalgebra::Vector3::new(next() - 0.5, next() - 0.5, next() - 0.5) * 0.02);
    }
    bundle::Problem {
        cameras: vec![cam],
        poses,
        points,
        observations,
    }
}

fn bench_bundle(c: &mut Criterion) {
    let (tiny, small, large) = (bundle_problem(50), bundle_problem(200), bundle_problem(600));
    let mut group = c.benchmark_group("sfm");
    group.sample_size(10);
    for (name, problem, solver) in [
        ("bundle_50_images_dense", &tiny, bundle::Solver::Dense),
        ("bundle_50_images_sparse", &tiny, bundle::Solver::Sparse),
        ("bundle_200_images_dense", &small, bundle::Solver::Dense),
        ("bundle_200_images_sparse", &small, bundle::Solver::Sparse),
        (
            "bundle_200_images_iterative",
            &small,
            bundle::Solver::Iterative,
        ),
        ("bundle_600_images_sparse", &large, bundle::Solver::Sparse),
    ] {
        let opts = bundle::Options {
            max_iterations: 5,
            solver,
            ..bundle::Options::default()
        };
        if solver == bundle::Solver::Sparse {
            // How sparse the system is: the factorization's multiply-adds, sparse and dense.
            let report = bundle::solve(
                &mut problem.clone(),
                &bundle::Options {
                    max_iterations: 1,
                    ..opts.clone()
                },
            );
            eprintln!("{name}: {:?}", report.reduced_work);
        }
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut p = problem.clone();
                bundle::solve(&mut p, &opts)
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_extract,
    bench_match,
    bench_verify,
    bench_bundle
);
criterion_main!(benches);

//! `--resolution`: photos downscaled with the area filter and cameras scaled alike match the
//! same scene ray-traced directly at the smaller size.

use splat_datasets::{SceneSpec, generate};
use splat_scene::dataset::Dataset;
use splat_test_support::gpu::context;
use splat_train::train::{default_near, load_views};

fn scene_at(dir: &std::path::Path, width: u32, height: u32) -> Dataset {
    generate(
        &SceneSpec {
            views: 9,
            width,
            height,
            points: 100,
            ..Default::default()
        },
        dir,
    )
    .unwrap();
    Dataset::load(dir).unwrap()
}

#[test]
fn downscaled_views_match_the_scene_rendered_at_that_size() {
    let ctx = context();
    let dir = tempfile::tempdir().unwrap();
    let big = scene_at(&dir.path().join("big"), 120, 90);
    let small = scene_at(&dir.path().join("small"), 40, 30);
    let near = default_near(&big.model);
    let down = load_views(ctx, &big, false, [0.0; 3], near, Some(40), &mut no_limit()).unwrap();
    let direct = load_views(ctx, &small, false, [0.0; 3], near, None, &mut no_limit()).unwrap();
    assert_eq!(down.len(), direct.len());
    for (a, b) in down.iter().zip(&direct) {
        let (va, vb) = (&a.view, &b.view);
        assert_eq!((va.width, va.height), (40, 30));
        for (x, y) in [
            (va.fx, vb.fx),
            (va.fy, vb.fy),
            (va.cx, vb.cx),
            (va.cy, vb.cy),
        ] {
            assert!((x - y).abs() < 1e-9, "intrinsics {x} vs {y}");
        }
        let mse = a
            .rgb()
            .iter()
            .zip(&b.rgb())
            .map(|(p, q)| (0..3).map(|c| f64::from(p[c] - q[c]).powi(2)).sum::<f64>())
            .sum::<f64>()
            / (3 * a.pixels.len()) as f64;
        let psnr = 10.0 * (1.0 / mse).log10();
        assert!(
            psnr > 25.0,
            "{}: {psnr:.1} dB against the direct render",
            a.name
        );
    }
    // Without a target size (or a larger one) the photos are used as they are.
    let same = load_views(
        ctx,
        &small,
        false,
        [0.0; 3],
        near,
        Some(400),
        &mut no_limit(),
    )
    .unwrap();
    assert_eq!(same[0].pixels, direct[0].pixels);
}

/// An image-cache budget that caches every photo.
fn no_limit() -> u64 {
    u64::MAX
}

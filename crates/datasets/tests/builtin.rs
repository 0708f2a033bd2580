//! The built-in scene: deterministic, readable by our own COLMAP and transforms readers with
//! matching cameras, and its images agree with its 3D points.

use nalgebra::Vector3;
use splat_datasets::{SceneSpec, generate};
use std::path::Path;

fn spec(seed: u64) -> SceneSpec {
    SceneSpec {
        views: 12,
        width: 96,
        height: 72,
        seed,
        samples: 1,
        points: 600,
        test_every: 8,
    }
}

fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_scene() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    generate(&spec(3), a.path()).unwrap();
    generate(&spec(3), b.path()).unwrap();
    generate(&spec(4), c.path()).unwrap();
    let (fa, fb, fc) = (
        all_files(a.path()),
        all_files(b.path()),
        all_files(c.path()),
    );
    assert_eq!(
        fa.len(),
        12 + 3 + 3,
        "{:?}",
        fa.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(fa == fb, "two runs with seed 3 differ");
    let img = |f: &[(String, Vec<u8>)]| {
        f.iter()
            .find(|x| x.0 == "images/view_000.png")
            .unwrap()
            .1
            .clone()
    };
    assert_ne!(img(&fa), img(&fc), "seeds 3 and 4 render the same image");
}

#[test]
fn colmap_model_and_transforms_agree_and_points_reproject() {
    let dir = tempfile::tempdir().unwrap();
    let g = generate(&spec(1), dir.path()).unwrap();
    let rec = splat_scene::colmap::read_model(&dir.path().join("sparse/0")).unwrap();
    assert_eq!(rec, g.reconstruction);
    assert_eq!(rec.images.len(), 12);
    assert!(
        rec.points3d.len() > 300,
        "only {} points seen twice",
        rec.points3d.len()
    );

    let train = splat_scene::transforms::read_transforms(&dir.path().join("transforms_train.json"))
        .unwrap();
    let test =
        splat_scene::transforms::read_transforms(&dir.path().join("transforms_test.json")).unwrap();
    assert_eq!(
        (train.images.len(), test.images.len()),
        (10, 2),
        "every 8th view is a test view"
    );
    let by_name = |n: &str| {
        rec.images
            .values()
            .find(|i| format!("images/{}", i.name) == n)
            .unwrap()
    };
    for split in [&train, &test] {
        for im in split.images.values() {
            let truth = by_name(&im.name);
            let cam = &split.cameras[&im.camera_id];
            assert_eq!(cam.params, rec.cameras[&1].params);
            assert!(
                (im.rotation() - truth.rotation()).norm() < 1e-12,
                "{}",
                im.name
            );
            assert!((im.center() - truth.center()).norm() < 1e-12, "{}", im.name);
        }
    }
    assert!(
        test.images
            .values()
            .any(|i| i.name == "images/view_000.png")
            && test
                .images
                .values()
                .any(|i| i.name == "images/view_008.png")
    );

    // Each point's observations are where the (independently loaded) transforms cameras project it.
    let cams: Vec<_> = train
        .images
        .values()
        .chain(test.images.values())
        .map(|i| (i.name.clone(), i.clone()))
        .collect();
    for p in rec.points3d.values() {
        for t in &p.track {
            let im = &rec.images[&t.image_id];
            let other = &cams
                .iter()
                .find(|c| c.0 == format!("images/{}", im.name))
                .unwrap()
                .1;
            let px = rec.cameras[&1]
                .project(&other.world_to_camera(&Vector3::from(p.xyz)))
                .unwrap();
            let kp = im.points2d[t.point2d_idx as usize].xy;
            assert!((px.x - kp[0]).abs() < 1e-6 && (px.y - kp[1]).abs() < 1e-6);
        }
    }
}

#[test]
fn rendered_pixels_show_the_colour_of_the_points_there() {
    let dir = tempfile::tempdir().unwrap();
    let g = generate(&spec(2), dir.path()).unwrap();
    let rec = &g.reconstruction;
    let mut diffs = Vec::new();
    for p in rec.points3d.values() {
        for t in &p.track {
            let im = &rec.images[&t.image_id];
            let img = image::open(dir.path().join("images").join(&im.name))
                .unwrap()
                .to_rgb8();
            let kp = im.points2d[t.point2d_idx as usize].xy;
            // One ray per pixel goes through the pixel centre (i + 0.5): the pixel containing the point.
            let px = img.get_pixel(kp[0].floor() as u32, kp[1].floor() as u32);
            let d: i32 = (0..3)
                .map(|c| (i32::from(px[c]) - i32::from(p.rgb[c])).abs())
                .max()
                .unwrap();
            diffs.push(d);
        }
    }
    diffs.sort();
    let median = diffs[diffs.len() / 2];
    // A half-pixel or axis mistake between renderer and cameras puts points on other texture.
    assert!(
        median <= 9,
        "median colour difference {median}/255 over {} observations",
        diffs.len()
    );
}

#[test]
fn bad_settings_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let err = generate(
        &SceneSpec {
            views: 1,
            ..spec(0)
        },
        dir.path(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("at least 2 views"), "{err}");
    let err = generate(
        &SceneSpec {
            width: 4,
            ..spec(0)
        },
        dir.path(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("4x72"), "{err}");
}

/// SfM finds points wherever the photos have texture, not only on the objects: the ground
/// between and beyond the camera rings and the sky dome must get points too (without them,
/// training paints those regions with floaters that fog held-out views).
#[test]
fn points_cover_the_far_ground_and_the_sky() {
    let g = splat_datasets::build(&spec(2)).unwrap();
    let pts: Vec<Vector3<f64>> = g
        .reconstruction
        .points3d
        .values()
        .map(|p| Vector3::from(p.xyz))
        .collect();
    let ring = g
        .reconstruction
        .images
        .values()
        .map(|i| i.center().xy().norm())
        .fold(0.0, f64::max);
    let far_ground = pts
        .iter()
        .filter(|p| p.z.abs() < 1e-6 && p.xy().norm() > ring)
        .count();
    let sky = pts
        .iter()
        .filter(|p| (p.norm() - 20.0).abs() < 1e-6)
        .count();
    let n = pts.len();
    assert!(
        far_ground * 20 > n,
        "{far_ground} of {n} points on the ground beyond the cameras (radius {ring:.2})"
    );
    assert!(sky * 20 > n, "{sky} of {n} points on the sky dome");
}

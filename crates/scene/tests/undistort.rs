//! The image undistorter on COLMAP's own model of sceaux-castle (SIMPLE_RADIAL, k = −0.155):
//! after undistortion the PINHOLE model must reproject its points onto the moved keypoints as
//! well as COLMAP's distorted model did, and the images must match the new cameras.

mod support;

use nalgebra::Vector2;
use splat_scene::CameraModel;
use splat_scene::colmap::read_binary;
use splat_scene::undistort::undistort_workspace;
use support::shared;

fn mean_reprojection_error(rec: &splat_scene::Reconstruction) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for p in rec.points3d.values() {
        for t in &p.track {
            let im = &rec.images[&t.image_id];
            let x = rec.cameras[&im.camera_id]
                .project(&im.world_to_camera(&p.xyz.into()))
                .unwrap();
            let kp = im.points2d[t.point2d_idx as usize].xy;
            sum += (x - Vector2::from(kp)).norm();
            n += 1;
        }
    }
    sum / n as f64
}

#[test]
fn sceaux_castle_undistorts_to_pinhole_with_the_same_reprojection_error() {
    let Some(root) = shared("sceaux-castle/colmap-1024") else {
        return;
    };
    let rec = read_binary(&root.join("sparse/0")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let und = undistort_workspace(&rec, &root.join("images"), out.path()).unwrap();
    assert_eq!(und, read_binary(&out.path().join("sparse/0")).unwrap());
    let cam = &und.cameras[&1];
    assert_eq!(cam.model, CameraModel::Pinhole);
    assert_eq!(cam.params[2], cam.width as f64 / 2.0);
    // Barrel distortion (k < 0): the undistorted view is wider than the photo at the same focal.
    assert!(cam.width > 1024 && cam.width < 1300, "width {}", cam.width);
    let before = mean_reprojection_error(&rec);
    let after = mean_reprojection_error(&und);
    // Undistortion stretches the periphery by up to ~15 % at this k, so errors in the new pixels
    // grow slightly; a wrong keypoint mapping would add whole pixels.
    assert!(
        after > before && after < 1.05 * before,
        "reprojection error {before} px before, {after} px after"
    );

    for im in und.images.values() {
        let img = image::open(out.path().join("images").join(&im.name))
            .unwrap()
            .to_rgb8();
        assert_eq!(
            (u64::from(img.width()), u64::from(img.height())),
            (cam.width, cam.height),
            "{}",
            im.name
        );
    }
    // The principal point does not move: a patch around it looks the same before and after.
    let name = &rec.images.values().next().unwrap().name;
    let src = image::open(root.join("images").join(name))
        .unwrap()
        .to_rgb8();
    let dst = image::open(out.path().join("images").join(name))
        .unwrap()
        .to_rgb8();
    let patch = |img: &image::RgbImage, cx: f64, cy: f64| {
        let mut acc = [0.0; 3];
        for dy in -3..=3 {
            for dx in -3..=3 {
                let p = img.get_pixel((cx as i64 + dx) as u32, (cy as i64 + dy) as u32);
                for c in 0..3 {
                    acc[c] += f64::from(p[c]) / 49.0;
                }
            }
        }
        acc
    };
    let a = patch(&src, 512.0, 384.5);
    let b = patch(&dst, cam.width as f64 / 2.0, cam.height as f64 / 2.0);
    for c in 0..3 {
        assert!((a[c] - b[c]).abs() < 6.0, "centre patch {a:?} vs {b:?}");
    }
}

#[test]
fn missing_image_is_named() {
    let Some(root) = shared("sceaux-castle/colmap-1024") else {
        return;
    };
    let rec = read_binary(&root.join("sparse/0")).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = undistort_workspace(&rec, empty.path(), out.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains(".JPG"), "{err}");
}

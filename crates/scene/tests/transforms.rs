//! Blender `transforms_*.json` import on the NeRF-synthetic chair scene, and bad files.

mod support;

use nalgebra::Vector3;
use splat_scene::transforms::read_transforms;
use support::shared;

#[test]
fn chair_cameras_look_at_the_origin() {
    let Some(root) = shared("chair") else { return };
    for split in ["train", "test"] {
        let rec = read_transforms(&root.join(format!("transforms_{split}.json"))).unwrap();
        assert_eq!(rec.images.len(), if split == "train" { 100 } else { 200 });
        for im in rec.images.values() {
            let cam = &rec.cameras[&im.camera_id];
            assert_eq!((cam.width, cam.height), (800, 800));
            // camera_angle_x = 0.6911112070083618 gives fx = 400 / tan(0.3455556).
            let (fx, _) = cam.focal();
            assert!((fx - 1111.1110311937682).abs() < 1e-6, "fx {fx}");
            assert!(
                im.name.starts_with(&format!("{split}/r_")) && im.name.ends_with(".png"),
                "{}",
                im.name
            );
            // The Blender cameras track the origin: it projects to the image centre, in front.
            let p = im.world_to_camera(&Vector3::zeros());
            assert!(p.z > 3.0, "{}: origin at depth {}", im.name, p.z);
            let px = cam.project(&p).unwrap();
            assert!(
                (px.x - 400.0).abs() < 0.5 && (px.y - 400.0).abs() < 0.5,
                "{}: origin at {px:?}",
                im.name
            );
            // Up in the world (+z) is up in the image (smaller y) for these upright cameras.
            let up = cam
                .project(&im.world_to_camera(&Vector3::new(0.0, 0.0, 0.5)))
                .unwrap();
            assert!(
                up.y < px.y,
                "{}: world up maps downwards: {up:?} vs {px:?}",
                im.name
            );
        }
    }
    // Compositing on white: the chair's corner pixel is background, so exactly white.
    let img = splat_scene::images::load_rgb(&root.join("train/r_0.png"), [1.0, 1.0, 1.0]).unwrap();
    assert_eq!(img.get_pixel(0, 0).0, [1.0, 1.0, 1.0]);
}

#[test]
fn missing_images_and_bad_matrices_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("transforms_train.json");
    std::fs::write(&p, r#"{"camera_angle_x": 0.7, "frames": [{"file_path": "./train/r_0", "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,4],[0,0,0,1]]}]}"#).unwrap();
    let err = read_transforms(&p).unwrap_err().to_string();
    assert!(
        err.contains("transforms_train.json")
            && err.contains("./train/r_0")
            && err.contains("not found"),
        "{err}"
    );

    image::RgbImage::new(8, 6)
        .save(dir.path().join("a.png"))
        .unwrap();
    std::fs::write(&p, r#"{"camera_angle_x": 0.7, "frames": [{"file_path": "a", "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,4]]}]}"#).unwrap();
    let err = read_transforms(&p).unwrap_err().to_string();
    assert!(
        err.contains("frame 0") && err.contains("transform_matrix"),
        "{err}"
    );

    std::fs::write(&p, r#"{"frames": [{"file_path": "a", "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,4],[0,0,0,1]]}]}"#).unwrap();
    let err = read_transforms(&p).unwrap_err().to_string();
    assert!(err.contains("no focal length"), "{err}");

    std::fs::write(&p, "{\"frames\": [\n{\"file_path\": ").unwrap();
    let err = read_transforms(&p).unwrap_err().to_string();
    assert!(
        err.contains("transforms_train.json:2") && err.contains("invalid JSON"),
        "{err}"
    );

    // A valid nerfstudio-style file: explicit intrinsics and distortion, image size from the file.
    std::fs::write(&p, r#"{"fl_x": 10, "fl_y": 11, "cx": 4, "cy": 3, "k1": -0.1, "frames": [{"file_path": "a.png", "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,4],[0,0,0,1]]}]}"#).unwrap();
    let rec = read_transforms(&p).unwrap();
    let cam = &rec.cameras[&1];
    assert_eq!(cam.model, splat_scene::CameraModel::OpenCv);
    assert_eq!((cam.width, cam.height), (8, 6));
    // Camera at (0,0,4) looking down -z (OpenGL): the origin is 4 in front of it.
    let p0 = rec.images[&1].world_to_camera(&Vector3::zeros());
    assert!((p0 - Vector3::new(0.0, 0.0, 4.0)).norm() < 1e-12, "{p0:?}");
}

#[test]
fn random_damage_to_a_transforms_file_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    image::RgbImage::new(8, 6)
        .save(dir.path().join("a.png"))
        .unwrap();
    let good = br#"{"camera_angle_x": 0.7, "frames": [{"file_path": "a", "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,4],[0,0,0,1]]}, {"file_path": "a.png", "transform_matrix": [[0,-1,0,1],[1,0,0,2],[0,0,1,3],[0,0,0,1]]}]}"#;
    let p = dir.path().join("transforms.json");
    std::fs::write(&p, good).unwrap();
    assert_eq!(read_transforms(&p).unwrap().images.len(), 2);
    let mut rng = support::Lcg(5);
    for (what, bad) in support::damaged_copies(good, &mut rng, 150) {
        std::fs::write(&p, &bad).unwrap();
        match std::panic::catch_unwind(|| read_transforms(&p)) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => assert!(e.to_string().contains("transforms.json"), "{what}: {e}"),
            Err(_) => panic!("{what}: the reader panicked"),
        }
    }
}

#[test]
fn blender_folders_default_to_a_white_background_and_colmap_to_black() {
    use splat_scene::dataset::{Dataset, Source};
    let dir = tempfile::tempdir().unwrap();
    let frame =
        r#"{"file_path": "a.png", "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,4],[0,0,0,1]]}"#;
    for (file, name) in [
        ("transforms_train.json", "a.png"),
        ("transforms_test.json", "b.png"),
    ] {
        let json = format!(
            r#"{{"camera_angle_x": 0.7, "w": 8, "h": 6, "frames": [{}]}}"#,
            frame.replace("a.png", name)
        );
        std::fs::write(dir.path().join(file), json).unwrap();
        image::RgbaImage::new(8, 6)
            .save(dir.path().join(name))
            .unwrap();
    }
    let d = Dataset::load(dir.path()).unwrap();
    assert_eq!(d.source, Source::Transforms);
    assert_eq!(d.source.default_background(), [1.0; 3]);
    assert_eq!(d.test.len(), 1);
    assert_eq!(Source::Colmap.default_background(), [0.0; 3]);
}

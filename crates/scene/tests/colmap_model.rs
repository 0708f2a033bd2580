//! COLMAP model I/O: the real COLMAP 3.8 model of sceaux-castle (binary and its text twin),
//! round trips in both forms for every camera model, and rejection of bad files.

mod support;

use splat_scene::colmap::{read_binary, read_model, read_text, write_binary, write_text};
use splat_scene::{
    Camera, CameraModel, Image, Point2D, Point3D, Reconstruction, SceneError, TrackElement,
};
use support::{Lcg, damaged_copies, shared};

#[test]
fn sceaux_castle_binary_and_text_agree_and_round_trip() {
    let Some(root) = shared("sceaux-castle/colmap-1024") else {
        return;
    };
    let bin = read_binary(&root.join("sparse/0")).unwrap();
    let txt = read_text(&root.join("sparse-txt/0")).unwrap();
    assert_eq!(bin.cameras.len(), 1);
    assert_eq!(bin.images.len(), 11);
    assert_eq!(bin.points3d.len(), 5162);
    let cam = &bin.cameras[&1];
    assert_eq!(cam.model, CameraModel::SimpleRadial);
    assert_eq!((cam.width, cam.height), (1024, 769));
    // The text file prints 17 significant digits, so the two forms hold identical values.
    assert_eq!(bin, txt, "binary and text models differ");
    let mean_track = bin.points3d.values().map(|p| p.track.len()).sum::<usize>() as f64 / 5162.0;
    assert!(
        (mean_track - 4.888_996_512_979_466).abs() < 1e-12,
        "mean track length {mean_track}"
    );
    // Observations agree with the tracks.
    for p in bin.points3d.values() {
        for t in &p.track {
            assert_eq!(
                bin.images[&t.image_id].points2d[t.point2d_idx as usize].point3d_id,
                Some(p.id)
            );
        }
    }
    // Reprojection with the SIMPLE_RADIAL model reproduces COLMAP's error figure.
    let mut sum = 0.0;
    let mut n = 0usize;
    for p in bin.points3d.values() {
        for t in &p.track {
            let im = &bin.images[&t.image_id];
            let x = cam.project(&im.world_to_camera(&p.xyz.into())).unwrap();
            let kp = im.points2d[t.point2d_idx as usize].xy;
            sum += ((x.x - kp[0]).powi(2) + (x.y - kp[1]).powi(2)).sqrt();
            n += 1;
        }
    }
    let mean = sum / n as f64;
    assert!(
        (mean - 0.348).abs() < 0.01,
        "mean reprojection error {mean}"
    );

    let dir = tempfile::tempdir().unwrap();
    write_binary(&dir.path().join("bin"), &bin).unwrap();
    write_text(&dir.path().join("txt"), &bin).unwrap();
    assert_eq!(read_binary(&dir.path().join("bin")).unwrap(), bin);
    assert_eq!(read_text(&dir.path().join("txt")).unwrap(), bin);
    // Our cameras.bin is byte-identical to COLMAP's (the other files list records in id order,
    // COLMAP in its hash-map order, so only their content is compared).
    {
        let f = "cameras.bin";
        assert!(
            std::fs::read(dir.path().join("bin").join(f)).unwrap()
                == std::fs::read(root.join("sparse/0").join(f)).unwrap(),
            "{f} differs from COLMAP's"
        );
    }
}

/// A model using every camera model with awkward values.
fn every_model() -> Reconstruction {
    let mut rng = Lcg(42);
    let mut rec = Reconstruction::default();
    for (i, &model) in CameraModel::ALL.iter().enumerate() {
        let id = i as u32 * 3 + 1;
        let params = (0..model.num_params())
            .map(|k| {
                if k < 2 {
                    500.0 + rng.f64()
                } else {
                    rng.f64() * 1e-3 - 1e-7
                }
            })
            .collect();
        rec.cameras.insert(
            id,
            Camera {
                id,
                model,
                width: 640 + i as u64,
                height: 480,
                params,
            },
        );
    }
    let cam_ids: Vec<u32> = rec.cameras.keys().copied().collect();
    for k in 0..5u32 {
        let id = 100 + k * 7;
        let points2d = (0..4u64)
            .map(|j| Point2D {
                xy: [rng.f64() * 640.0, rng.f64() * 1e-300],
                point3d_id: (j % 2 == 0).then_some(j + 1000),
            })
            .collect();
        rec.images.insert(
            id,
            Image {
                id,
                qvec: [0.7, 0.1, -0.3, 0.64],
                tvec: [rng.f64(), -1.0 / 3.0, 1e10],
                camera_id: cam_ids[k as usize % cam_ids.len()],
                name: format!("dir/img {k}.jpg"),
                points2d,
            },
        );
    }
    let img_ids: Vec<u32> = rec.images.keys().copied().collect();
    for j in [1000u64, 1002, u64::MAX - 1] {
        let track = vec![
            TrackElement {
                image_id: img_ids[0],
                point2d_idx: 0,
            },
            TrackElement {
                image_id: img_ids[0],
                point2d_idx: 2,
            },
        ];
        rec.points3d.insert(
            j,
            Point3D {
                id: j,
                xyz: [rng.f64(), f64::MIN_POSITIVE, -0.0],
                rgb: [0, 128, 255],
                error: 0.1,
                track,
            },
        );
    }
    rec
}

#[test]
fn every_camera_model_round_trips_in_binary_and_text() {
    let rec = every_model();
    let dir = tempfile::tempdir().unwrap();
    write_binary(dir.path(), &rec).unwrap();
    assert_eq!(read_binary(dir.path()).unwrap(), rec);
    write_text(dir.path(), &rec).unwrap();
    assert_eq!(read_text(dir.path()).unwrap(), rec);
    assert_eq!(read_model(dir.path()).unwrap(), rec);
}

#[test]
fn unknown_camera_model_is_rejected_with_its_id() {
    let mut rec = Reconstruction::default();
    rec.cameras.insert(
        1,
        Camera {
            id: 1,
            model: CameraModel::Pinhole,
            width: 10,
            height: 10,
            params: vec![1.0; 4],
        },
    );
    let dir = tempfile::tempdir().unwrap();
    write_binary(dir.path(), &rec).unwrap();
    let p = dir.path().join("cameras.bin");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[12..16].copy_from_slice(&11i32.to_le_bytes());
    std::fs::write(&p, &bytes).unwrap();
    let err = read_binary(dir.path()).unwrap_err();
    assert!(
        matches!(err, SceneError::Binary { offset: 12, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("unknown camera model id 11"),
        "{err}"
    );

    write_text(dir.path(), &rec).unwrap();
    let p = dir.path().join("cameras.txt");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("PINHOLE", "EQUIRECTANGULAR");
    std::fs::write(&p, text).unwrap();
    let err = read_text(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("cameras.txt:4") && err.contains("EQUIRECTANGULAR"),
        "{err}"
    );
}

#[test]
fn truncated_or_corrupted_binary_models_give_errors_naming_the_file() {
    let rec = every_model();
    let dir = tempfile::tempdir().unwrap();
    write_binary(dir.path(), &rec).unwrap();
    let mut rng = Lcg(7);
    for f in ["cameras.bin", "images.bin", "points3D.bin"] {
        let p = dir.path().join(f);
        let good = std::fs::read(&p).unwrap();
        for (what, bad) in damaged_copies(&good, &mut rng, 60) {
            std::fs::write(&p, &bad).unwrap();
            // Corruption may produce another valid model; it must never panic, and any error names the file.
            match std::panic::catch_unwind(|| read_binary(dir.path())) {
                Ok(Ok(_)) => assert!(
                    bad.len() == good.len(),
                    "{f} {what}: a truncated file was accepted"
                ),
                Ok(Err(e)) => assert!(
                    names_a_model_file(&e, "bin"),
                    "{f} {what}: error does not name a file: {e}"
                ),
                Err(_) => panic!("{f} {what}: reader panicked"),
            }
        }
        std::fs::write(&p, &good).unwrap();
    }
}

/// A damaged file is either reported itself or, when what is left still parses (a cut at a
/// record boundary, a changed id), the file whose references no longer resolve is.
fn names_a_model_file(e: &SceneError, ext: &str) -> bool {
    let s = e.to_string();
    ["cameras", "images", "points3D"]
        .iter()
        .any(|f| s.contains(&format!("{f}.{ext}")))
}

#[test]
fn truncated_or_corrupted_text_models_give_errors_naming_the_file() {
    let rec = every_model();
    let dir = tempfile::tempdir().unwrap();
    write_text(dir.path(), &rec).unwrap();
    let mut rng = Lcg(8);
    for f in ["cameras.txt", "images.txt", "points3D.txt"] {
        let p = dir.path().join(f);
        let good = std::fs::read(&p).unwrap();
        for (what, bad) in damaged_copies(&good, &mut rng, 60) {
            std::fs::write(&p, &bad).unwrap();
            match std::panic::catch_unwind(|| read_text(dir.path())) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => assert!(
                    names_a_model_file(&e, "txt"),
                    "{f} {what}: error does not name a file: {e}"
                ),
                Err(_) => panic!("{f} {what}: reader panicked"),
            }
        }
        std::fs::write(&p, &good).unwrap();
    }
    // A cut inside a line is reported with its line number.
    let p = dir.path().join("points3D.txt");
    let text = std::fs::read_to_string(&p).unwrap();
    let cut = text.rfind(' ').unwrap();
    std::fs::write(&p, &text[..cut]).unwrap();
    let err = read_text(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("points3D.txt:") && err.contains("pairs"),
        "{err}"
    );
}

/// Found by fuzzing (issue 24): models that read but that no later stage could use — a NaN
/// point error (its copy then read back different), a NUL in an image name (its binary copy
/// was unreadable), a camera with no size or a negative focal length, a zero quaternion.
#[test]
fn values_later_stages_cannot_use_are_refused_naming_the_file() {
    type Damage = fn(&mut Reconstruction);
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Damage); 5] = [
        ("points3D", |r| {
            r.points3d.values_mut().next().unwrap().error = f64::NAN;
        }),
        ("images", |r| {
            r.images.values_mut().next().unwrap().name = "a\0b.png".into();
        }),
        ("cameras", |r| {
            r.cameras.values_mut().next().unwrap().width = 0;
        }),
        ("cameras", |r| {
            r.cameras.values_mut().next().unwrap().params[0] = -500.0;
        }),
        ("images", |r| {
            r.images.values_mut().next().unwrap().qvec = [0.0; 4];
        }),
    ];
    for (i, (file, damage)) in cases.iter().enumerate() {
        let mut rec = every_model();
        damage(&mut rec);
        let bin = dir.path().join(format!("bin{i}"));
        std::fs::create_dir_all(&bin).unwrap();
        write_binary(&bin, &rec).unwrap();
        let e = read_binary(&bin).unwrap_err().to_string();
        assert!(e.contains(&format!("{file}.bin")), "case {i}: {e}");
        if *file != "images" || i != 1 {
            // (A NUL cannot be written in the text form: the name ends there.)
            let txt = dir.path().join(format!("txt{i}"));
            std::fs::create_dir_all(&txt).unwrap();
            write_text(&txt, &rec).unwrap();
            let e = read_text(&txt).unwrap_err().to_string();
            assert!(e.contains(&format!("{file}.txt")), "case {i}: {e}");
        }
    }
}

//! `splat sfm` and `splat sfm-eval` end to end on the built-in scene, and the failure of a set
//! of photos that share nothing.

mod common;

use common::{built_in, splat, text};

#[test]
fn sfm_reconstructs_the_built_in_scene_and_sfm_eval_scores_it() {
    let tmp = tempfile::tempdir().unwrap();
    // 48 views around the scene (7.5° apart); the exact cameras are in ws/sparse/0.
    let ws = built_in(tmp.path(), 48, 480, 360, 1000);
    let out = tmp.path().join("sfm");
    let (ws_s, out_s) = (ws.to_str().unwrap(), out.to_str().unwrap());
    let images = ws.join("images");
    let o = splat(&[
        "sfm",
        images.to_str().unwrap(),
        "-o",
        out_s,
        "--matcher",
        "sequential",
        "--overlap",
        "4",
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("model 0: 48 of 48 images registered"), "{t}");
    // The undistorted workspace is ready for training: PINHOLE cameras and images.
    let rec = splat_scene::colmap::read_model(&out.join("sparse/0")).unwrap();
    assert!(
        rec.cameras
            .values()
            .all(|c| c.model == splat_scene::CameraModel::Pinhole)
    );
    assert_eq!(std::fs::read_dir(out.join("images")).unwrap().count(), 48);
    assert!(rec.points3d.len() > 500);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sfm-report.json")).unwrap())
            .unwrap();
    assert_eq!(report["models"][0]["registered"], 48);
    assert!(report["peak_memory_bytes"].as_u64().unwrap() > 0);
    // Every camera looks at one point of the scene, so the photos do not pin the principal
    // point down: `--principal-point auto` tests it, says so and keeps the image centre.
    let test = &report["models"][0]["stats"]["principal_point"][0];
    assert_eq!(
        test["prior_px"],
        serde_json::json!([240.0, 180.0]),
        "{test}"
    );
    assert_eq!(
        (test["determined"].as_bool(), test["kept"].as_bool()),
        (Some(false), Some(false)),
        "{test}"
    );
    assert!(t.contains("principal point of camera 1: refined to"), "{t}");
    assert!(
        t.contains("held at the prior, the photos do not determine it"),
        "{t}"
    );
    let distorted = splat_scene::colmap::read_model(&out.join("distorted/sparse/0")).unwrap();
    let camera = distorted.cameras.values().next().unwrap();
    assert_eq!((camera.params[1], camera.params[2]), (240.0, 180.0));

    // COLMAP 3.8 reads the model we write.
    if let Some(colmap) = splat_test_support::colmap_for_tests() {
        let o = std::process::Command::new(colmap)
            .args(["model_analyzer", "--path"])
            .arg(out.join("distorted/sparse/0"))
            .output()
            .unwrap();
        let t = text(&o);
        assert!(
            o.status.success() && t.contains("Registered images: 48"),
            "{t}"
        );
    }

    let o = splat(&["sfm-eval", out_s, ws_s, "--json"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let e: serde_json::Value = serde_json::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap();
    eprintln!("{e}");
    assert_eq!(e["compared_images"], 48);
    assert!(e["rre_deg"]["median"].as_f64().unwrap() < 0.2, "{e}");
    assert!(
        e["center_error_pct"]["median"].as_f64().unwrap() < 0.5,
        "{e}"
    );

    // The same cameras as a Blender transforms_train.json (OpenGL axes, names with the images'
    // folder in front) score the same: names match once the folder is dropped.
    let truth = splat_scene::colmap::read_model(&ws.join("sparse/0")).unwrap();
    let json = ws.join("transforms_train.json");
    std::fs::write(&json, blender_transforms(&truth).to_string()).unwrap();
    let o = splat(&["sfm-eval", out_s, json.to_str().unwrap(), "--json"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let b: serde_json::Value = serde_json::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap();
    assert_eq!(b["compared_images"], 48, "{b}");
    for key in [
        "rre_deg",
        "rte_deg",
        "rre_middle_deg",
        "center_error_pct",
        "focal_error_pct",
    ] {
        let (x, y) = (
            e[key]["median"].as_f64().unwrap(),
            b[key]["median"].as_f64().unwrap(),
        );
        assert!(
            (x - y).abs() < 1e-6 * (1.0 + x.abs()),
            "{key}: {x} against {y}"
        );
    }
}

/// A model's cameras as a Blender `transforms_train.json`: one horizontal field of view, and per
/// photo `images/<name>` with its camera → world matrix in OpenGL axes (y up, looking down −z).
fn blender_transforms(rec: &splat_scene::Reconstruction) -> serde_json::Value {
    let camera = rec.cameras.values().next().unwrap();
    let (fx, _) = camera.focal();
    let angle_x = 2.0 * (camera.width as f64 / (2.0 * fx)).atan();
    let frames: Vec<serde_json::Value> = rec
        .images
        .values()
        .map(|im| {
            let c2w = im.rotation().transpose();
            let c = im.center();
            // OpenCV → OpenGL camera axes: y and z flip sign.
            let m: Vec<Vec<f64>> = (0..3)
                .map(|r| vec![c2w[(r, 0)], -c2w[(r, 1)], -c2w[(r, 2)], c[r]])
                .chain([vec![0.0, 0.0, 0.0, 1.0]])
                .collect();
            serde_json::json!({"file_path": format!("images/{}", im.name), "transform_matrix": m})
        })
        .collect();
    serde_json::json!({"camera_angle_x": angle_x, "frames": frames})
}

#[test]
fn photos_that_share_nothing_fail_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    std::fs::create_dir(&images).unwrap();
    for seed in 0..3u32 {
        let img = image::RgbImage::from_fn(160, 120, |x, y| {
            let v = (x
                .wrapping_mul(2654435761)
                .wrapping_add(y.wrapping_mul(40503))
                .wrapping_add(seed * 97)
                >> 3) as u8;
            image::Rgb([v, v.rotate_left(3), v ^ 0x5a])
        });
        img.save(images.join(format!("noise_{seed}.png"))).unwrap();
    }
    let out = tmp.path().join("out");
    let o = splat(&["sfm", images.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("no model"), "{t}");
    // The report is written all the same.
    assert!(out.join("sfm-report.json").is_file());
}

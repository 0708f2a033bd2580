//! `splat train` end to end on a tiny built-in scene: the files it promises, SageMaker-style
//! metric lines, and a clear error for a camera model it cannot train on.

mod common;

use common::{built_in, splat};

#[test]
fn train_writes_model_metrics_and_eval() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 9, 48, 36, 800);
    let out = dir.path().join("out");
    let o = splat(&[
        "train",
        ws.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--steps",
        "30",
        "--eval-every",
        "20",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("step=30 loss=")),
        "{stdout}"
    );
    let cloud = scene::ply::read_ply(&out.join("point_cloud.ply")).unwrap();
    assert_eq!(cloud.sh_degree, 3);
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["step"] == 20 && l["test_psnr"].as_f64().is_some())
    );
    assert!(
        lines
            .iter()
            .any(|l| l["step"] == 30 && l["loss"].as_f64().is_some())
    );
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert!(eval["test_psnr"].as_f64().unwrap() > 0.0);

    // `splat eval` on the written model reproduces the trainer's own test PSNR.
    let o = splat(&[
        "eval",
        out.join("point_cloud.ply").to_str().unwrap(),
        ws.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["held_out"], true);
    assert_eq!(report["views"].as_array().unwrap().len(), 2);
    let (a, b) = (
        report["psnr"].as_f64().unwrap(),
        eval["test_psnr"].as_f64().unwrap(),
    );
    assert!((a - b).abs() < 1e-3, "eval {a} vs training {b}");
    let ssim = report["ssim"].as_f64().unwrap();
    assert!(ssim > 0.0 && ssim <= 1.0, "{ssim}");
}

#[test]
fn distorted_cameras_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 3, 32, 24, 100);
    let mut rec = scene::colmap::read_model(&ws.join("sparse/0")).unwrap();
    let cam = rec.cameras.get_mut(&1).unwrap();
    cam.model = scene::CameraModel::SimpleRadial;
    cam.params = vec![27.0, 16.0, 12.0, -0.1];
    scene::colmap::write_binary(&ws.join("sparse/0"), &rec).unwrap();
    let o = splat(&[
        "train",
        ws.to_str().unwrap(),
        "-o",
        dir.path().join("out").to_str().unwrap(),
        "--steps",
        "5",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("SIMPLE_RADIAL") && err.contains("splat undistort"),
        "{err}"
    );
}

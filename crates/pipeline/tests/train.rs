//! `splat train` end to end on a tiny built-in scene: the files it promises, SageMaker-style
//! metric lines, and a clear error for a camera model it cannot train on.

mod common;

use common::{built_in, kill_when_written, splat, text};
use std::path::Path;

/// `splat train WS -o OUT EXTRA…`.
fn train(ws: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["train", ws.to_str().unwrap(), "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    splat(&args)
}

#[test]
fn train_writes_model_metrics_and_eval() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 9, 48, 36, 800);
    let out = dir.path().join("out");
    let o = train(
        &ws,
        &out,
        &["--steps", "30", "--eval-every", "20", "--profile"],
    );
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
    let cloud = splat_scene::ply::read_ply(&out.join("point_cloud.ply")).unwrap();
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
    let ssim = eval["test_ssim"].as_f64().unwrap();
    assert!(ssim > 0.0 && ssim <= 1.0, "{ssim}");
    assert_eq!(eval["views"].as_array().unwrap().len(), 2);
    // Floaters near the capture path were looked for (the default --floater-ratio 10) and the
    // model written and counted without them.
    assert!(eval["floaters_removed"].is_u64(), "{eval}");
    assert_eq!(eval["gaussians"], cloud.len(), "{eval}");
    // A ratio under 1 would remove every Gaussian a camera sees: refused before anything runs.
    let refused = dir.path().join("refused");
    let bad = train(&ws, &refused, &["--steps", "30", "--floater-ratio", "0.5"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("not a distance ratio"),
        "{}",
        text(&bad)
    );
    assert!(!refused.exists());
    // The final evaluation reports its progress (JSON lines when stderr is not a terminal).
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.lines().any(|l| l.contains(r#""step":"evaluating""#)
            && l.contains(r#""done":2"#)
            && l.contains(r#""total":2"#)),
        "{stderr}"
    );
    // Training time leaves out the evaluations (at step 20 and the end).
    let secs = |k: &str| eval[k].as_f64().unwrap_or_else(|| panic!("{k} in {eval}"));
    assert!(secs("evaluation_seconds") > 0.0);
    assert!(
        secs("training_seconds_since_step_0") + secs("evaluation_seconds")
            <= secs("seconds") + 1e-6,
        "{eval}"
    );
    // Device memory (lavapipe is a Vulkan device, whose allocator keeps a report): at least the
    // final Gaussians' parameters and both Adam moments (59 floats each at SH degree 3).
    let peak = eval["peak_gpu_allocated_bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("{eval}"));
    let reserved = eval["peak_gpu_memory_bytes"].as_u64().unwrap();
    let floor = cloud.len() as u64 * 59 * 4 * 3;
    assert!(
        peak >= floor && reserved >= peak && reserved < 1 << 30,
        "{peak} allocated, {reserved} reserved, floor {floor}"
    );
    let at_20 = lines
        .iter()
        .find(|l| l["step"] == 20 && l["test_psnr"].is_number())
        .unwrap();
    assert!(at_20["gpu_memory_bytes"].as_u64().unwrap() > 0, "{at_20}");
    assert!(at_20["steps_per_second"].as_f64().unwrap() > 0.0, "{at_20}");
    assert!(stdout.contains("peak GPU memory "), "{stdout}");
    // --profile: every stage of the step, timed, adding up to no more than the training time.
    assert!(
        stdout.contains("time per step by stage (30 steps"),
        "{stdout}"
    );
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("profile.json")).unwrap()).unwrap();
    assert_eq!(profile["steps"], 30);
    let stages: Vec<(&str, f64, u64)> = profile["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap(),
                s["seconds"].as_f64().unwrap(),
                s["runs"].as_u64().unwrap(),
            )
        })
        .collect();
    for stage in [
        "project",
        "depth sort",
        "scan + key count",
        "emit_keys",
        "tile sort",
        "rasterize",
        "loss + target upload",
        "rasterize_backward",
        "project_backward",
        "optimizer (Adam, statistics)",
    ] {
        let found = stages.iter().find(|s| s.0 == stage);
        assert!(
            found.is_some_and(|s| s.1 > 0.0 && s.2 == 30),
            "{stage} in {stages:?}"
        );
    }
    let total: f64 = stages.iter().map(|s| s.1).sum();
    assert!(
        (total - profile["seconds"].as_f64().unwrap()).abs() < 1e-9
            && total <= secs("training_seconds_since_step_0"),
        "{profile} {eval}"
    );
    // The pictures: curves, and truth beside render for the two test views (48×36 each).
    let curves = image::open(out.join("curves.png")).unwrap();
    assert!(curves.width() >= 800);
    let grid = image::open(out.join("test_views.png")).unwrap().to_rgb8();
    // 108×84 enlarged 4 times (nearest) to be looked at.
    assert_eq!(grid.dimensions(), (4 * (2 * 48 + 12), 4 * (2 * 36 + 12)));
    let truth = image::open(ws.join("images/view_000.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(
        grid.get_pixel(4 * (4 + 10), 4 * (4 + 10)),
        truth.get_pixel(10, 10)
    );

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

/// A run still training — here a finished 30-step run whose step-20 checkpoint is made newer
/// than its point_cloud.ply, as when a run is resumed for more steps — is looked at through its
/// newest checkpoint: `splat eval` of the folder scores it as the trainer scored step 20, export
/// and render read the same Gaussians, and a broken checkpoint is an error naming it.
#[test]
fn a_run_in_progress_is_shown_from_its_newest_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 9, 48, 36, 800);
    let out = dir.path().join("out");
    let o = train(
        &ws,
        &out,
        &[
            "--steps",
            "30",
            "--strategy",
            "fixed",
            "--eval-every",
            "10",
            "--checkpoint-every",
            "10",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let trainer_psnr = |step: u64| {
        metrics
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|l| l["step"] == step && l["test_psnr"].is_number())
            .and_then(|l| l["test_psnr"].as_f64())
            .unwrap_or_else(|| panic!("no test PSNR at step {step} in {metrics}"))
    };
    let eval = |model: &Path| {
        let o = splat(&[
            "eval",
            model.to_str().unwrap(),
            ws.to_str().unwrap(),
            "--json",
        ]);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{err}");
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (report["psnr"].as_f64().unwrap(), report, err)
    };

    // Finished: the folder is its point_cloud.ply (the step-30 model).
    let (psnr, report, _) = eval(&out);
    assert!((psnr - trainer_psnr(30)).abs() < 1e-3, "{report}");
    assert_eq!(
        report["model_file"].as_str(),
        out.join("point_cloud.ply").to_str()
    );

    // Still training: the newest checkpoint (step 20; step 10 is older) is the model.
    let ckpt = out.join("checkpoints/step_000020.ckpt");
    let later = std::fs::metadata(out.join("point_cloud.ply"))
        .unwrap()
        .modified()
        .unwrap()
        + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&ckpt)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let (psnr, report, err) = eval(&out);
    assert!(
        (psnr - trainer_psnr(20)).abs() < 1e-3,
        "{report} against the trainer's {} at step 20",
        trainer_psnr(20)
    );
    assert!(
        (psnr - trainer_psnr(30)).abs() > 1e-3,
        "steps 20 and 30 must score differently to tell them apart"
    );
    assert!(
        err.contains("still training") && err.contains("step 20"),
        "{err}"
    );
    assert_eq!(report["model_file"].as_str(), ckpt.to_str());

    // Beside each checkpoint kept, its preview (step_N.spz): the same Gaussians, scoring as the
    // checkpoint does to within spz's quantisation.
    for step in [10, 20] {
        assert!(
            out.join(format!("checkpoints/step_{step:06}.spz"))
                .is_file(),
            "no preview of step {step}"
        );
    }
    let (preview_psnr, preview_report, _) = eval(&out.join("checkpoints/step_000020.spz"));
    assert_eq!(preview_report["gaussians"], report["gaussians"]);
    assert!(
        (preview_psnr - psnr).abs() < 0.5,
        "the preview scores {preview_psnr} dB, its checkpoint {psnr} dB"
    );

    // Export writes the checkpoint's Gaussians; render draws the same picture from either.
    let exported = dir.path().join("step20.ply");
    let o = splat(&[
        "export",
        out.to_str().unwrap(),
        "-o",
        exported.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c = splat_train::checkpoint::Checkpoint::read(&ckpt).unwrap();
    let cloud = splat_scene::ply::read_ply(&exported).unwrap();
    assert_eq!(cloud.len(), c.header.count as usize);
    let means: Vec<f32> = cloud.means.iter().flatten().copied().collect();
    assert_eq!(means.as_slice(), c.array("means").unwrap());
    let (psnr_exported, _, _) = eval(&exported);
    assert_eq!(psnr_exported, psnr);
    let render = |model: &Path, png: &str| {
        let png = dir.path().join(png);
        let o = splat(&[
            "render",
            model.to_str().unwrap(),
            ws.to_str().unwrap(),
            "--view",
            "1",
            "-o",
            png.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        image::open(png).unwrap().to_rgb8()
    };
    assert_eq!(render(&ckpt, "a.png"), render(&exported, "b.png"));

    // A truncated checkpoint: an error naming it, nothing written.
    let bytes = std::fs::read(&ckpt).unwrap();
    std::fs::write(&ckpt, &bytes[..bytes.len() / 2]).unwrap();
    let broken = dir.path().join("broken.ply");
    let export_fails = || {
        let o = splat(&[
            "export",
            out.to_str().unwrap(),
            "-o",
            broken.to_str().unwrap(),
        ]);
        assert!(!o.status.success());
        assert!(!broken.exists());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = export_fails();
    assert!(
        err.contains("step_000020.ckpt") && err.contains("truncated"),
        "{err}"
    );

    // A run that has not written its first checkpoint yet: said so, not "no model".
    for f in [
        "point_cloud.ply",
        "checkpoints/step_000010.ckpt",
        "checkpoints/step_000020.ckpt",
        "checkpoints/step_000010.spz",
        "checkpoints/step_000020.spz",
    ] {
        std::fs::remove_file(out.join(f)).unwrap();
    }
    let err = export_fails();
    assert!(err.contains("no checkpoint yet"), "{err}");
}

/// An evaluation due on a step that resets every opacity is taken just before that step (the
/// model after the step before), not on the nearly transparent model the reset leaves.
#[test]
fn evaluations_are_not_taken_straight_after_an_opacity_reset() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 6, 32, 24, 300);
    let out = dir.path().join("out");
    let o = train(
        &ws,
        &out,
        &[
            "--steps",
            "45",
            "--eval-every",
            "10",
            "--opacity-reset-every",
            "20",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The reset at 20 is taken (25 steps left to recover), the one at 40 is not (5 left, under
    // a third of the interval), so the evaluation due there is taken on step 40 itself.
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let evals: Vec<u64> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["test_psnr"].is_number())
        .map(|l| l["step"].as_u64().unwrap())
        .collect();
    assert_eq!(evals, [10, 19, 30, 40, 45], "{metrics}");
}

/// Issue 21: an opacity reset due on a run's last step used to flatten the written model
/// (5.45 dB where the same run without resets scored 22.41). It is skipped now, so the two
/// runs write the same model.
#[test]
fn a_reset_due_at_the_end_of_a_run_does_not_flatten_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 9, 64, 48, 800);
    let psnr = |name: &str, reset_every: &str| {
        let out = dir.path().join(name);
        let o = train(
            &ws,
            &out,
            &[
                "--steps",
                "200",
                "--densify-until",
                "1000",
                "--opacity-reset-every",
                reset_every,
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let eval: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
        eval["test_psnr"].as_f64().unwrap()
    };
    let (with_reset, without) = (psnr("reset", "200"), psnr("none", "0"));
    assert!(without > 15.0, "the run without resets scored {without} dB");
    assert!(
        (with_reset - without).abs() < 1e-9,
        "reset due on the last step: {with_reset} dB, no resets: {without} dB"
    );
}

#[test]
fn distorted_cameras_are_undistorted_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 3, 32, 24, 100);
    let mut rec = splat_scene::colmap::read_model(&ws.join("sparse/0")).unwrap();
    let cam = rec.cameras.get_mut(&1).unwrap();
    cam.model = splat_scene::CameraModel::SimpleRadial;
    cam.params = vec![27.0, 16.0, 12.0, -0.1];
    splat_scene::colmap::write_binary(&ws.join("sparse/0"), &rec).unwrap();
    let out = dir.path().join("out");
    let o = splat(&[
        "train",
        ws.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--steps",
        "5",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("undistorting 3 images (SIMPLE_RADIAL"),
        "{err}"
    );
    let und = splat_scene::colmap::read_model(&out.join("undistorted/sparse/0")).unwrap();
    assert!(
        und.cameras
            .values()
            .all(|c| c.model == splat_scene::CameraModel::Pinhole)
    );
    assert_eq!(
        std::fs::read_dir(out.join("undistorted/images"))
            .unwrap()
            .count(),
        3
    );
    assert!(out.join("point_cloud.ply").is_file());
}

/// Arguments of a short run that densifies, resets opacities and checkpoints within 150 steps.
fn resumable_run(ws: &Path, out: &Path) -> Vec<String> {
    [
        "train",
        ws.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--steps",
        "150",
        "--seed",
        "7",
        "--eval-every",
        "0",
        "--checkpoint-every",
        "40",
        "--densify-from",
        "20",
        "--densify-every",
        "30",
        "--densify-until",
        "130",
        "--opacity-reset-every",
        "70",
        "--sh-interval",
        "50",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn a_run_killed_and_resumed_writes_the_same_model_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 8, 48, 36, 700);
    let whole = dir.path().join("whole");
    let args = resumable_run(&ws, &whole);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = splat(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reference = std::fs::read(whole.join("point_cloud.ply")).unwrap();
    let metrics = std::fs::read_to_string(whole.join("metrics.jsonl")).unwrap();
    let counts: Vec<u64> = metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["gaussians"].as_u64())
        .collect();
    assert!(
        counts.last() != counts.first(),
        "the run must densify to test that: {counts:?}"
    );

    // SIGKILL as soon as the second checkpoint (step 80, after two densifications and an
    // opacity reset) is on disk, then resume.
    let killed = dir.path().join("killed");
    let args = resumable_run(&ws, &killed);
    kill_when_written(&args, &[], &killed.join("checkpoints/step_000080.ckpt"));
    assert!(
        !killed.join("point_cloud.ply").exists(),
        "the run finished before it was killed"
    );
    let mut resume = args.clone();
    resume.push("--resume".into());
    let resume: Vec<&str> = resume.iter().map(String::as_str).collect();
    let o = splat(&resume);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("resuming from"), "{err}");
    let resumed = std::fs::read(killed.join("point_cloud.ply")).unwrap();
    assert!(
        resumed == reference,
        "resumed model differs from the uninterrupted one"
    );
    let m = std::fs::read_to_string(killed.join("metrics.jsonl")).unwrap();
    // The resumed run logs the same losses at the same steps as the uninterrupted one.
    let losses = |text: &str| -> Vec<(u64, f64)> {
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter_map(|v| Some((v["step"].as_u64()?, v["loss"].as_f64()?)))
            .collect()
    };
    assert_eq!(losses(&m), losses(&metrics));
    assert_eq!(losses(&m).len(), 150, "one loss per step in a 150-step run");
    // Training time carries on from the checkpoint instead of starting again at zero.
    let elapsed: Vec<f64> = m
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["elapsed_s"].as_f64())
        .collect();
    assert!(
        elapsed.windows(2).all(|w| w[0] <= w[1]),
        "elapsed_s went back after the resume: {elapsed:?}"
    );
}

#[test]
fn a_corrupt_newest_checkpoint_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 4, 32, 24, 200);
    let out = dir.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "train",
            ws.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--steps",
            "30",
            "--checkpoint-every",
            "10",
        ];
        args.extend_from_slice(extra);
        splat(&args)
    };
    let o = run(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let newest = out.join("checkpoints/step_000020.ckpt");
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();
    let o = run(&["--resume"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("step_000020.ckpt") && err.contains("truncated"),
        "{err}"
    );
    assert!(err.contains("step_000010.ckpt"), "{err}");
}

#[test]
fn a_resume_with_other_settings_is_refused_saying_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 9, 48, 36, 800);
    let out = dir.path().join("out");
    let base = [
        "--steps",
        "20",
        "--eval-every",
        "0",
        "--checkpoint-every",
        "10",
    ];
    let o = train(&ws, &out, &base);
    assert!(o.status.success(), "{}", text(&o));
    // progress.json beside the checkpoints (what SageMaker uploads live) says where it got.
    let progress = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join("checkpoints/progress.json")).unwrap())
            .unwrap()
    };
    let p = progress();
    assert_eq!(
        (p["stage"].as_str(), p["status"].as_str()),
        (Some("train"), Some("done")),
        "{p}"
    );
    assert_eq!(
        (p["step"].as_u64(), p["total"].as_u64()),
        (Some(20), Some(20)),
        "{p}"
    );
    assert!(p["test_psnr"].as_f64().is_some_and(|v| v > 5.0), "{p}");
    // Other learning rate and more steps: refused, naming both, and nothing is overwritten.
    let model = std::fs::read(out.join("point_cloud.ply")).unwrap();
    let mut other = base.to_vec();
    other[1] = "30";
    other.extend(["--lr-opacity", "0.02", "--resume"]);
    let o = train(&ws, &out, &other);
    assert!(!o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("other settings"), "{t}");
    assert!(t.contains("lr_opacity: 0.05") && t.contains("0.02"), "{t}");
    assert!(t.contains("steps: 20 → 30"), "{t}");
    assert_eq!(std::fs::read(out.join("point_cloud.ply")).unwrap(), model);
    let p = progress();
    assert_eq!(p["status"].as_str(), Some("failed"), "{p}");
    assert!(
        p["message"]
            .as_str()
            .unwrap_or_default()
            .contains("other settings"),
        "{p}"
    );
    // Other data (one view fewer): refused too.
    let fewer = dir.path().join("fewer");
    let ws2 = built_in(&fewer, 8, 48, 36, 800);
    let mut same = base.to_vec();
    same.push("--resume");
    let o = train(&ws2, &out, &same);
    assert!(
        !o.status.success() && text(&o).contains("data:"),
        "{}",
        text(&o)
    );
    // The same settings resume.
    let o = train(&ws, &out, &same);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("resuming from"), "{}", text(&o));
}

/// Issue 26: `--sog-aware` trains with the SOG grid's neighbour loss from where densification
/// ends (the schedule line says so), writes the model in its grid's order, and `splat compress`
/// then refines that arrangement instead of starting from the Morton order; `--palette-size`
/// sets the palette.
#[test]
fn sog_aware_training_writes_its_grid_order_and_compress_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 9, 48, 36, 800);
    let out = dir.path().join("aware");
    let o = train(
        &ws,
        &out,
        &[
            "--steps",
            "60",
            "--densify-until",
            "40",
            "--sog-aware",
            "--sog-aware-every",
            "10",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("compression-aware from step 40, sorted every 10 steps"),
        "{err}"
    );
    let model = out.join("point_cloud.ply");
    let sog = dir.path().join("aware.sog");
    let report = dir.path().join("report.json");
    let o = splat(&[
        "compress",
        model.to_str().unwrap(),
        "-o",
        sog.to_str().unwrap(),
        "--palette-size",
        "64",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["order"]["started_from_input"], true, "{r}");
    assert!(
        r["order"]["neighbour_distance_input"].as_f64().unwrap()
            < r["order"]["neighbour_distance_morton"].as_f64().unwrap()
    );
    assert_eq!(r["palette_size"], 64);
    // A plain run's model is in no such order.
    let plain = dir.path().join("plain");
    let o = train(&ws, &plain, &["--steps", "60", "--densify-until", "40"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = splat(&[
        "compress",
        plain.join("point_cloud.ply").to_str().unwrap(),
        "-o",
        dir.path().join("plain.sog").to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["order"]["started_from_input"], false, "{r}");
}

/// `--test-every 0` trains on every photo and says the scores are on training views;
/// `--test-every N` holds out every N-th photo by name.
#[test]
fn test_every_chooses_the_held_out_photos() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 9, 32, 24, 300);
    let eval = |name: &str, every: &str| {
        let out = dir.path().join(name);
        let o = train(&ws, &out, &["--steps", "5", "--test-every", every]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let eval: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
        (eval, String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (all, log) = eval("all", "0");
    assert_eq!(all["held_out"], false, "{all}");
    assert!(log.contains("on 9 views (0 test)"), "{log}");
    let (third, log) = eval("third", "3");
    assert_eq!(third["held_out"], true);
    assert!(log.contains("on 6 views (3 test)"), "{log}");
    let names = |e: &serde_json::Value| -> Vec<String> {
        e["views"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["image"].as_str().unwrap().to_string())
            .collect()
    };
    // Without a held-out set the scores are on the training views: all nine.
    let mut every = names(&all);
    every.sort();
    assert_eq!(every.len(), 9, "{all}");
    let held: Vec<String> = every.iter().step_by(3).cloned().collect();
    assert_eq!(names(&third), held, "{third}");
}

/// `--init PLY` starts from a given model: a trained one goes on from its own quality (its
/// Gaussians, not the SfM points), a model of lower SH degree is padded, the starting model is
/// part of what a resume must match, and a missing or broken file is an error naming it.
#[test]
fn init_starts_from_a_given_model() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 9, 48, 36, 800);
    let first = dir.path().join("first");
    let o = train(&ws, &first, &["--steps", "150", "--sh-degree", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |out: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap()
    };
    let trained = read(&first);
    let model = first.join("point_cloud.ply");
    let count = splat_scene::ply::read_ply(&model).unwrap().len();

    let from_model = dir.path().join("from-model");
    // Two steps, so that the first leaves a checkpoint (none is written at the last step).
    let fixed = [
        "--steps",
        "2",
        "--strategy",
        "fixed",
        "--checkpoint-every",
        "1",
    ];
    let with_init = |out: &Path, init: &Path| {
        let mut args = fixed.to_vec();
        args.extend(["--init", init.to_str().unwrap()]);
        train(&ws, out, &args)
    };
    let o = with_init(&from_model, &model);
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains(&format!("starting from {count} Gaussians of")),
        "{log}"
    );
    let cloud = splat_scene::ply::read_ply(&from_model.join("point_cloud.ply")).unwrap();
    assert_eq!(cloud.len(), count);
    assert_eq!(cloud.sh_degree, 3, "padded to the run's --sh-degree");
    let psnr = |e: &serde_json::Value| e["test_psnr"].as_f64().unwrap();
    let scratch = dir.path().join("scratch");
    let o = train(&ws, &scratch, &fixed);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        (psnr(&read(&from_model)) - psnr(&trained)).abs() < 1.0
            && psnr(&read(&from_model)) > psnr(&read(&scratch)) + 3.0,
        "after two steps from the trained model {}, trained {}, from scratch {}",
        read(&from_model),
        trained,
        read(&scratch)
    );

    // A resume with another starting model is refused, saying so.
    let other = dir.path().join("other.ply");
    std::fs::copy(from_model.join("point_cloud.ply"), &other).unwrap();
    let mut args = fixed.to_vec();
    args.extend(["--init", other.to_str().unwrap(), "--resume"]);
    let o = train(&ws, &from_model, &args);
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("init"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    for bad in [dir.path().join("missing.ply"), {
        let p = dir.path().join("broken.ply");
        std::fs::write(&p, b"ply\nformat ascii 1.0\nelement vertex 3\n").unwrap();
        p
    }] {
        let o = with_init(&dir.path().join("bad"), &bad);
        assert!(!o.status.success());
        let name = bad.file_name().unwrap().to_str().unwrap();
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(name),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// Ctrl-C (SIGINT) during training writes a checkpoint at the step under way, says where and
/// how to continue, and exits non-zero.
#[test]
fn an_interrupt_during_training_checkpoints_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 12, 160, 120, 500);
    let out = dir.path().join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_splat"))
        .args([
            "train",
            ws.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--steps",
            "1000000",
            "--resolution",
            "40",
            "--eval-every",
            "0",
            "--checkpoint-every",
            "0",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The progress file appears once the loop has started.
    common::interrupt_when_written(&mut child, &out.join("checkpoints/progress.json"));
    let o = child.wait_with_output().unwrap();
    let t = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{t}");
    let step: u32 = t
        .split("interrupted at step ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no step in {t}"));
    assert!(t.contains("continue with --resume"), "{t}");
    let checkpoint = out.join(format!("checkpoints/step_{step:06}.ckpt"));
    assert!(
        checkpoint.is_file(),
        "{} missing: {t}",
        checkpoint.display()
    );
    assert!(!out.join("point_cloud.ply").exists());
}

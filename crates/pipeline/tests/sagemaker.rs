//! `splat sagemaker STAGE` against a temporary root laid out as SageMaker lays out `/opt/ml`:
//! a training job (hyperparameters, channels, model, checkpoints, metric lines), processing jobs
//! (sfm from photos, the whole run, compress from a training job's model.tar.gz), failures (bad hyperparameter,
//! empty channel, no model) with the reason in the file SageMaker reads, and a managed-spot
//! restart (killed during training, started again, finished from the checkpoint bit for bit).

mod common;

use common::{built_in, kill_when_written, text};
use std::path::{Path, PathBuf};
use std::process::Output;

/// `splat sagemaker ARGS…` with `root` as `/opt/ml`.
fn sagemaker(root: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_splat"))
        .arg("sagemaker")
        .args(args)
        .env("SPLAT_SAGEMAKER_ROOT", root)
        // The tests' GPU is lavapipe, a CPU device, which a real job refuses.
        .env("SPLAT_ALLOW_CPU_DEVICE", "1")
        .output()
        .expect("running splat")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A training job's root: the config files SageMaker writes and the `training` channel.
fn training_root(dir: &Path, name: &str, ws: &Path, hyperparameters: &str) -> PathBuf {
    let root = dir.join(name);
    let config = root.join("input/config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("hyperparameters.json"), hyperparameters).unwrap();
    std::fs::write(
        config.join("inputdataconfig.json"),
        r#"{"training": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}}"#,
    )
    .unwrap();
    copy_dir(ws, &root.join("input/data/training"));
    root
}

// Values as SageMaker writes them: strings, some JSON-encoded by the SDK ("\"3\"").
const SPOT_RUN: &str = r#"{"steps": "90", "seed": "\"3\"", "eval_every": "0", "checkpoint-every": "30",
    "densify-from": "10", "densify-every": "20", "densify-until": "80", "sh_interval": "30"}"#;

#[test]
fn training_job_writes_the_model_and_metric_lines_and_resumes_after_a_spot_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 8, 48, 36, 600);

    // Uninterrupted.
    let whole = training_root(dir.path(), "whole", &ws, SPOT_RUN);
    let o = sagemaker(&whole, &["train"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.lines().any(|l| l.starts_with("step=90 loss=")),
        "no metric line for step 90: {stdout}"
    );
    for f in [
        "point_cloud.ply",
        "eval.json",
        "metrics.jsonl",
        "curves.png",
    ] {
        assert!(whole.join("model").join(f).is_file(), "model/{f} missing");
    }
    assert!(whole.join("checkpoints").read_dir().unwrap().count() > 0);
    assert!(!whole.join("output/failure").exists());
    let reference = std::fs::read(whole.join("model/point_cloud.ply")).unwrap();

    // Spot: killed once the step-60 checkpoint is written, restarted on a fresh instance (empty
    // model/, the checkpoints/ folder restored from S3), finishes from the checkpoint.
    let spot = training_root(dir.path(), "spot", &ws, SPOT_RUN);
    let root: &Path = &spot;
    kill_when_written(
        &["sagemaker".to_string(), "train".to_string()],
        &[
            ("SPLAT_SAGEMAKER_ROOT", root),
            ("SPLAT_ALLOW_CPU_DEVICE", Path::new("1")),
        ],
        &spot.join("checkpoints/step_000060.ckpt"),
    );
    assert!(!spot.join("model/point_cloud.ply").exists());
    std::fs::remove_dir_all(spot.join("model")).unwrap();
    let o = sagemaker(&spot, &["train"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("resuming from"), "{t}");
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(spot.join("model/eval.json")).unwrap())
            .unwrap();
    assert_eq!(eval["resumed_from_step"], 60, "{eval}");
    assert!(
        std::fs::read(spot.join("model/point_cloud.ply")).unwrap() == reference,
        "the restarted job's model differs from the uninterrupted one"
    );
}

#[test]
fn training_job_failures_are_reported_in_output_failure() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 4, 32, 24, 200);
    let cases = [
        (
            "unknown",
            r#"{"steps": "10", "stepz": "3", "learning_rate": "0.1"}"#,
            "learning_rate, stepz",
        ),
        ("not-a-string", r#"{"steps": 10}"#, "not a string"),
        ("bad-value", r#"{"steps": "ten"}"#, "ten"),
        ("reserved", r#"{"output": "/tmp"}"#, "output"),
    ];
    for (name, hp, expected) in cases {
        let root = training_root(dir.path(), name, &ws, hp);
        let o = sagemaker(&root, &["train"]);
        assert!(!o.status.success(), "{name}: {}", text(&o));
        let failure = std::fs::read_to_string(root.join("output/failure"))
            .unwrap_or_else(|_| panic!("{name}: no output/failure"));
        assert!(failure.contains(expected), "{name}: {failure}");
        assert!(!root.join("model/point_cloud.ply").exists());
    }

    // An empty channel.
    let root = training_root(dir.path(), "empty", &ws, r#"{"steps": "10"}"#);
    std::fs::remove_dir_all(root.join("input/data/training")).unwrap();
    std::fs::create_dir_all(root.join("input/data/training")).unwrap();
    let o = sagemaker(&root, &["train"]);
    assert!(!o.status.success());
    let failure = std::fs::read_to_string(root.join("output/failure")).unwrap();
    assert!(
        failure.contains("channel 'training'") && failure.contains("empty"),
        "{failure}"
    );

    // The channel found through SM_CHANNEL_TRAINING, under another name.
    let root = training_root(
        dir.path(),
        "env",
        &ws,
        r#"{"steps": "5", "eval-every": "0"}"#,
    );
    let elsewhere = dir.path().join("elsewhere");
    std::fs::rename(root.join("input/data/training"), &elsewhere).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_splat"))
        .args(["sagemaker", "train"])
        .env("SPLAT_SAGEMAKER_ROOT", &root)
        .env("SPLAT_ALLOW_CPU_DEVICE", "1")
        .env("SM_CHANNEL_TRAINING", &elsewhere)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(root.join("model/point_cloud.ply").is_file());
}

#[test]
fn the_first_job_refuses_an_option_of_a_later_stage_before_it_starts_work() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ml");
    let images = root.join("processing/input/images");
    std::fs::create_dir_all(&images).unwrap();
    for (options, named) in [
        (r#"{"train": {"stepz": "10"}}"#, "stepz"),
        (r#"{"compress": {"sh-bands": "seven"}}"#, "seven"),
        (r#"{"train": {"steps": 10}}"#, "not a string"),
    ] {
        let o = sagemaker(&root, &["sfm", "--options", options]);
        assert!(!o.status.success(), "{options}: {}", text(&o));
        let message = std::fs::read_to_string(root.join("output/message")).unwrap();
        assert!(message.contains(named), "{options}: {message}");
        // Refused before any work: no photo was looked at, nothing written but the reason.
        assert!(
            !text(&o).contains("sagemaker sfm: input"),
            "{options}: {}",
            text(&o)
        );
        let progress =
            std::fs::read_to_string(root.join("processing/output/progress/progress.json")).unwrap();
        assert!(progress.contains("\"failed\""), "{progress}");
        assert!(progress.contains(named), "{progress}");
    }
}

#[test]
fn processing_jobs_run_sfm_the_whole_run_and_compress_a_model_tar_gz() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 32, 400, 300, 300);
    let root = dir.path().join("ml");
    copy_dir(&ws.join("images"), &root.join("processing/input/images"));
    // The options as the state machine passes them: every stage's, as one JSON argument.
    let o = sagemaker(
        &root,
        &[
            "sfm",
            "--options",
            r#"{"sfm": {"matcher": "sequential", "overlap": "4"}, "train": {"steps": "10"}, "compress": {}}"#,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    // progress.json in the folder the state machine uploads continuously, ended "done".
    let progress: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("processing/output/progress/progress.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(progress["stage"], "sfm", "{progress}");
    assert_eq!(progress["status"], "done", "{progress}");
    let out = root.join("processing/output/sfm");
    let rec = splat_scene::colmap::read_model(&out.join("sparse/0")).unwrap();
    assert_eq!(rec.images.len(), 32);
    assert!(out.join("images").read_dir().unwrap().count() == 32);

    // run: every stage in one processing job, stage options as container arguments.
    let o = sagemaker(
        &root,
        &[
            "run",
            "--sfm.matcher",
            "sequential",
            "--sfm.overlap",
            "4",
            "--train.steps",
            "10",
            "--train.resolution",
            "32",
            "--train.eval-every",
            "0",
            "--compress.iterations",
            "2",
            "--compress.fine-tune-steps",
            "20",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let run = root.join("processing/output/run");
    for f in [
        "sparse/0/images.bin",
        "point_cloud.ply",
        "scene.sog",
        "report.json",
    ] {
        assert!(run.join(f).is_file(), "processing/output/run/{f} missing");
    }

    // compress: the input is what a training job uploads, model.tar.gz with point_cloud.ply.
    let cloud = splat_datasets::surface_cloud(
        &splat_datasets::generate(
            &splat_datasets::SceneSpec {
                views: 2,
                width: 32,
                height: 24,
                ..Default::default()
            },
            &dir.path().join("tiny"),
        )
        .unwrap(),
        3000,
        1,
    );
    let model = dir.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    splat_scene::ply::write_ply(&model.join("point_cloud.ply"), &cloud).unwrap();
    std::fs::write(model.join("eval.json"), "{}").unwrap();
    let input = root.join("processing/input/model");
    std::fs::create_dir_all(&input).unwrap();
    let tgz = std::fs::File::create(input.join("model.tar.gz")).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        tgz,
        flate2::Compression::default(),
    ));
    tar.append_dir_all(".", &model).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let o = sagemaker(&root, &["compress", "--compress.iterations", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    let sog = root.join("processing/output/compress/scene.sog");
    assert_eq!(splat_sogs::read_sog(&sog).unwrap().len(), 3000);
    assert!(
        root.join("processing/output/compress/compress-report.json")
            .is_file()
    );

    // With the workspace sfm wrote as a second input (what the state machine passes), the
    // model is compacted on its training views, as `splat run` does.
    let workspace = root.join("processing/input/workspace");
    copy_dir(&run.join("sparse"), &workspace.join("sparse"));
    copy_dir(&run.join("images"), &workspace.join("images"));
    let trained = run.join("point_cloud.ply");
    let o = sagemaker(
        &root,
        &[
            "compress",
            "--input",
            trained.to_str().unwrap(),
            "--options",
            r#"{"train": {"resolution": "32"}, "compress": {"iterations": "2", "fine-tune-steps": "20"}}"#,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("processing/output/compress/compress-report.json"))
            .unwrap(),
    )
    .unwrap();
    let compaction = &report["compaction"];
    let given = splat_scene::ply::read_ply(&trained).unwrap().len();
    assert_eq!(
        compaction["gaussians_before"].as_u64(),
        Some(given as u64),
        "{report}"
    );
    assert_eq!(
        compaction["gaussians_after"].as_u64(),
        Some(splat_sogs::read_sog(&sog).unwrap().len() as u64)
    );

    // No model in the input: the reason goes to output/message.
    let o = sagemaker(
        &root,
        &[
            "compress",
            "--input",
            dir.path().join("tiny/images").to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    let message = std::fs::read_to_string(root.join("output/message")).unwrap();
    assert!(message.contains("no point_cloud.ply"), "{message}");
}

#[test]
fn a_training_job_that_finds_only_a_cpu_device_fails_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("opt_ml");
    let ws = built_in(dir.path(), 9, 48, 36, 500);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_splat"))
        .args(["sagemaker", "train"])
        .env("SPLAT_SAGEMAKER_ROOT", &root)
        .env("SM_CHANNEL_TRAINING", &ws)
        .env_remove("SPLAT_ALLOW_CPU_DEVICE")
        .env("SPLAT_ADAPTER", "llvmpipe")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let failure = std::fs::read_to_string(root.join("output/failure")).unwrap();
    assert!(
        failure.contains("only a CPU Vulkan device") && failure.contains("SPLAT_ALLOW_CPU_DEVICE"),
        "{failure}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("sagemaker: GPU"));
}

//! SageMaker's job files, `input/config/hyperparameters.json` and `inputdataconfig.json`, as the
//! container's entry point (`splat sagemaker train`) reads them: a failure is written to
//! `output/failure` naming the file, never a panic.

use crate::{Outcome, Seed, cases, fuzz, named};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn seeds() -> Vec<Seed> {
    let hyper = br#"{"steps": "300", "resolution": "\"64\"", "strategy": "mcmc", "max-gaussians": "5000", "sagemaker_program": "train"}"#;
    let config = br#"{"training": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}}"#;
    vec![Seed {
        files: vec![
            ("input/config/hyperparameters.json".into(), hyper.to_vec()),
            ("input/config/inputdataconfig.json".into(), config.to_vec()),
            // Not a data set: a job whose files are read goes on to fail at loading it.
            (
                PathBuf::from("input/data/training/notes.txt"),
                b"no model here".to_vec(),
            ),
        ],
        targets: vec![0, 0, 1],
    }]
}

/// The job must fail (there is no data set); how it fails says whether its files were taken.
fn check(dir: &Path) -> Result<Outcome, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_splat"))
        .args(["sagemaker", "train"])
        .env("SPLAT_SAGEMAKER_ROOT", dir)
        // Past the GPU check (the tests' device is lavapipe), so that the job gets to its data.
        .env("SPLAT_ALLOW_CPU_DEVICE", "1")
        .env_remove("SM_CHANNEL_TRAINING")
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(101) || stderr.contains("panicked") {
        return Err(format!("panicked: {stderr}"));
    }
    if out.status.success() {
        return Err("a job without data succeeded".into());
    }
    let failure = std::fs::read_to_string(dir.join("output/failure"))
        .map_err(|e| format!("no output/failure ({e}); stderr: {stderr}"))?;
    if failure.contains("hyperparameters.json") || failure.contains("inputdataconfig.json") {
        return named(&failure, &["hyperparameters.json", "inputdataconfig.json"]);
    }
    if failure.contains("channel") || failure.contains("training") {
        // Both files were taken; the job failed later, at the data (a channel renamed by the
        // mutation is looked for, and found empty).
        return Ok(Outcome::Accepted);
    }
    Err(format!("failed for another reason: {failure}"))
}

#[test]
fn sagemaker_job_files() {
    fuzz("SageMaker job files", seeds(), cases(200), Arc::new(check));
}

#[test]
#[ignore = "the long run: 5,000 cases (each starts the binary)"]
fn sagemaker_long_run() {
    fuzz(
        "SageMaker job files (long)",
        seeds(),
        cases(5_000),
        Arc::new(check),
    );
}

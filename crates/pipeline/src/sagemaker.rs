//! `splat sagemaker STAGE`: the container's entry point, honouring SageMaker's contract under
//! a root that is `/opt/ml` in a job and `SPLAT_SAGEMAKER_ROOT` in tests.
//!
//! - Training job (`train`; SageMaker starts the image with the argument `train`):
//!   hyperparameters from `input/config/hyperparameters.json` (every value a JSON string, decoded
//!   once more when it is itself JSON-encoded as the SDK's framework estimators write it; each key
//!   is a `splat train` option, `-` or `_` alike; switches take "true"/"false"; unknown keys are
//!   an error naming them; keys starting with `sagemaker_` are SageMaker's own and ignored), the
//!   data from the `training` channel (or the only one: `input/config/inputdataconfig.json`,
//!   `SM_CHANNEL_<NAME>` when set), the model to `model/`, checkpoints in `checkpoints/` (resumed
//!   after a managed-spot restart), `step=… loss=… psnr=…` lines for metric definitions, and on
//!   failure the reason in `output/failure` with a non-zero exit.
//! - Processing jobs (`sfm`, `compress`, `run`): input under `processing/input/…`, output under
//!   `processing/output/…` (flags override both), stage options as container arguments
//!   (`--sfm.X`, `--compress.X`, `--train.X`, or all at once as `--options JSON`, the form the
//!   state machine passes), and on failure the reason in `output/message`. Every processing
//!   job checks the options of every stage before it starts work, so the first job of a run
//!   (sfm) fails at once on an option a later stage would refuse.
//! - Every processing job rewrites `processing/output/progress/progress.json` as it works
//!   (the state machine uploads that folder continuously); training jobs write theirs beside
//!   the checkpoints.

use crate::progress_file::{self, ProgressFile};
use crate::stage_options::{self, StageOption, StageOptions};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// Processing job: photos → COLMAP workspace.
    Sfm,
    /// Training job: COLMAP workspace (or transforms folder) → model.
    Train,
    /// Processing job: model (PLY, or SageMaker's model.tar.gz) → scene.sog.
    Compress,
    /// Processing job: photos → every stage (`splat run`).
    Run,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Self::Sfm => "sfm",
            Self::Train => "train",
            Self::Compress => "compress",
            Self::Run => "run",
        }
    }
}

#[derive(clap::Args)]
pub struct SagemakerArgs {
    #[arg(value_enum)]
    stage: Stage,
    /// Processing input (default: ROOT/processing/input/images for sfm and run,
    /// ROOT/processing/input/model for compress).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Processing output (default: ROOT/processing/output/<stage>).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Every stage's options as one JSON object, `{"sfm": {NAME: "VALUE"}, "train": {…},
    /// "compress": {…}}` (names are the stages' long options, `-` or `_` alike; switches
    /// "true"/"false"). Added to any `--STAGE.NAME` options.
    #[arg(long, value_name = "JSON")]
    options: Option<String>,
    #[arg(skip)]
    pub stages: StageOptions,
}

/// `/opt/ml`, or `SPLAT_SAGEMAKER_ROOT`.
fn root() -> PathBuf {
    std::env::var_os("SPLAT_SAGEMAKER_ROOT").map_or_else(|| PathBuf::from("/opt/ml"), PathBuf::from)
}

pub fn run(a: SagemakerArgs) -> Result<()> {
    let root = root();
    let result = match a.stage {
        Stage::Train => train(&root),
        _ => {
            let mirror = root.join("processing/output/progress/progress.json");
            progress_file::mirror_to(mirror.clone());
            let r = process(&a, &root);
            let stage = a.stage.name();
            let mut end = ProgressFile::new(mirror, stage);
            end.finish(r.as_ref().err().map(|e| format!("{e:#}")).as_deref());
            r
        }
    };
    if let Err(e) = &result {
        // Training jobs report `output/failure`, processing jobs `output/message` (first 1 KB shown).
        let name = if a.stage == Stage::Train {
            "failure"
        } else {
            "message"
        };
        let path = root.join("output").join(name);
        let text = format!("{e:#}\n");
        let written = std::fs::create_dir_all(root.join("output"))
            .and_then(|()| std::fs::write(&path, text.as_bytes()));
        if let Err(w) = written {
            eprintln!("could not write {}: {w}", path.display());
        }
    }
    result
}

/// Logs the GPU a job trains on. A CPU device only (lavapipe: the NVIDIA driver's Vulkan ICD is
/// not visible in the container) fails the job at once, since training there would take a
/// hundred times the paid-for GPU time, unless `SPLAT_ALLOW_CPU_DEVICE=1` says to go on.
fn gpu_or_refusal() -> Result<()> {
    let ctx = splat_gpu::GpuContext::new().context("no GPU adapter: the job cannot train")?;
    let info = &ctx.info;
    eprintln!(
        "sagemaker: GPU {} ({:?}, {:?})",
        info.name, info.device_type, info.backend
    );
    let allowed = std::env::var("SPLAT_ALLOW_CPU_DEVICE").is_ok_and(|v| v == "1");
    if ctx.is_cpu() && !allowed {
        anyhow::bail!(
            "only a CPU Vulkan device ({}) is available: the NVIDIA driver's Vulkan ICD is not visible in the container (the job's NVIDIA_DRIVER_CAPABILITIES must include graphics; see docker/README.md). Set SPLAT_ALLOW_CPU_DEVICE=1 in the job's environment to run on the CPU anyway",
            info.name
        );
    }
    Ok(())
}

fn train(root: &Path) -> Result<()> {
    let options = hyperparameters(&root.join("input/config/hyperparameters.json"))?;
    let data = channel(root)?;
    let mut args = crate::run::stage_args("train", &data, &root.join("model"), true);
    args.extend([
        "--checkpoint-dir".into(),
        root.join("checkpoints").display().to_string(),
    ]);
    args.extend(stage_options::words(&options));
    let train_args = stage_options::parse("train", &args)
        .context("input/config/hyperparameters.json: a value is not valid for `splat train`")?;
    eprintln!(
        "sagemaker train: data {}, model → {}, checkpoints in {}",
        data.display(),
        root.join("model").display(),
        root.join("checkpoints").display()
    );
    // After the job's files are checked (a bad one fails first, and cheaply).
    gpu_or_refusal()?;
    crate::train::run(train_args)
}

/// The train options of a hyperparameters file (absent: none).
fn hyperparameters(path: &Path) -> Result<Vec<StageOption>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let Some(map) = json.as_object() else {
        bail!("{}: not a JSON object", path.display());
    };
    let mut pairs = Vec::new();
    for (key, value) in map {
        if key.starts_with("sagemaker_") {
            continue;
        }
        let Some(v) = value.as_str() else {
            bail!(
                "{}: the value of '{key}' is {value}, not a string (SageMaker passes every hyperparameter as a string)",
                path.display()
            );
        };
        // The SageMaker SDK's framework estimators JSON-encode each value ("\"mcmc\""); take the
        // string inside when there is one.
        let v = serde_json::from_str::<String>(v).unwrap_or_else(|_| v.to_string());
        pairs.push((key.clone(), v));
    }
    stage_options::from_pairs("train", &pairs).with_context(|| path.display().to_string())
}

/// The training data folder: the `training` channel, or the only channel there is.
fn channel(root: &Path) -> Result<PathBuf> {
    let config = root.join("input/config/inputdataconfig.json");
    let names: Vec<String> = match std::fs::read_to_string(&config) {
        Ok(text) => {
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", config.display()))?;
            v.as_object()
                .with_context(|| format!("{}: not a JSON object", config.display()))?
                .keys()
                .cloned()
                .collect()
        }
        Err(_) => vec!["training".into()],
    };
    let name = if names.iter().any(|n| n == "training") {
        "training".to_string()
    } else if let [only] = names.as_slice() {
        only.clone()
    } else {
        bail!(
            "{}: no 'training' channel among {:?}; name the data channel 'training'",
            config.display(),
            names
        );
    };
    let env = format!("SM_CHANNEL_{}", name.to_uppercase().replace('-', "_"));
    let dir =
        std::env::var_os(&env).map_or_else(|| root.join("input/data").join(&name), PathBuf::from);
    let empty = std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_none());
    if empty {
        bail!(
            "channel '{name}' ({}) is empty or missing: it must hold a COLMAP workspace (images/ + sparse/0, e.g. the sfm job's output) or a transforms_*.json folder",
            dir.display()
        );
    }
    Ok(dir)
}

fn process(a: &SagemakerArgs, root: &Path) -> Result<()> {
    let mut stages = a.stages.clone();
    if let Some(json) = &a.options {
        let given = stage_options::from_json(json).context("--options")?;
        for stage in stage_options::STAGES {
            stages = stages.with_options(stage, given.of(stage));
        }
    }
    stage_options::check(&stages).context("the run's stage options")?;
    let name = a.stage.name();
    let input_default = if a.stage == Stage::Compress {
        "model"
    } else {
        "images"
    };
    let input = a
        .input
        .clone()
        .unwrap_or_else(|| root.join("processing/input").join(input_default));
    let output = a
        .output
        .clone()
        .unwrap_or_else(|| root.join("processing/output").join(name));
    std::fs::create_dir_all(&output).with_context(|| format!("creating {}", output.display()))?;
    eprintln!(
        "sagemaker {name}: input {}, output {}",
        input.display(),
        output.display()
    );
    match a.stage {
        Stage::Sfm => {
            let mut args = crate::run::stage_args("sfm", &input, &output, false);
            args.extend(stage_options::words(stages.of("sfm")));
            crate::run::invoke("sfm", &args, true)
        }
        Stage::Compress => {
            let (model, temporary) = find_model(&input)?;
            // With the workspace sfm wrote beside the model, the model is compacted on its
            // training views, as `splat run` does (on the GPU: refuse a CPU device first).
            let workspace = root.join("processing/input/workspace");
            if workspace.is_dir() {
                stages = crate::run::compaction_defaults(&stages, &workspace);
            }
            if compacts(stages.of("compress")) {
                gpu_or_refusal()?;
            }
            let mut args = crate::run::stage_args("compress", &model, &output, false);
            args.extend(stage_options::words(stages.of("compress")));
            let r = crate::run::invoke("compress", &args, true);
            if temporary {
                let _ = std::fs::remove_file(&model);
            }
            r
        }
        _ => {
            gpu_or_refusal()?;
            let report = crate::run::run_pipeline(&input, &output, &stages, false)?;
            crate::run::print_summary(&report, &output);
            Ok(())
        }
    }
}

/// Whether compress options make `splat compress` compact the model (`--views` without
/// `--no-compact`).
fn compacts(options: &[stage_options::StageOption]) -> bool {
    let has = |name: &str| options.iter().any(|o| o.name == name);
    has("views") && !has("no-compact")
}

/// The PLY in a processing input: the file itself, `point_cloud.ply` (or the only PLY) in the
/// folder, or `point_cloud.ply` inside a `model.tar.gz` (a training job's model artefact),
/// extracted to a temporary file (`true`: delete it afterwards).
fn find_model(input: &Path) -> Result<(PathBuf, bool)> {
    if input.is_file() && input.extension().is_some_and(|e| e == "ply") {
        return Ok((input.to_path_buf(), false));
    }
    if input.is_file() {
        return Ok((extract_ply(input)?, true));
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(input)
        .with_context(|| format!("{}: no model input", input.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    let named = |n: &str| {
        entries
            .iter()
            .find(|p| p.file_name().is_some_and(|f| f == n))
    };
    if let Some(p) = named("point_cloud.ply") {
        return Ok((p.clone(), false));
    }
    let plys: Vec<&PathBuf> = entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "ply"))
        .collect();
    if let [only] = plys.as_slice() {
        return Ok(((*only).clone(), false));
    }
    if let Some(p) = named("model.tar.gz") {
        return Ok((extract_ply(p)?, true));
    }
    bail!(
        "{}: no point_cloud.ply, single .ply or model.tar.gz in it",
        input.display()
    )
}

/// Extracts `point_cloud.ply` from a gzipped tar to a temporary file.
fn extract_ply(archive: &Path) -> Result<PathBuf> {
    let file =
        std::fs::File::open(archive).with_context(|| format!("reading {}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = tar
        .entries()
        .with_context(|| format!("{}: not a .tar.gz", archive.display()))?;
    for entry in entries {
        let mut entry = entry.with_context(|| format!("{}: damaged archive", archive.display()))?;
        let path = entry.path()?.into_owned();
        if path.file_name().is_some_and(|f| f == "point_cloud.ply") {
            let out = std::env::temp_dir().join(format!(
                "splat-model-{}-{}.ply",
                std::process::id(),
                crate::done::now_unix_s()
            ));
            entry.unpack(&out).with_context(|| {
                format!("extracting point_cloud.ply from {}", archive.display())
            })?;
            return Ok(out);
        }
    }
    bail!("{}: has no point_cloud.ply", archive.display())
}

//! `splat run IMAGES -o W`: sfm → train → compress in one workspace. Each stage is reused when
//! its record (`W/<stage>.done.json`, see `done`) matches today's inputs and options and its
//! outputs are unchanged; a changed input or option reruns that stage, and the stages after it
//! rerun because their inputs (the earlier stage's outputs) changed. An interrupted stage resumes:
//! SfM from its finished matches, training from its newest checkpoint. `W/report.json` gathers
//! every stage's figures, time and peak memory.

use crate::done::{self, DoneRecord};
use crate::stage_options::{self, StageOptions};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

const AFTER_HELP: &str = "\
Stage options: --sfm.X, --train.X and --compress.X pass --X to that stage, with the meaning, \
default and checks it has in `splat sfm`, `splat train` and `splat compress` (see their --help), \
e.g. `--sfm.matcher sequential --train.steps 7000 --train.resolution 800 --compress.sh-bands 2`. \
Output folders, --resume and the compress report are set by `splat run`. Compression compacts the model on the run's own training views (`--compress.views W`, at training's resolution; within --compress.max-psnr-drop, 0.3 dB): `--compress.no-compact` compresses the model as trained.

W holds: database.db, sparse/0 and images/ (PINHOLE, undistorted), sfm-report.json; \
point_cloud.ply, eval.json, metrics.jsonl, curves.png, test_views.png, checkpoints/; scene.sog, \
compress-report.json; <stage>.done.json per finished stage and report.json.";

#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct RunArgs {
    /// Folder of photos (searched recursively).
    images: PathBuf,
    /// Workspace folder for every stage's outputs.
    #[arg(short, long)]
    output: PathBuf,
    /// Run every stage again even when its record says it is complete.
    #[arg(long)]
    force: bool,
    /// The stage options (`--sfm.X`, `--train.X`, `--compress.X`), taken out before clap parses.
    #[arg(skip)]
    pub stages: StageOptions,
}

/// What one stage consumes and produces, relative to its roots.
struct StageSpec {
    name: &'static str,
    /// Folder the input paths are relative to.
    input_root: PathBuf,
    inputs: &'static [&'static str],
    /// Outputs, relative to the workspace.
    outputs: &'static [&'static str],
}

fn specs(images: &Path, w: &Path) -> [StageSpec; 3] {
    [
        StageSpec {
            name: "sfm",
            input_root: images.to_path_buf(),
            inputs: &[""],
            outputs: &[
                "database.db",
                "match-report.json",
                "distorted",
                "sparse",
                "images",
                "sfm-report.json",
            ],
        },
        StageSpec {
            name: "train",
            input_root: w.to_path_buf(),
            inputs: &["sparse/0", "images"],
            outputs: &[
                "point_cloud.ply",
                "eval.json",
                "metrics.jsonl",
                "curves.png",
                "test_views.png",
            ],
        },
        StageSpec {
            name: "compress",
            input_root: w.to_path_buf(),
            inputs: &["point_cloud.ply"],
            outputs: &["scene.sog", "compress-report.json"],
        },
    ]
}

/// How a stage went in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ran,
    Resumed,
    Reused,
}

/// One stage's line of the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageReport {
    pub stage: String,
    pub status: Status,
    /// Time and peak resident memory of the run that made the outputs (an earlier one when reused).
    pub seconds: f64,
    pub peak_memory_bytes: u64,
    pub finished_unix_s: u64,
    pub figures: Value,
}

/// `W/report.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    pub splat_version: String,
    pub images: String,
    pub workspace: String,
    pub seconds: f64,
    pub stages: Vec<StageReport>,
}

/// Temporaries other than atomic writes': SQLite's database while matching, and its journal.
const STALE_TEMPORARIES: [&str; 2] = ["database.db.tmp", "database.db.tmp-journal"];

pub fn run(a: RunArgs) -> Result<()> {
    let report = run_pipeline(&a.images, &a.output, &a.stages, a.force)?;
    print_summary(&report, &a.output);
    Ok(())
}

/// Runs (or reuses) every stage and writes `W/report.json`.
pub fn run_pipeline(
    images: &Path,
    w: &Path,
    opts: &StageOptions,
    force: bool,
) -> Result<RunReport> {
    if !images.is_dir() {
        bail!("{}: not a folder of photos", images.display());
    }
    if let (Ok(photos), Some(work)) = (images.canonicalize(), absolute(w)) {
        if work.starts_with(&photos) {
            bail!(
                "{}: the workspace may not be inside the photo folder (its files would be taken for photos)",
                w.display()
            );
        }
        if photos == work.join("images") {
            bail!(
                "{}: the photos may not be the workspace's own images/ folder (sfm writes there)",
                images.display()
            );
        }
    }
    let opts = &compaction_defaults(opts, w);
    check_options(images, w, opts)?;
    std::fs::create_dir_all(w).with_context(|| format!("creating {}", w.display()))?;
    let _lock = lock_workspace(w)?;
    // A run killed mid-write leaves its temporaries (atomic writes, the database being built);
    // what they were becoming is redone or resumed below.
    let stale = splat_scene::remove_stale_temporaries(w, &STALE_TEMPORARIES)?;
    if !stale.is_empty() {
        eprintln!(
            "removed {} temporary file(s) an interrupted run left in {}",
            stale.len(),
            w.display()
        );
    }
    let start = Instant::now();
    let mut stages = Vec::new();
    for spec in specs(images, w) {
        let r = run_stage(&spec, images, w, opts, force)
            .with_context(|| format!("stage {} of `splat run`", spec.name))?;
        stages.push(r);
    }
    let report = RunReport {
        splat_version: env!("CARGO_PKG_VERSION").into(),
        images: images.display().to_string(),
        workspace: w.display().to_string(),
        seconds: start.elapsed().as_secs_f64(),
        stages,
    };
    splat_scene::write_atomic_bytes(&w.join("report.json"), &serde_json::to_vec_pretty(&report)?)?;
    Ok(report)
}

/// The compress stage compacts the model on the run's own training views (`--views W`), at
/// the resolution and background training used, unless told otherwise (`--compress.views`,
/// `--compress.no-compact`, ...).
pub fn compaction_defaults(opts: &StageOptions, w: &Path) -> StageOptions {
    let w = w.display().to_string();
    let mut defaults = vec![("views", Some(w.as_str()))];
    for shared in ["resolution", "background"] {
        if let Some(o) = opts.train.iter().find(|o| o.name == shared) {
            defaults.push((shared, o.value.as_deref()));
        }
    }
    opts.clone().with_defaults("compress", &defaults)
}

/// Holds `W/.splat-run.lock` for as long as the run lasts, so that a second `splat run` on the
/// same workspace stops at once instead of interleaving its writes (and sweeping this one's
/// temporaries). The operating system drops the lock when the process ends, however it ends.
fn lock_workspace(w: &Path) -> Result<std::fs::File> {
    let path = w.join(".splat-run.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "{}: another `splat run` is using this workspace; wait for it to end, or choose another -o",
            w.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// `path` made absolute through its nearest existing ancestor (symbolic links resolved there).
fn absolute(path: &Path) -> Option<PathBuf> {
    let mut rest = Vec::new();
    let mut p = path.to_path_buf();
    loop {
        if let Ok(c) = p.canonicalize() {
            return Some(rest.iter().rev().fold(c, |acc, n| acc.join(n)));
        }
        rest.push(p.file_name()?.to_os_string());
        p = match p.parent() {
            Some(q) if !q.as_os_str().is_empty() => q.to_path_buf(),
            _ => PathBuf::from("."),
        };
    }
}

fn run_stage(
    spec: &StageSpec,
    images: &Path,
    w: &Path,
    opts: &StageOptions,
    force: bool,
) -> Result<StageReport> {
    let options = stage_options::words(opts.of(spec.name));
    let inputs = done::digest_paths(&spec.input_root, spec.inputs)?;
    if inputs.is_empty() {
        bail!(
            "no input: nothing under {} ({})",
            spec.input_root.display(),
            spec.inputs.join(", ")
        );
    }
    let key = done::key(spec.name, &options, &inputs);
    if !force {
        match done::complete(w, spec.name, &key) {
            Ok(rec) => {
                eprintln!(
                    "{}: complete, reused (inputs, options and outputs unchanged since it finished)",
                    spec.name
                );
                return Ok(StageReport {
                    stage: spec.name.into(),
                    status: Status::Reused,
                    seconds: rec.seconds,
                    peak_memory_bytes: rec.peak_memory_bytes,
                    finished_unix_s: rec.finished_unix_s,
                    figures: figures(spec.name, w)?,
                });
            }
            Err(why) => eprintln!("{}: running ({why})", spec.name),
        }
    }
    let resumable = done::start(w, spec.name, &key)? && !force;
    let resume = resumable && can_resume(spec.name, w);
    if !resume {
        clear(spec, w)?;
    }
    let mut args = stage_args(spec.name, &stage_input(spec.name, images, w), w, resume);
    args.extend(options.iter().cloned());
    peak_rss::reset();
    let t = Instant::now();
    invoke(spec.name, &args, true)?;
    let seconds = t.elapsed().as_secs_f64();
    let rec = DoneRecord {
        stage: spec.name.into(),
        key,
        splat_version: env!("CARGO_PKG_VERSION").into(),
        options,
        inputs,
        outputs: done::digest_paths(w, spec.outputs)?,
        finished_unix_s: done::now_unix_s(),
        seconds,
        peak_memory_bytes: peak_rss::read(),
    };
    done::finish(w, &rec)?;
    Ok(StageReport {
        stage: spec.name.into(),
        status: if resume { Status::Resumed } else { Status::Ran },
        seconds,
        peak_memory_bytes: rec.peak_memory_bytes,
        finished_unix_s: rec.finished_unix_s,
        figures: figures(spec.name, w)?,
    })
}

/// Parses every stage's options before anything runs, so that a bad value in a late stage's
/// options fails at once rather than after hours of the earlier stages.
fn check_options(images: &Path, w: &Path, opts: &StageOptions) -> Result<()> {
    for stage in stage_options::STAGES {
        let mut args = stage_args(stage, &stage_input(stage, images, w), w, false);
        args.extend(stage_options::words(opts.of(stage)));
        invoke(stage, &args, false)?;
    }
    Ok(())
}

/// Parses a stage's command-line words with the stage's own options and, when `execute`, runs
/// it (as `splat sfm|train|compress` would).
pub fn invoke(stage: &str, args: &[String], execute: bool) -> Result<()> {
    match stage {
        "sfm" => {
            let a = stage_options::parse(stage, args)?;
            if execute { crate::sfm::run(a) } else { Ok(()) }
        }
        "train" => {
            let a = stage_options::parse(stage, args)?;
            if execute {
                crate::train::run(a)
            } else {
                Ok(())
            }
        }
        _ => {
            let a = stage_options::parse(stage, args)?;
            if execute {
                crate::compress::run_compress(a)
            } else {
                Ok(())
            }
        }
    }
}

/// Whether an interrupted stage left work it can continue from.
fn can_resume(stage: &str, w: &Path) -> bool {
    match stage {
        "sfm" => w.join("match-report.json").is_file() && w.join("database.db").is_file(),
        "train" => w.join("checkpoints").is_dir(),
        _ => false,
    }
}

/// Removes a stage's old outputs (and training's checkpoints) before a fresh start, so that
/// nothing of a run with other inputs or options survives into the new one.
fn clear(spec: &StageSpec, w: &Path) -> Result<()> {
    let extra: &[&str] = if spec.name == "train" {
        &["checkpoints"]
    } else {
        &[]
    };
    for rel in spec.outputs.iter().chain(extra) {
        let p = w.join(rel);
        let r = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else if p.exists() {
            std::fs::remove_file(&p)
        } else {
            Ok(())
        };
        r.with_context(|| format!("removing the stale {}", p.display()))?;
    }
    Ok(())
}

/// What a stage of `splat run` reads: the photos, the workspace, or the trained PLY.
fn stage_input(stage: &str, images: &Path, w: &Path) -> PathBuf {
    match stage {
        "sfm" => images.to_path_buf(),
        "train" => w.to_path_buf(),
        _ => w.join("point_cloud.ply"),
    }
}

/// The words that point a stage at its input and at the folder `out` for its outputs (compress
/// writes `out/scene.sog` and `out/compress-report.json`), and make it resume when asked.
pub fn stage_args(stage: &str, input: &Path, out: &Path, resume: bool) -> Vec<String> {
    let s = |p: &Path| p.display().to_string();
    let mut args = match stage {
        "compress" => vec![
            s(input),
            "-o".into(),
            s(&out.join("scene.sog")),
            "--report".into(),
            s(&out.join("compress-report.json")),
        ],
        _ => vec![s(input), "-o".into(), s(out)],
    };
    if resume {
        args.push(
            if stage == "sfm" {
                "--reuse-matches"
            } else {
                "--resume"
            }
            .into(),
        );
    }
    args
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// A stage's headline figures, from the reports it wrote.
fn figures(stage: &str, w: &Path) -> Result<Value> {
    Ok(match stage {
        "sfm" => {
            let r = read_json(&w.join("sfm-report.json"))?;
            let m = &r["models"][0];
            json!({
                "images": r["images"],
                "registered": m["registered"],
                "points": m["points"],
                "mean_track_length": m["mean_track_length"],
                "mean_reprojection_error_px": m["mean_reprojection_error_px"],
                "models": r["models"].as_array().map_or(0, Vec::len),
            })
        }
        "train" => {
            let r = read_json(&w.join("eval.json"))?;
            json!({
                "steps": r["steps"],
                "test_psnr": r["test_psnr"],
                "test_ssim": r["test_ssim"],
                "gaussians": r["gaussians"],
                "floaters_removed": r["floaters_removed"],
                "steps_per_second": r["steps_per_second"],
                "device": r["device"],
            })
        }
        _ => {
            let r = read_json(&w.join("compress-report.json"))?;
            json!({
                "bytes": r["written_bytes"],
                "ply_bytes": r["ply_bytes"],
                "ratio": r["ratio"],
                "gaussians": r["count"],
                "sort_device": r["sort_device"],
                "compacted": r["compaction"]["compacted"],
                "sh_degree": r["sh_bands"],
                // What a viewer shows: the decoded file's held-out PSNR where compaction
                // measured it, else the compacted model's.
                "test_psnr": if r["compaction"]["test_psnr_file"].is_null() {
                    r["compaction"]["test_psnr_after"].clone()
                } else {
                    r["compaction"]["test_psnr_file"].clone()
                },
                "test_psnr_of_file": !r["compaction"]["test_psnr_file"].is_null(),
                "test_psnr_compacted_model": r["compaction"]["test_psnr_after"],
                "test_psnr_before_compaction": r["compaction"]["test_psnr_before"],
            })
        }
    })
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// The one-screen summary.
pub fn print_summary(r: &RunReport, w: &Path) {
    println!();
    println!(
        "splat run: {} → {} in {:.1} s",
        r.images, r.workspace, r.seconds
    );
    for s in &r.stages {
        let f = &s.figures;
        let what = match s.stage.as_str() {
            "sfm" => format!(
                "{}/{} images registered, {} points, reprojection error {:.3} px",
                f["registered"],
                f["images"],
                f["points"],
                f["mean_reprojection_error_px"].as_f64().unwrap_or(f64::NAN)
            ),
            "train" => format!(
                "{} steps, test PSNR {:.2} dB, SSIM {:.4}, {} Gaussians",
                f["steps"],
                f["test_psnr"].as_f64().unwrap_or(f64::NAN),
                f["test_ssim"].as_f64().unwrap_or(f64::NAN),
                f["gaussians"]
            ),
            _ => format!(
                "{} bytes, {:.1}× smaller than the PLY, {} Gaussians{}",
                f["bytes"],
                f["ratio"].as_f64().unwrap_or(f64::NAN),
                f["gaussians"],
                match f["test_psnr"].as_f64() {
                    Some(p) if f["test_psnr_of_file"] == true => {
                        format!(", test PSNR {p:.2} dB (the file, decoded)")
                    }
                    Some(p) => format!(", test PSNR {p:.2} dB after compaction"),
                    None => String::new(),
                }
            ),
        };
        println!(
            "  {:<9} {:<8} {:>8.1} s {:>7.0} MiB  {what}",
            s.stage,
            format!("{:?}", s.status).to_lowercase(),
            s.seconds,
            mib(s.peak_memory_bytes)
        );
    }
    println!(
        "  wrote {}/sparse/0 (cameras), {}/point_cloud.ply (model), {}/scene.sog (compressed), {}/report.json",
        w.display(),
        w.display(),
        w.display(),
        w.display()
    );
    println!(
        "  look at it: splat view {}   share it: splat export {} -o scene.html",
        w.display(),
        w.display()
    );
}

/// Peak resident memory of a stage: the kernel's high-water mark, reset before the stage.
mod peak_rss {
    /// Resets the high-water mark (Linux: `5` to `/proc/self/clear_refs`; elsewhere nothing).
    pub fn reset() {
        #[cfg(target_os = "linux")]
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }

    /// The high-water mark since the last reset, bytes (0 where unknown).
    pub fn read() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map_or(0, |kb| kb * 1024)
    }
}

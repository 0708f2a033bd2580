//! A whole training run around a `Trainer`: resuming from the newest checkpoint, the step loop
//! with its cadence of loss readings, evaluations and checkpoints, stopping cleanly when asked
//! (a checkpoint, then an error saying how to continue), keeping what is intact when a step
//! fails, and the run's files — `metrics.jsonl`, `point_cloud.ply`, `eval.json`,
//! `profile.json`. Callers (the CLI, the SageMaker entry point) only observe it, through
//! [`RunEvent`]s, and decide how to show them.

use crate::checkpoint::{self, Checkpoint, CheckpointError};
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::loss::LossTerms;
use crate::train::{Evaluation, StageTimes, Trainer};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// How a run goes: its length, cadence and where its files go.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub steps: u32,
    /// Steps between evaluations on the test views (0: only at the end).
    pub eval_every: u32,
    /// Steps between checkpoints (0: none); the newest two are kept.
    pub checkpoint_every: u32,
    pub checkpoint_dir: PathBuf,
    /// Where `metrics.jsonl`, `point_cloud.ply`, `eval.json` and `profile.json` go.
    pub output: PathBuf,
    /// Continue from the newest checkpoint in `checkpoint_dir`, if there is one.
    pub resume: bool,
    /// Time each stage of every step (`StageTimes`).
    pub profile: bool,
    /// What this run is made with (`settings`), written into every checkpoint; `--resume`
    /// refuses a checkpoint written with other settings. None: no check.
    pub settings: Option<serde_json::Value>,
    /// After the last step, fade out the floaters near the capture path by this distance
    /// ratio (`crate::floaters`; 0: keep them) before the final evaluation and the written
    /// model. Not a checkpoint setting: it changes nothing a resumed run would continue.
    pub floater_ratio: f64,
}

/// `RunOptions::floater_ratio`'s default: the best of 5, 7, 10, 15 and 20 on south-building's
/// held-out views (benches/RESULTS.md, eighteenth session).
pub const FLOATER_RATIO: f64 = 10.0;

/// The settings a checkpoint records: every training setting that changes the result, and
/// `data`, a digest of the views trained on (the caller's choice of what identifies them).
pub fn settings(cfg: &TrainConfig, data: &str) -> serde_json::Value {
    let mut v = serde_json::to_value(cfg).unwrap_or_default();
    v["data"] = serde_json::Value::String(data.to_string());
    // Through text and back, as a checkpoint's copy goes: serde_json's float parsing may land
    // an ulp away from the value it printed, so both sides of a comparison take the same path.
    serde_json::from_str(&v.to_string()).unwrap_or(v)
}

/// A setting's value for a message: f32 settings (stored widened) print as the f32 they are.
fn show_setting(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(x) if v.is_f64() && f64::from(x as f32) == x => format!("{}", x as f32),
        _ => v.to_string(),
    }
}

/// `a.b: old → new` for every leaf where two settings differ.
pub fn setting_differences(had: &serde_json::Value, want: &serde_json::Value) -> Vec<String> {
    fn leaves(
        v: &serde_json::Value,
        at: String,
        out: &mut std::collections::BTreeMap<String, String>,
    ) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let key = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    leaves(x, key, out);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    leaves(x, format!("{at}[{i}]"), out);
                }
            }
            other => {
                out.insert(at, show_setting(other));
            }
        }
    }
    let (mut a, mut b) = (Default::default(), Default::default());
    leaves(had, String::new(), &mut a);
    leaves(want, String::new(), &mut b);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |m: &std::collections::BTreeMap<String, String>| {
                m.get(k).cloned().unwrap_or_else(|| "(none)".into())
            };
            format!("{k}: {} → {}", show(&a), show(&b))
        })
        .collect()
}

/// What a run reports as it goes.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// Continuing from a checkpoint.
    Resumed {
        path: &'a Path,
        step: u32,
        gaussians: u32,
    },
    /// `--resume` found no checkpoint in `dir`.
    NoCheckpoint { dir: &'a Path },
    /// A checkpoint that did not read back, skipped for an older one.
    SkippedCheckpoint { why: &'a CheckpointError },
    /// A checkpoint's preview (`step_N.spz`) could not be written (said once a run; the
    /// checkpoints themselves are written).
    NoPreview { why: &'a str },
    /// After the last step, `count` floaters near the capture path were faded out of the model.
    FloatersRemoved { count: usize, ratio: f64 },
    /// The step loop starts at `first_step`.
    Started {
        gaussians: u32,
        train_views: usize,
        test_views: usize,
        first_step: u32,
        steps: u32,
    },
    /// A loss reading after step `step`; `last_psnr` is the latest evaluation's.
    Loss {
        step: u32,
        terms: LossTerms,
        gaussians: u32,
        last_psnr: Option<f64>,
    },
    /// An evaluation under way: `done` of its `total` views scored.
    Evaluating { done: usize, total: usize },
    /// An evaluation of the model after `step` steps.
    Evaluated {
        step: u32,
        evaluation: &'a Evaluation,
        gaussians: u32,
        steps_per_second: f64,
        device_memory: Option<splat_gpu::DeviceMemory>,
    },
    /// Step `step` is done.
    Stepped { step: u32 },
    /// The loop has ended (the final evaluation and files follow).
    LoopEnded,
}

/// What a finished run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub first_step: u32,
    pub steps: u32,
    /// Wall time of this run, and of it spent evaluating.
    pub seconds: f64,
    pub evaluation_seconds: f64,
    /// Training time before the checkpoint this run resumed from.
    pub earlier_seconds: f64,
    pub evaluation: Evaluation,
    pub gaussians: usize,
    pub ply: PathBuf,
    pub metrics: PathBuf,
    pub peak_device_memory: Option<splat_gpu::DeviceMemory>,
    pub profile: Option<StageTimes>,
    /// Floaters faded out after the last step (None: not looked for).
    pub floaters_removed: Option<usize>,
}

impl RunSummary {
    /// This run's training time: wall time less evaluations.
    pub fn training_seconds(&self) -> f64 {
        self.seconds - self.evaluation_seconds
    }

    pub fn steps_per_second(&self) -> f64 {
        f64::from(self.steps - self.first_step) / self.training_seconds()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Scene(#[from] splat_scene::SceneError),
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the loss became {loss} at step {step}; the model diverged. The newest checkpoint in {} is intact; \
         lower the learning rates (--lr-position, --lr-opacity, …) or check the input images",
        checkpoints.display()
    )]
    Diverged {
        loss: f64,
        step: u32,
        checkpoints: PathBuf,
    },
    #[error(
        "interrupted at step {step}; checkpoint written to {}; continue with --resume",
        checkpoint.display()
    )]
    Interrupted { step: u32, checkpoint: PathBuf },
    #[error(
        "{} was written by a run with other settings ({}); resume with the settings it was made with, or start over without --resume (or with another checkpoint folder)",
        path.display(),
        differences.join("; ")
    )]
    OtherSettings {
        path: PathBuf,
        differences: Vec<String>,
    },
    /// A step failed; `message` says why and what was kept.
    #[error("{message}")]
    StepFailed { message: String },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RunError + use<> {
    let path = path.to_path_buf();
    move |source| RunError::Io { what, path, source }
}

/// Runs `trainer` to `opts.steps`, reporting to `observe`; stops with a checkpoint at the end of
/// the step under way once `interrupted` is set.
pub fn run(
    trainer: &mut Trainer,
    opts: &RunOptions,
    interrupted: &AtomicBool,
    observe: &mut dyn FnMut(RunEvent<'_>),
) -> Result<RunSummary, RunError> {
    std::fs::create_dir_all(&opts.output).map_err(io("creating", &opts.output))?;
    let ckpt_dir = &opts.checkpoint_dir;
    let metrics_path = opts.output.join("metrics.jsonl");
    let mut kept_metrics = String::new();
    // Training time spent before the checkpoint resumed from, so that times add up over restarts.
    let mut earlier_secs = 0.0;
    if opts.resume {
        if let Some((path, c)) = newest_checkpoint(ckpt_dir, observe) {
            if let (Some(had), Some(want)) = (&c.header.settings, &opts.settings) {
                let differences = setting_differences(had, want);
                if !differences.is_empty() {
                    return Err(RunError::OtherSettings { path, differences });
                }
            }
            trainer.restore(&c)?;
            earlier_secs = c.header.elapsed_s;
            observe(RunEvent::Resumed {
                path: &path,
                step: c.header.step,
                gaussians: c.header.count,
            });
            kept_metrics = metrics_up_to(&metrics_path, c.header.step);
        } else {
            observe(RunEvent::NoCheckpoint { dir: ckpt_dir });
        }
    }
    let mut metrics =
        std::fs::File::create(&metrics_path).map_err(io("creating", &metrics_path))?;
    let write_err = |e| io("writing", &metrics_path)(e);
    metrics
        .write_all(kept_metrics.as_bytes())
        .map_err(write_err)?;
    let start = Instant::now();
    // Seconds of this run spent evaluating, left out of the training time.
    let evaluating = std::cell::Cell::new(0.0);
    let evaluate = |trainer: &Trainer, observe: &mut dyn FnMut(RunEvent<'_>)| {
        let t = Instant::now();
        let e = trainer.evaluate_full_with(&mut |done, total| {
            observe(RunEvent::Evaluating { done, total });
        });
        evaluating.set(evaluating.get() + t.elapsed().as_secs_f64());
        e
    };
    // Training time since step 0 (earlier runs included), without evaluations.
    let elapsed = || earlier_secs + start.elapsed().as_secs_f64() - evaluating.get();
    // The first preview that could not be written, for the loop to say (once a run).
    let preview_said = std::cell::Cell::new(false);
    let preview_problem = std::cell::RefCell::new(None::<String>);
    let save = |trainer: &Trainer| -> Result<PathBuf, RunError> {
        std::fs::create_dir_all(ckpt_dir).map_err(io("creating", ckpt_dir))?;
        let path = checkpoint::path_for(ckpt_dir, trainer.step);
        let mut c = trainer.checkpoint()?;
        c.header.elapsed_s = elapsed();
        c.header.settings.clone_from(&opts.settings);
        // The preview first: a follower that sees the checkpoint finds its preview there too.
        // It is only a view of the model, so a preview that cannot be written (a model spz
        // cannot hold) is said once and the run goes on.
        let preview = c.model().map_err(|e| e.to_string()).and_then(|m| {
            checkpoint::write_preview(ckpt_dir, trainer.step, &m).map_err(|e| e.to_string())
        });
        if let Err(why) = preview
            && !preview_said.replace(true)
        {
            preview_problem.replace(Some(why));
        }
        c.write(&path)?;
        checkpoint::prune(ckpt_dir, 2);
        Ok(path)
    };
    trainer.set_profiling(opts.profile);
    let first_step = trainer.step;
    observe(RunEvent::Started {
        gaussians: trainer.gaussian_count(),
        train_views: trainer.train.len(),
        test_views: trainer.test.len(),
        first_step,
        steps: opts.steps,
    });
    let mut last_psnr = None;
    // (step, training time) at the last evaluation, for the steps/s between evaluations.
    let mut since = (first_step, elapsed());
    // Evaluates the model as it is after `step` steps: a metrics line and an event.
    let mut report = |trainer: &Trainer,
                      metrics: &mut std::fs::File,
                      observe: &mut dyn FnMut(RunEvent<'_>),
                      step: u32|
     -> Result<f64, RunError> {
        let rate = f64::from(step - since.0) / (elapsed() - since.1);
        since = (step, elapsed());
        let e = evaluate(trainer, observe)?;
        let memory = trainer.device_memory();
        writeln!(
            metrics,
            "{}",
            serde_json::json!({ "step": step, "test_psnr": e.psnr, "test_ssim": e.ssim, "gaussians": trainer.gaussian_count(), "elapsed_s": elapsed(), "steps_per_second": rate, "gpu_memory_bytes": memory.map(|m| m.reserved), "peak_gpu_memory_bytes": trainer.peak_device_memory().map(|m| m.reserved) })
        )
        .map_err(write_err)?;
        observe(RunEvent::Evaluated {
            step,
            evaluation: &e,
            gaussians: trainer.gaussian_count(),
            steps_per_second: rate,
            device_memory: memory,
        });
        Ok(e.psnr)
    };
    // About a hundred loss readings per run, at least every 100 steps.
    let log_every = (opts.steps / 100).clamp(1, 100);
    for s in first_step..opts.steps {
        let log = s % log_every == 0 || s + 1 == opts.steps;
        let eval_due = opts.eval_every > 0 && (s + 1) % opts.eval_every == 0 && s + 1 != opts.steps;
        // An evaluation due right after an opacity reset would score the nearly transparent
        // model the reset leaves (the next steps restore it), so it is taken just before that
        // step instead, as the reference implementation's evaluations are.
        let eval_first = eval_due && trainer.resets_opacity_at(s + 1);
        if eval_first {
            last_psnr = Some(report(trainer, &mut metrics, observe, s)?);
        }
        let stepped = match trainer.step(log) {
            Ok(l) => l,
            Err(e) => {
                observe(RunEvent::LoopEnded);
                return Err(failed_step(trainer, e, ckpt_dir, &save));
            }
        };
        if let Some(l) = stepped {
            if !l.total.is_finite() {
                return Err(RunError::Diverged {
                    loss: l.total,
                    step: s + 1,
                    checkpoints: ckpt_dir.clone(),
                });
            }
            let line = serde_json::json!({ "step": s + 1, "loss": l.total, "l1": l.l1, "ssim": l.ssim, "gaussians": trainer.gaussian_count(), "elapsed_s": elapsed() });
            writeln!(metrics, "{line}").map_err(write_err)?;
            observe(RunEvent::Loss {
                step: s + 1,
                terms: l,
                gaussians: trainer.gaussian_count(),
                last_psnr,
            });
        }
        if eval_due && !eval_first {
            last_psnr = Some(report(trainer, &mut metrics, observe, s + 1)?);
        }
        if opts.checkpoint_every > 0 && (s + 1) % opts.checkpoint_every == 0 && s + 1 != opts.steps
        {
            save(trainer)?;
            if let Some(why) = preview_problem.take() {
                observe(RunEvent::NoPreview { why: &why });
            }
        }
        if interrupted.load(Ordering::SeqCst) {
            observe(RunEvent::LoopEnded);
            let path = save(trainer)?;
            return Err(RunError::Interrupted {
                step: s + 1,
                checkpoint: path,
            });
        }
        observe(RunEvent::Stepped { step: s + 1 });
    }
    observe(RunEvent::LoopEnded);
    let floaters = if opts.floater_ratio > 0.0 {
        let count = trainer.fade_floaters(opts.floater_ratio)?;
        observe(RunEvent::FloatersRemoved {
            count,
            ratio: opts.floater_ratio,
        });
        Some(count)
    } else {
        None
    };
    let e = evaluate(trainer, observe)?;
    writeln!(
        metrics,
        "{}",
        serde_json::json!({ "step": opts.steps, "test_psnr": e.psnr, "test_ssim": e.ssim, "gaussians": trainer.gaussian_count(), "elapsed_s": elapsed() })
    )
    .map_err(write_err)?;
    drop(metrics);
    let cloud = trainer.download()?;
    let ply = opts.output.join("point_cloud.ply");
    splat_scene::ply::write_ply(&ply, &cloud)?;
    let summary = RunSummary {
        first_step,
        steps: opts.steps,
        seconds: start.elapsed().as_secs_f64(),
        evaluation_seconds: evaluating.get(),
        earlier_seconds: earlier_secs,
        evaluation: e,
        gaussians: cloud.len(),
        ply,
        metrics: metrics_path.clone(),
        peak_device_memory: trainer.peak_device_memory(),
        profile: trainer.profile().cloned(),
        floaters_removed: floaters,
    };
    write_eval(trainer, &summary, &opts.output.join("eval.json"))?;
    if let Some(p) = &summary.profile {
        write_profile(p, &opts.output.join("profile.json"))?;
    }
    Ok(summary)
}

/// `eval.json`: the final scores, per view, and the run's times and memory.
fn write_eval(trainer: &Trainer, s: &RunSummary, path: &Path) -> Result<(), RunError> {
    let e = &s.evaluation;
    let eval = serde_json::json!({
        "steps": s.steps,
        "test_psnr": e.psnr,
        "test_ssim": e.ssim,
        "held_out": !trainer.test.is_empty(),
        "gaussians": s.gaussians,
        "seconds": s.seconds,
        "evaluation_seconds": s.evaluation_seconds,
        "training_seconds_since_step_0": s.earlier_seconds + s.training_seconds(),
        "steps_per_second": s.steps_per_second(),
        "resumed_from_step": s.first_step,
        "device": trainer.device_name(),
        // What the model was trained at, for later stages that render its views
        // (`splat compress --views` takes them as its defaults).
        "resolution": trainer.cfg.resolution,
        "background": trainer.cfg.background,
        // Device memory wgpu's allocator held, most after any step of this run (null where the
        // backend keeps no report): reserved from the driver, and in live buffers.
        "peak_gpu_memory_bytes": s.peak_device_memory.map(|m| m.reserved),
        "peak_gpu_allocated_bytes": s.peak_device_memory.map(|m| m.allocated),
        // Floaters near the capture path faded out after the last step (null: not looked for).
        "floaters_removed": s.floaters_removed,
        "views": e.views,
    });
    let text = serde_json::to_string_pretty(&eval).unwrap_or_default();
    splat_scene::write_atomic_bytes(path, text.as_bytes())?;
    Ok(())
}

/// `profile.json`: where the profiled steps' time went.
fn write_profile(p: &StageTimes, path: &Path) -> Result<(), RunError> {
    let steps = p.steps.max(1) as f64;
    let stages: Vec<_> = p
        .stages
        .iter()
        .map(|(stage, secs, runs)| serde_json::json!({ "stage": stage, "seconds": secs, "runs": runs, "ms_per_step": secs / steps * 1e3 }))
        .collect();
    let json = serde_json::json!({ "steps": p.steps, "seconds": p.total(), "stages": stages });
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    splat_scene::write_atomic_bytes(path, text.as_bytes())?;
    Ok(())
}

/// The newest checkpoint in `dir` that reads back, falling back to older ones.
fn newest_checkpoint(
    dir: &Path,
    observe: &mut dyn FnMut(RunEvent<'_>),
) -> Option<(PathBuf, Checkpoint)> {
    for (_, path) in checkpoint::list(dir).into_iter().rev() {
        match Checkpoint::read(&path) {
            Ok(c) => return Some((path, c)),
            Err(e) => observe(RunEvent::SkippedCheckpoint { why: &e }),
        }
    }
    None
}

/// The lines of a metrics file up to and including `step` (a resumed run rewrites the rest).
fn metrics_up_to(path: &Path, step: u32) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| s <= u64::from(step))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The error chain of `e`, joined as `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

/// The error for a step that failed on the GPU, with what is kept: a checkpoint of the last
/// completed step where the model is intact and one is due (steps were trained since the
/// newest), else the newest checkpoint already written.
fn failed_step(
    trainer: &Trainer,
    e: TrainError,
    ckpt_dir: &Path,
    save: &dyn Fn(&Trainer) -> Result<PathBuf, RunError>,
) -> RunError {
    let newest = checkpoint::list(ckpt_dir).pop();
    let due = newest.as_ref().is_none_or(|(step, _)| *step < trainer.step) && trainer.step > 0;
    let kept = if due && trainer.state_intact() {
        match save(trainer) {
            Ok(path) => format!(
                "a checkpoint of step {} (the last completed) was written to {}; continue with --resume",
                trainer.step,
                path.display()
            ),
            Err(w) => format!(
                "writing a checkpoint of step {} failed too: {}",
                trainer.step,
                chain(&w)
            ),
        }
    } else if let Some((step, path)) = newest {
        format!(
            "the newest checkpoint, of step {step}, is intact: {}; continue with --resume",
            path.display()
        )
    } else {
        "no checkpoint was due".to_string()
    };
    RunError::StepFailed {
        message: format!("{}; {kept}", chain(&e)),
    }
}

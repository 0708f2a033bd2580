//! `progress.json`: a small file a long job rewrites while it runs, for whoever watches from
//! outside the process — SageMaker uploads a training job's checkpoint folder to S3 as it
//! changes, so a project's progress can be followed there live. Written atomically (temporary
//! file, then rename), at most every few seconds and always at the start and the end: stage,
//! status, step of total, the latest test PSNR, Gaussians, elapsed time and an estimate of the
//! time left.
//!
//! A processing job (`splat sagemaker sfm|compress|run`) also names a *mirror* file
//! ([`mirror_to`]): every progress bar of the process and the trainer's own file write their
//! snapshots there too, in a folder SageMaker uploads continuously.

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds between rewrites while running.
const EVERY: Duration = Duration::from_secs(5);

static MIRROR: OnceLock<PathBuf> = OnceLock::new();

/// From now on every progress snapshot of this process is also written to `path` (the first
/// call wins).
pub fn mirror_to(path: PathBuf) {
    let _ = MIRROR.set(path);
}

/// The mirror file, when one is set.
pub fn mirror() -> Option<&'static Path> {
    MIRROR.get().map(PathBuf::as_path)
}

#[derive(Serialize)]
struct Snapshot<'a> {
    stage: &'a str,
    /// "running", "done" or "failed".
    status: &'a str,
    step: u32,
    total: u32,
    fraction: f64,
    test_psnr: Option<f64>,
    gaussians: Option<u32>,
    elapsed_s: f64,
    /// From the pace since this process started (a resumed run counts from its checkpoint).
    eta_s: Option<f64>,
    /// Unix time of this write.
    updated: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

pub struct ProgressFile {
    path: PathBuf,
    stage: String,
    started: Instant,
    first_step: u32,
    step: u32,
    total: u32,
    psnr: Option<f64>,
    gaussians: Option<u32>,
    last_write: Option<Instant>,
}

impl ProgressFile {
    pub fn new(path: PathBuf, stage: &str) -> Self {
        Self {
            path,
            stage: stage.to_string(),
            started: Instant::now(),
            first_step: 0,
            step: 0,
            total: 0,
            psnr: None,
            gaussians: None,
            last_write: None,
        }
    }

    /// The step loop starts at `first_step` of `total`.
    pub fn start(&mut self, first_step: u32, total: u32, gaussians: Option<u32>) {
        self.started = Instant::now();
        self.first_step = first_step;
        self.step = first_step;
        self.total = total;
        self.gaussians = gaussians;
        self.write("running", None);
    }

    /// After step `step`; written when the last write is older than a few seconds.
    pub fn stepped(&mut self, step: u32) {
        self.step = step;
        if step == self.total || self.last_write.is_none_or(|t| t.elapsed() >= EVERY) {
            self.write("running", None);
        }
    }

    pub fn evaluated(&mut self, psnr: f64, gaussians: u32) {
        self.psnr = Some(psnr);
        self.gaussians = Some(gaussians);
    }

    /// The end: "done", or "failed" with why.
    pub fn finish(&mut self, error: Option<&str>) {
        match error {
            None => self.write("done", None),
            Some(m) => self.write("failed", Some(m)),
        }
    }

    fn write(&mut self, status: &str, message: Option<&str>) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let done = self.step.saturating_sub(self.first_step);
        let eta = (done > 0 && status == "running")
            .then(|| elapsed / f64::from(done) * f64::from(self.total.saturating_sub(self.step)));
        let snap = Snapshot {
            stage: &self.stage,
            status,
            step: self.step,
            total: self.total,
            fraction: if self.total > 0 {
                f64::from(self.step) / f64::from(self.total)
            } else {
                0.0
            },
            test_psnr: self.psnr,
            gaussians: self.gaussians,
            elapsed_s: elapsed,
            eta_s: if status == "done" { Some(0.0) } else { eta },
            updated: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            message,
        };
        self.last_write = Some(Instant::now());
        let Ok(bytes) = serde_json::to_vec_pretty(&snap) else {
            return;
        };
        write_snapshot(&self.path, &bytes);
        if let Some(m) = mirror().filter(|m| *m != self.path) {
            write_snapshot(m, &bytes);
        }
    }
}

/// Writes one snapshot atomically; a failure is a warning (progress is for watchers and must
/// not stop the job).
fn write_snapshot(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("warning: could not create {}: {e}", dir.display());
        return;
    }
    if let Err(e) = splat_scene::write_atomic_bytes(path, bytes) {
        eprintln!("warning: could not write {}: {e}", path.display());
    }
}

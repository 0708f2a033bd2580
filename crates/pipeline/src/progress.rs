//! Progress for long steps: an indicatif bar when stderr is a terminal, JSON lines on stderr
//! otherwise (`{"step":…,"done":…,"total":…}`), so logs of batch jobs stay machine-readable.
//! When the process has a progress mirror (a SageMaker processing job), each bar also rewrites
//! that `progress.json`.

use crate::progress_file::{self, ProgressFile};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Progress {
    step: String,
    total: u64,
    done: AtomicU64,
    bar: Option<ProgressBar>,
    last_line: Mutex<Instant>,
    status: Mutex<String>,
    file: Option<Mutex<ProgressFile>>,
}

impl Progress {
    pub fn new(step: &str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{prefix:>12} [{bar:40}] {pos}/{len} {per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            b.set_style(style);
            b.set_prefix(step.to_string());
            b
        });
        Self {
            step: step.into(),
            total,
            done: AtomicU64::new(0),
            bar,
            last_line: Mutex::new(Instant::now() - Duration::from_secs(10)),
            status: Mutex::new(String::new()),
            file: progress_file::mirror().map(|path| {
                let mut f = ProgressFile::new(path.to_path_buf(), step);
                f.start(0, u32::try_from(total).unwrap_or(u32::MAX), None);
                Mutex::new(f)
            }),
        }
    }

    /// Starts the count at `done` (a resumed job).
    pub fn set_done(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_position(done);
            b.reset_eta();
        }
    }

    /// A short status shown after the bar (and in the JSON lines).
    pub fn set_status(&self, status: String) {
        if let Some(b) = &self.bar {
            b.set_message(status.clone());
        }
        *self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = status;
    }

    /// One more item done.
    pub fn inc(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.show(done);
    }

    /// `done` items done in all.
    pub fn set(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
        self.show(done);
    }

    fn show(&self, done: u64) {
        if let Some(f) = &self.file {
            f.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .stepped(u32::try_from(done).unwrap_or(u32::MAX));
        }
        match &self.bar {
            Some(b) => b.set_position(done),
            None => {
                let mut last = self
                    .last_line
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if done == self.total || last.elapsed() >= Duration::from_secs(1) {
                    *last = Instant::now();
                    let status = self
                        .status
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let mut line =
                        serde_json::json!({ "step": self.step, "done": done, "total": self.total });
                    if !status.is_empty() {
                        line["status"] = serde_json::Value::String(status.clone());
                    }
                    eprintln!("{line}");
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

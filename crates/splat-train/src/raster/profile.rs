//! Per-stage wall time of the rasterizer's (and the trainer's) GPU work, for `--profile`.

use super::Rasterizer;
use splat_gpu::{GpuContext, GpuError};

/// Wall time per stage, measured by submitting and waiting after each one (which itself costs
/// time; use only to see where the time goes).
#[derive(Debug, Clone)]
pub struct Profile {
    last: std::time::Instant,
    pub stages: Vec<(&'static str, f64)>,
}

impl Rasterizer {
    /// Starts (or stops) timing each stage of later calls.
    pub fn set_profiling(&self, on: bool) {
        let mut p = self
            .profile
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *p = on.then(|| Profile {
            last: std::time::Instant::now(),
            stages: Vec::new(),
        });
    }

    /// The stages timed since profiling started or was last taken.
    pub fn take_profile(&self) -> Vec<(&'static str, f64)> {
        let mut p = self
            .profile
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        p.as_mut()
            .map(|p| std::mem::take(&mut p.stages))
            .unwrap_or_default()
    }

    pub(super) fn restart_clock(&self) {
        if let Some(p) = self
            .profile
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
        {
            p.last = std::time::Instant::now();
        }
    }

    /// Ends a stage when profiling: submits what `enc` holds so far, waits for the GPU and
    /// records the time since the previous mark (the trainer marks its own stages here too).
    pub(crate) fn mark(
        &self,
        ctx: &GpuContext,
        enc: Option<&mut wgpu::CommandEncoder>,
        stage: &'static str,
    ) -> Result<(), GpuError> {
        let mut guard = self
            .profile
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(p) = guard.as_mut() else {
            return Ok(());
        };
        if let Some(enc) = enc {
            let done = std::mem::replace(enc, ctx.encoder(stage));
            ctx.queue.submit([done.finish()]);
        }
        ctx.wait()?;
        let now = std::time::Instant::now();
        p.stages.push((stage, (now - p.last).as_secs_f64()));
        p.last = now;
        Ok(())
    }
}

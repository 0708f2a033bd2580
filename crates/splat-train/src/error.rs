//! The trainer's errors.

use splat_gpu::GpuError;
use splat_scene::SceneError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Scene(#[from] SceneError),
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// The model outgrew the device.
    #[error(
        "step {step}: {gaussians} Gaussians do not fit on this GPU ({why}); raise --densify-grad-threshold, \
         lower --densify-until or --resolution, or use --strategy mcmc with a smaller --max-gaussians"
    )]
    Capacity {
        step: u32,
        gaussians: u32,
        /// Said in the message (not a `source`, which would say it twice).
        why: GpuError,
    },
}

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
    /// A view's rendered image outgrew the device (its pixels, whatever the model's size).
    #[error(
        "step {step}: a {width}×{height} view does not fit on this GPU ({why}); train at a lower --resolution"
    )]
    FrameTooLarge {
        step: u32,
        width: u32,
        height: u32,
        why: GpuError,
    },
}

impl TrainError {
    /// A step's GPU error said as what outgrew the device: the frame of a `width`×`height`
    /// view, or the model of `gaussians`; other errors as they are.
    pub fn at_capacity(e: Self, step: u32, gaussians: u32, (width, height): (u32, u32)) -> Self {
        match e {
            TrainError::Gpu(why @ GpuError::TooLarge { what, .. })
                if what == crate::raster::FRAME_IMAGE =>
            {
                TrainError::FrameTooLarge {
                    step,
                    width,
                    height,
                    why,
                }
            }
            TrainError::Gpu(why @ (GpuError::OutOfMemory(_) | GpuError::TooLarge { .. })) => {
                TrainError::Capacity {
                    step,
                    gaussians,
                    why,
                }
            }
            e => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_too_large_names_the_resolution_and_a_model_too_large_the_gaussians() {
        let too_large = |what| {
            TrainError::Gpu(GpuError::TooLarge {
                what,
                needed: 200 << 20,
                limit: 128 << 20,
            })
        };
        let frame =
            TrainError::at_capacity(too_large(crate::raster::FRAME_IMAGE), 3, 1000, (4096, 3072))
                .to_string();
        assert!(
            frame.contains("a 4096×3072 view does not fit")
                && frame.contains("--resolution")
                && !frame.contains("Gaussians"),
            "{frame}"
        );
        let model = TrainError::at_capacity(
            too_large("the frame's per-key gradients"),
            3,
            1000,
            (4096, 3072),
        )
        .to_string();
        assert!(
            model.contains("1000 Gaussians do not fit")
                && model.contains("--densify-grad-threshold"),
            "{model}"
        );
        let other = TrainError::at_capacity(TrainError::Data("x".into()), 3, 1000, (1, 1));
        assert!(matches!(other, TrainError::Data(_)));
    }
}

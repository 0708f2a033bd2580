//! 3DGS training. The model and its GPU buffers (`model`), constants shared by the kernels and
//! the f64 `reference` (forward and analytic backward, the kernels' test oracle), the
//! differentiable tile rasterizer (`raster`), the photometric loss and Adam (`loss`, `optim`),
//! how the set of Gaussians changes (`density`: `densify` for the paper's adaptive density
//! control, `mcmc`), settings (`config`), the trainer (`train`) and a whole run around it
//! (`run`: cadence, checkpoints, metrics), which callers only observe; `compact` prunes and
//! fine-tunes a trained model for compression; `smooth` makes training compression-aware (the
//! SOG grid's neighbour loss); `floaters` finds the Gaussians near the capture path that only
//! distant cameras see, which a run removes from the model it writes.

// Library code (not its tests) never unwraps, expects or panics on what a user can influence;
// where an invariant makes one impossible, the site says so with an `allow` and why.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod checkpoint;
pub mod compact;
pub mod config;
pub mod constants;
pub mod densify;
pub mod density;
mod error;
pub mod floaters;
pub mod loss;
pub mod mcmc;
pub mod model;
pub mod optim;
pub mod raster;
pub mod rebuild;
pub mod reference;
pub mod run;
pub mod sh;
pub mod smooth;
pub mod train;
mod view;

pub use densify::{Densifier, DensifyConfig, DensifyReport, DensifyRule};
pub use loss::{LossEval, LossTerms, PhotometricLoss};
pub use model::{Gaussians32, GpuGaussians, GpuGrads, GradLayout, Grads32, ParamGroup};
pub use optim::{Adam, AdamConfig, AdamState, GroupStep};
pub use raster::{Frame, Profile, Rasterizer, RenderOutput, TileBounds, TileReduction};
pub use view::View;

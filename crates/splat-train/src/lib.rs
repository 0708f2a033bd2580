//! 3DGS training: the differentiable tile rasterizer — its WGSL forward pass driven from
//! `raster`, and the plain-Rust f64 `reference` (forward and analytic backward) that is the
//! oracle for the kernels.

pub mod checkpoint;
pub mod constants;
pub mod densify;
pub mod loss;
pub mod mcmc;
pub mod model;
pub mod optim;
pub mod raster;
pub mod rebuild;
pub mod reference;
pub mod sh;
pub mod train;
mod view;

pub use densify::{Densifier, DensifyConfig, DensifyReport, DensifyRule};
pub use loss::{LossEval, LossTerms, PhotometricLoss};
pub use model::{Gaussians32, GpuGaussians, GpuGrads, GradLayout, Grads32, ParamGroup};
pub use optim::{Adam, AdamConfig, AdamState, GroupStep};
pub use raster::{Frame, Profile, Rasterizer, RenderOutput, TileReduction};
pub use view::View;

//! Training: the `Trainer` (one optimisation step at a time, all on the GPU), where a run starts
//! (`init`), the photos it trains on (`views`), how it is scored (`evaluate`) and its
//! checkpoints (`checkpointing`). Settings are in `crate::config`, the density strategies in
//! `crate::density`; a whole run (cadence of evaluations and checkpoints, metrics) is driven by
//! the caller.

mod checkpointing;
mod evaluate;
pub mod init;
mod trainer;
mod views;

pub use crate::config::{ResetInterval, Strategy, TrainConfig};
pub use crate::error::TrainError;
pub use evaluate::{Evaluation, ViewScore, psnr, score_views};
pub use init::{default_near, initial_gaussians, mean_sq_distance_3nn, scene_extent};
pub use trainer::{StageTimes, Trainer};
pub use views::{TrainView, load_train_and_test, load_views};

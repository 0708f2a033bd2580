//! How the set of Gaussians changes during training: the `DensityControl` trait, implemented by
//! the paper's adaptive density control (`AdcControl`), MCMC (`McmcControl`) and a fixed set
//! (`FixedSet`). The trainer calls it at three points of a step — before and after the
//! optimiser's update, in the same submission, and once that is submitted — and knows nothing
//! else of the strategy.

use crate::config::{Strategy, TrainConfig};
use crate::densify::{Densifier, DensifyConfig, DensifyReport, DensifyRule};
use crate::error::TrainError;
use crate::mcmc::{Mcmc, McmcConfig};
use crate::model::{GpuGaussians, GpuGrads};
use crate::optim::AdamState;
use crate::raster::Frame;
use splat_gpu::{GpuContext, GpuError};

/// One strategy for changing the set of Gaussians. `iteration` is the 1-based number of the
/// step under way.
pub trait DensityControl {
    /// Records, before the optimiser's update, the work that reads this step's gradients
    /// (statistics, regularisation gradients).
    fn before_update(
        &mut self,
        _ctx: &GpuContext,
        _enc: &mut wgpu::CommandEncoder,
        _model: &GpuGaussians,
        _frame: &Frame,
        _grads: &GpuGrads,
        _iteration: u32,
    ) {
    }

    /// Records, after the optimiser's update in the same submission, changes to the parameters
    /// (MCMC's position noise); `position_lr` is this step's position learning rate.
    fn after_update(
        &mut self,
        _ctx: &GpuContext,
        _enc: &mut wgpu::CommandEncoder,
        _model: &GpuGaussians,
        _position_lr: f32,
        _iteration: u32,
    ) {
    }

    /// Once the update is submitted: changes the set itself (clone, split, prune, reset;
    /// relocate, grow), with the optimiser's moments alongside. Returns whether Gaussians were
    /// added, removed or reordered (an opacity reset changes values only).
    fn change_set(
        &mut self,
        _ctx: &GpuContext,
        _model: &mut GpuGaussians,
        _states: &mut [AdamState; 8],
        _iteration: u32,
    ) -> Result<bool, TrainError> {
        Ok(false)
    }

    /// Whether step `iteration` ends by setting every opacity to 0.01 (the paper's opacity
    /// reset): the model right after it renders nearly empty until later steps recover.
    fn resets_opacity_at(&self, _iteration: u32) -> bool {
        false
    }

    /// The per-Gaussian statistics kept across steps, for a checkpoint (zeros where the
    /// strategy keeps none, so that every checkpoint has the same arrays).
    fn stats(&self, _ctx: &GpuContext, count: u32) -> Result<Vec<[f32; 4]>, GpuError> {
        Ok(vec![[0.0; 4]; count as usize])
    }

    /// Takes the statistics back from a checkpoint.
    fn set_stats(&mut self, _ctx: &GpuContext, _stats: &[[f32; 4]]) {}

    /// What the last densification did (adaptive density control).
    fn last_densify(&self) -> Option<DensifyReport> {
        None
    }
}

/// The controller `cfg.strategy` asks for, for a model of `count` Gaussians in a scene of
/// `extent` (the cameras' extent).
pub fn for_config(
    ctx: &GpuContext,
    cfg: &TrainConfig,
    count: u32,
    extent: f64,
) -> Result<Box<dyn DensityControl>, GpuError> {
    Ok(match &cfg.strategy {
        Strategy::Fixed => Box::new(FixedSet),
        Strategy::Adc(d) => Box::new(AdcControl {
            cfg: d.clone(),
            steps: cfg.steps,
            seed: cfg.seed,
            white_background: cfg.background.iter().all(|&c| c >= 1.0),
            extent,
            densifier: Densifier::new(ctx, count)?,
            last: None,
        }),
        Strategy::Mcmc(m) => Box::new(McmcControl {
            cfg: m.clone(),
            seed: cfg.seed,
            mcmc: Mcmc::new(ctx)?,
        }),
    })
}

/// The initial Gaussians only move.
pub struct FixedSet;

impl DensityControl for FixedSet {}

/// The 3DGS paper's adaptive density control: gradient statistics after every backward pass,
/// clone / split / prune every `every` steps inside the densification window, and opacity
/// resets.
pub struct AdcControl {
    cfg: DensifyConfig,
    steps: u32,
    seed: u64,
    white_background: bool,
    extent: f64,
    densifier: Densifier,
    last: Option<DensifyReport>,
}

impl AdcControl {
    /// Whether step `iteration` gathers statistics and may densify: inside the window, and
    /// never on a run's last step (the model written is the optimiser's, not one with fresh,
    /// untrained clones).
    fn active(&self, iteration: u32) -> bool {
        iteration < self.cfg.until && iteration < self.steps
    }
}

impl DensityControl for AdcControl {
    fn before_update(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        _model: &GpuGaussians,
        frame: &Frame,
        grads: &GpuGrads,
        iteration: u32,
    ) {
        if self.active(iteration) {
            self.densifier.accumulate(ctx, enc, frame, grads);
        }
    }

    /// The paper's schedule after step `iteration`, while densification is on: densify every
    /// `every` steps after `from`, reset opacities every `opacity_reset_every` steps (and once
    /// at `from` on a white background, as the reference does) while a reset interval remains
    /// to recover in.
    fn change_set(
        &mut self,
        ctx: &GpuContext,
        model: &mut GpuGaussians,
        states: &mut [AdamState; 8],
        iteration: u32,
    ) -> Result<bool, TrainError> {
        if !self.active(iteration) {
            return Ok(false);
        }
        let d = &self.cfg;
        let mut changed = false;
        let after_reset = d.opacity_reset_every > 0 && iteration > d.opacity_reset_every;
        if iteration > d.from && iteration.is_multiple_of(d.every) {
            let extent = self.extent as f32;
            let rule = DensifyRule {
                grad_threshold: d.grad_threshold,
                clone_max_scale: d.percent_dense * extent,
                min_opacity: d.min_opacity,
                max_world_scale: if after_reset {
                    d.max_world_scale * extent
                } else {
                    0.0
                },
                max_screen_radius: if after_reset {
                    d.max_screen_radius
                } else {
                    0.0
                },
                seed: self.seed,
                step: iteration,
            };
            let report = self
                .densifier
                .densify(ctx, model, states, &rule)
                .map_err(|why| TrainError::Capacity {
                    step: iteration,
                    gaussians: self.densifier.wanted,
                    why,
                })?;
            self.last = Some(report);
            changed = true;
        }
        if self.resets_opacity_at(iteration) {
            self.densifier.reset_opacity(ctx, model, &states[3], 0.01);
        }
        Ok(changed)
    }

    fn resets_opacity_at(&self, iteration: u32) -> bool {
        self.cfg
            .resets_opacity_at(iteration, self.steps, self.white_background)
    }

    fn stats(&self, ctx: &GpuContext, _count: u32) -> Result<Vec<[f32; 4]>, GpuError> {
        self.densifier.stats(ctx)
    }

    fn set_stats(&mut self, ctx: &GpuContext, stats: &[[f32; 4]]) {
        self.densifier.set_stats(ctx, stats);
    }

    fn last_densify(&self) -> Option<DensifyReport> {
        self.last
    }
}

/// MCMC: opacity and scale regularisation, position noise, and every `every` steps relocation
/// of dead Gaussians and growth up to the cap.
pub struct McmcControl {
    cfg: McmcConfig,
    seed: u64,
    mcmc: Mcmc,
}

impl DensityControl for McmcControl {
    fn before_update(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        model: &GpuGaussians,
        _frame: &Frame,
        grads: &GpuGrads,
        _iteration: u32,
    ) {
        self.mcmc.regularize(ctx, enc, model, grads, &self.cfg);
    }

    fn after_update(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        model: &GpuGaussians,
        position_lr: f32,
        iteration: u32,
    ) {
        let scaler = position_lr * self.cfg.noise_lr;
        self.mcmc
            .perturb(ctx, enc, model, scaler, self.seed, iteration);
    }

    fn change_set(
        &mut self,
        ctx: &GpuContext,
        model: &mut GpuGaussians,
        states: &mut [AdamState; 8],
        iteration: u32,
    ) -> Result<bool, TrainError> {
        let m = &self.cfg;
        if iteration > m.from && iteration < m.until && iteration.is_multiple_of(m.every) {
            self.mcmc
                .refine(ctx, model, states, m, self.seed, iteration)
                .map_err(|why| TrainError::Capacity {
                    step: iteration,
                    gaussians: self.mcmc.wanted,
                    why,
                })?;
            // Relocation moves dead Gaussians elsewhere: the grid's neighbours are stale.
            return Ok(true);
        }
        Ok(false)
    }
}

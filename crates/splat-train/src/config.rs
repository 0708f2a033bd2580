//! Training settings: `TrainConfig` (the 3DGS paper's values by default) and the density
//! `Strategy` with its own settings.

use crate::densify::DensifyConfig;

/// How the set of Gaussians changes during training.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Strategy {
    /// A fixed set: the initial Gaussians only move.
    Fixed,
    /// The paper's adaptive density control.
    Adc(DensifyConfig),
    /// Relocation and capped growth with position noise (`mcmc`).
    Mcmc(crate::mcmc::McmcConfig),
}

/// Training settings; `Default` gives the 3DGS paper's values. Serialised (all but the cache
/// size, which changes no result) into each checkpoint, so that a resume with other settings is
/// refused (`run::settings`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainConfig {
    pub steps: u32,
    pub seed: u64,
    /// Weight of D-SSIM in the loss.
    pub lambda: f32,
    /// Position learning rate at the start and after `lr_position_steps` (times the scene
    /// extent), exponential in between and constant after.
    pub lr_position: (f32, f32),
    pub lr_position_steps: u32,
    pub lr_sh_dc: f32,
    pub lr_sh_rest: f32,
    pub lr_opacity: f32,
    pub lr_scale: f32,
    pub lr_rotation: f32,
    pub max_sh_degree: u32,
    /// Steps between SH degree increases (0: every band from the first step).
    pub sh_interval: u32,
    pub background: [f64; 3],
    pub strategy: Strategy,
    /// Longest image side in pixels (photos are downscaled with an area filter); `None` keeps
    /// the photos' size.
    pub resolution: Option<u32>,
    /// Compression-aware training (the SOG grid's neighbour loss and the sort it needs); `None`:
    /// off.
    pub smooth: Option<crate::smooth::SmoothConfig>,
    /// GPU memory for cached photos (training views first, then test views), in bytes; photos
    /// past it, or that the device has no memory for, are uploaded when used.
    #[serde(skip)]
    pub image_cache_bytes: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 30_000,
            seed: 0,
            lambda: 0.2,
            lr_position: (1.6e-4, 1.6e-6),
            lr_position_steps: 30_000,
            lr_sh_dc: 2.5e-3,
            lr_sh_rest: 2.5e-3 / 20.0,
            lr_opacity: 0.05,
            lr_scale: 5e-3,
            lr_rotation: 1e-3,
            max_sh_degree: 3,
            sh_interval: 1000,
            background: [0.0; 3],
            strategy: Strategy::Adc(DensifyConfig::default()),
            resolution: None,
            smooth: None,
            image_cache_bytes: 4 << 30,
        }
    }
}

/// Whether [`TrainConfig::with_schedule_scaled`] scales the opacity reset interval too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetInterval {
    /// The paper's interval (3,000 steps) whatever the run's length: a short run has no reset.
    /// Measured, resets every few hundred steps cost a short run more than they give
    /// (benches/RESULTS.md, "Training").
    Kept,
    /// Scaled like the rest (the former `--scale-schedule`).
    Scaled,
}

impl TrainConfig {
    /// The same settings with the step-based quantities (SH interval, position learning-rate
    /// decay, densification and MCMC windows, and the opacity reset interval when `resets` says
    /// so) multiplied by `factor`: the paper's schedule compressed into a shorter run. The
    /// densification interval is kept: its statistics need that many views to average over
    /// (densifying every few steps multiplies the Gaussians on noise).
    pub fn with_schedule_scaled(mut self, factor: f64, resets: ResetInterval) -> Self {
        let scale = |v: &mut u32| *v = ((f64::from(*v) * factor).round() as u32).max(1);
        scale(&mut self.sh_interval);
        scale(&mut self.lr_position_steps);
        if let Strategy::Adc(d) = &mut self.strategy {
            scale(&mut d.from);
            scale(&mut d.until);
            if d.opacity_reset_every > 0 && resets == ResetInterval::Scaled {
                scale(&mut d.opacity_reset_every);
            }
        }
        if let Strategy::Mcmc(m) = &mut self.strategy {
            scale(&mut m.from);
            scale(&mut m.until);
        }
        if let Some(s) = &mut self.smooth {
            scale(&mut s.from);
            scale(&mut s.sort_every);
        }
        self
    }
}

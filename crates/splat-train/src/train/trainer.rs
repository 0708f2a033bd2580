//! The trainer: one optimisation step renders a training view, takes the photometric loss
//! against its photo, runs the backward pass and one Adam step per parameter group, all on the
//! GPU (only scalars are read back, for logging), and lets the density strategy
//! (`crate::density`) change the set of Gaussians.

use super::init::scene_extent;
use super::views::{TrainView, load_train_and_test};
use crate::config::TrainConfig;
use crate::densify::DensifyReport;
use crate::density::DensityControl;
use crate::error::TrainError;
use crate::loss::{LossEval, LossTerms, PhotometricLoss};
use crate::model::{Gaussians32, GpuGaussians, GpuGrads};
use crate::optim::{Adam, AdamConfig, AdamState};
use crate::raster::{Frame, Rasterizer};
use crate::smooth::{GridMap, Smoothness};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use splat_gpu::GpuContext;
use splat_scene::GaussianCloud;
use splat_scene::dataset::Dataset;

pub struct Trainer<'c> {
    pub(super) ctx: &'c GpuContext,
    pub(super) raster: Rasterizer,
    pub(super) loss: PhotometricLoss,
    adam: Adam,
    pub gaussians: GpuGaussians,
    pub(super) states: [AdamState; 8],
    pub train: Vec<TrainView>,
    pub test: Vec<TrainView>,
    pub extent: f64,
    pub cfg: TrainConfig,
    pub step: u32,
    /// Views left in the current pass, and passes started; each pass's order is drawn from
    /// (seed, pass) alone, so a checkpoint needs only these two to continue the same sequence.
    pub(super) order: Vec<usize>,
    pub(super) epoch: u64,
    /// Reused from step to step.
    frame: Frame,
    eval: LossEval,
    /// Where photos not cached on the GPU are written when used.
    streamed: wgpu::Buffer,
    pub(super) grads: GpuGrads,
    /// How the set of Gaussians changes (the configured strategy).
    pub(super) density: Box<dyn DensityControl>,
    /// Time per stage summed over the steps profiled, when profiling.
    profile: Option<StageTimes>,
    /// The most device memory seen after a step of this trainer (each field its own maximum).
    peak_memory: Option<splat_gpu::DeviceMemory>,
    /// The view the step under way took, and whether it has submitted its parameter update:
    /// a step that fails before that leaves the model as the last step left it.
    current_view: Option<usize>,
    updating: bool,
    /// Compression-aware training's kernels and grid (when `cfg.smooth` asks for it).
    smooth: Option<Smoothness>,
    /// Gaussians faded out as floaters (`fade_floaters`), by index: drawn nowhere and left out
    /// of `download`; forgotten when the set of Gaussians changes (a densification prunes
    /// them, their opacity being far under any threshold).
    faded: Vec<bool>,
}

/// The opacity logit a faded Gaussian gets: σ(−30) ≈ 1e-13, far under the 1/255 below which
/// the rasterizer gives a Gaussian no tiles.
const FADED_LOGIT: f32 = -30.0;

/// Wall time per stage of a training step, summed over steps, in the order stages first ran.
/// Measured by waiting for the device after each stage, which slows training a little: it says
/// where the time goes, not how fast an unprofiled run is.
#[derive(Debug, Clone, Default)]
pub struct StageTimes {
    /// (stage, seconds summed, times run)
    pub stages: Vec<(&'static str, f64, u64)>,
    /// Steps profiled.
    pub steps: u64,
}

impl StageTimes {
    fn add(&mut self, stage: &'static str, secs: f64) {
        match self.stages.iter_mut().find(|s| s.0 == stage) {
            Some(s) => {
                s.1 += secs;
                s.2 += 1;
            }
            None => self.stages.push((stage, secs, 1)),
        }
    }

    /// Seconds over all stages.
    pub fn total(&self) -> f64 {
        self.stages.iter().map(|s| s.1).sum()
    }
}

impl<'c> Trainer<'c> {
    pub fn new(
        ctx: &'c GpuContext,
        data: &Dataset,
        init: &Gaussians32,
        cfg: TrainConfig,
    ) -> Result<Self, TrainError> {
        let extent = scene_extent(&data.model);
        let mut budget = cfg.image_cache_bytes;
        let (train, test) =
            load_train_and_test(ctx, data, cfg.background, cfg.resolution, &mut budget)?;
        let mut gaussians = GpuGaussians::upload(ctx, init)?;
        gaussians.set_active_sh_degree(0);
        let grads = GpuGrads::empty(ctx);
        let states = gaussians.param_groups(&grads).map(|g| g.adam_state(ctx));
        let density = crate::density::for_config(ctx, &cfg, init.len() as u32, extent)?;
        let smooth = match cfg.smooth {
            Some(_) => Some(Smoothness::new(ctx)?),
            None => None,
        };
        Ok(Self {
            ctx,
            raster: Rasterizer::new(ctx)?,
            loss: PhotometricLoss::new(ctx)?,
            adam: Adam::new(AdamConfig::default())?,
            gaussians,
            states,
            train,
            test,
            extent,
            epoch: 0,
            cfg,
            step: 0,
            order: Vec::new(),
            frame: Frame::empty(ctx),
            streamed: splat_gpu::storage_buffer_zeroed(ctx, "target (streamed)", 4),
            eval: LossEval::empty(ctx),
            grads,
            density,
            profile: None,
            peak_memory: None,
            current_view: None,
            updating: false,
            smooth,
            faded: Vec::new(),
        })
    }

    /// Whether the model is exactly what the last completed step left (so a checkpoint of it
    /// resumes as if nothing had failed): true unless a step failed after submitting its
    /// parameter update, or the device has failed.
    pub fn state_intact(&self) -> bool {
        !self.updating && self.ctx.health().is_ok()
    }

    /// Starts (or stops) timing each stage of later steps; see [`StageTimes`].
    pub fn set_profiling(&mut self, on: bool) {
        self.raster.set_profiling(on);
        self.profile = on.then(StageTimes::default);
    }

    /// The stage times gathered since profiling started.
    pub fn profile(&self) -> Option<&StageTimes> {
        self.profile.as_ref()
    }

    /// Device memory wgpu's allocator holds now (`None` where the backend keeps no report).
    pub fn device_memory(&self) -> Option<splat_gpu::DeviceMemory> {
        self.ctx.device_memory()
    }

    /// The name of the device this trainer runs on.
    pub fn device_name(&self) -> &str {
        &self.ctx.info.name
    }

    /// The most device memory wgpu's allocator held after any step of this trainer (not of
    /// earlier runs a checkpoint continues), or `None` where the backend keeps no report. Taken
    /// after each step's work is submitted, while its temporaries are still alive.
    pub fn peak_device_memory(&self) -> Option<splat_gpu::DeviceMemory> {
        self.peak_memory
    }

    fn sample_memory(&mut self) {
        if let Some(now) = self.ctx.device_memory() {
            let peak = self.peak_memory.get_or_insert(now);
            peak.allocated = peak.allocated.max(now.allocated);
            peak.reserved = peak.reserved.max(now.reserved);
        }
    }

    /// When profiling: ends the trainer's stage `stage` on the rasterizer's stage clock.
    fn book(&self, stage: &'static str) -> Result<(), TrainError> {
        Ok(self.raster.mark(self.ctx, None, stage)?)
    }

    /// The SH degree trained by the step that starts after `step` steps: one more every
    /// `sh_interval` steps, up to the configured degree (every band from the start when 0).
    pub(super) fn sh_degree_during(&self, step: u32) -> u32 {
        match self.cfg.sh_interval {
            0 => self.cfg.max_sh_degree,
            every => (step / every).min(self.cfg.max_sh_degree),
        }
    }

    fn position_lr(&self) -> f32 {
        let t = (self.step as f32 / self.cfg.lr_position_steps.max(1) as f32).clamp(0.0, 1.0);
        let (a, b) = self.cfg.lr_position;
        ((a.ln() * (1.0 - t) + b.ln() * t).exp()) * self.extent as f32
    }

    /// One optimisation step on the next training view; returns the loss when `read_loss`.
    /// A frame the device has no room for is a `Capacity` error naming the Gaussian count (or
    /// `FrameTooLarge`, naming the view's size, when its image alone is too large).
    /// Once the device has failed (lost, or an error in submitted work) every step is an error,
    /// and so is every readback (the loss, a checkpoint, the model): nothing computed after the
    /// failure is used.
    pub fn step(&mut self, read_loss: bool) -> Result<Option<LossTerms>, TrainError> {
        // Some of wgpu's helpers panic on a lost device: ask first. (A failure in this step's
        // own work is reported by the device later: the next step's check or any readback
        // refuses it.)
        self.ctx.health()?;
        self.updating = false;
        let out = self.step_inner(read_loss);
        let size = self
            .current_view
            .and_then(|vi| self.train.get(vi))
            .map_or((0, 0), |tv| (tv.view.width, tv.view.height));
        if out.is_err() && !self.updating {
            // Nothing changed: the view it took goes back, for the next try to take.
            if let Some(vi) = self.current_view.take() {
                self.order.push(vi);
            }
        }
        if out.is_ok() {
            self.updating = false;
        }
        self.sample_memory();
        out.map_err(|e| TrainError::at_capacity(e, self.step + 1, self.gaussians.count, size))
    }

    fn step_inner(&mut self, read_loss: bool) -> Result<Option<LossTerms>, TrainError> {
        if self.order.is_empty() {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(
                self.cfg.seed ^ self.epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            self.order = (0..self.train.len()).collect();
            self.order.shuffle(&mut rng);
            self.epoch += 1;
        }
        let vi = self.order.pop().unwrap_or(0);
        self.current_view = Some(vi);
        // Renders between steps (evaluations) are not part of a step's profile.
        self.raster.take_profile();
        self.sort_into_grid_if_due(self.step + 1)?;
        self.gaussians
            .set_active_sh_degree(self.sh_degree_during(self.step));
        let ctx = self.ctx;
        let tv = &self.train[vi];
        self.raster
            .forward_into(ctx, &self.gaussians, &tv.view, &mut self.frame)?;
        let (size, lambda) = ((tv.view.width, tv.view.height), self.cfg.lambda);
        let target = tv.target(ctx, &mut self.streamed);
        self.loss.evaluate_into(
            ctx,
            &self.frame.out_color,
            &target,
            size,
            lambda,
            &mut self.eval,
        )?;
        self.book("loss + target upload")?;
        self.raster.backward_into(
            ctx,
            &self.gaussians,
            &self.frame,
            &self.eval.d_image,
            &mut self.grads,
        )?;
        let c = &self.cfg;
        let lrs = [
            self.position_lr(),
            c.lr_scale,
            c.lr_rotation,
            c.lr_opacity,
            c.lr_sh_dc,
            c.lr_sh_rest,
            c.lr_sh_rest,
            c.lr_sh_rest,
        ];
        let mut enc = ctx.encoder("adam");
        let iteration = self.step + 1;
        self.density.before_update(
            ctx,
            &mut enc,
            &self.gaussians,
            &self.frame,
            &self.grads,
            iteration,
        );
        if let (Some(smooth), Some(sc)) = (self.smooth.as_mut(), self.cfg.smooth.as_ref()) {
            smooth.record(ctx, &mut enc, &self.gaussians, &self.grads, sc);
        }
        for ((state, group), lr) in self
            .states
            .iter_mut()
            .zip(self.gaussians.param_groups(&self.grads))
            .zip(lrs)
        {
            self.adam.step(ctx, &mut enc, state, group.step(lr))?;
        }
        self.density
            .after_update(ctx, &mut enc, &self.gaussians, lrs[0], iteration);
        self.updating = true;
        ctx.queue.submit([enc.finish()]);
        self.book("optimizer (Adam, statistics)")?;
        let changed =
            self.density
                .change_set(ctx, &mut self.gaussians, &mut self.states, iteration)?;
        if changed {
            self.faded.clear();
            if let Some(smooth) = self.smooth.as_mut() {
                smooth.clear_grid();
            }
        }
        self.book("density control")?;
        self.step += 1;
        let terms = if read_loss {
            Some(self.eval.terms(ctx)?)
        } else {
            None
        };
        self.book("loss readback")?;
        if let Some(p) = self.profile.as_mut() {
            for (stage, secs) in self.raster.take_profile() {
                p.add(stage, secs);
            }
            p.steps += 1;
        }
        Ok(terms)
    }

    /// Compression-aware training: before step `iteration` (1-based), sorts the Gaussians into
    /// the grid of their SOG images (PLAS, as `splat compress` sorts) when the
    /// loss is on and the grid is missing (the first step, a resume, a changed set) or
    /// `sort_every` steps old.
    fn sort_into_grid_if_due(&mut self, iteration: u32) -> Result<(), TrainError> {
        let (Some(smooth), Some(sc)) = (self.smooth.as_mut(), self.cfg.smooth.as_ref()) else {
            return Ok(());
        };
        let due = iteration >= sc.from
            && (smooth.grid().is_none()
                || (iteration - sc.from).is_multiple_of(sc.sort_every.max(1)));
        if !due || self.gaussians.count < 2 {
            return Ok(());
        }
        let cloud = self.gaussians.read(self.ctx)?.to_cloud();
        let layout = splat_sogs::layout::GridLayout::for_count(cloud.len());
        let (order, _) = splat_sogs::order::texel_order(
            &cloud,
            &layout,
            splat_sogs::order::Ordering::Plas,
            &splat_sogs::order::KeyWeights::default(),
            &splat_sogs::plas::PlasOptions::default(),
            // PLAS on the GPU is faster on a real one, the CPU's code on a CPU device (as
            // `splat compress` chooses).
            (!self.ctx.is_cpu()).then_some(self.ctx),
            &|_, _| {},
        )?;
        smooth.set_grid(self.ctx, GridMap::from_order(&order, layout.width as u32));
        self.book("SOG grid sort")
    }

    /// The grid compression-aware training uses now, if any.
    pub fn smoothness_grid(&self) -> Option<&GridMap> {
        self.smooth.as_ref().and_then(Smoothness::grid)
    }

    /// Whether step `iteration` (1-based) ends by setting every opacity to 0.01 (the paper's
    /// opacity reset, `DensifyConfig::resets_opacity_at`): the model right after it renders
    /// nearly empty until later steps recover.
    pub fn resets_opacity_at(&self, iteration: u32) -> bool {
        self.density.resets_opacity_at(iteration)
    }

    /// What the last densification did (adaptive density control).
    pub fn last_densify(&self) -> Option<DensifyReport> {
        self.density.last_densify()
    }

    /// Gaussians in the model now.
    /// Training and test photos cached on the GPU, and how many there are in all.
    pub fn cached_views(&self) -> (usize, usize) {
        let all = self.train.iter().chain(&self.test);
        let cached = all.clone().filter(|v| v.cached.is_some()).count();
        (cached, all.count())
    }

    /// The Gaussians in the model, less those faded out as floaters.
    pub fn gaussian_count(&self) -> u32 {
        let faded = self.faded.iter().filter(|&&f| f).count() as u32;
        self.gaussians.count - faded
    }

    /// Fades out the floaters near the capture path — the Gaussians that only training cameras
    /// more than `ratio` times farther than the nearest one they lie in front of have in their
    /// picture (`crate::floaters`) — so that nothing draws them and `download` leaves them out;
    /// meant for after the last step (a densification after it would prune them). Returns how
    /// many.
    pub fn fade_floaters(&mut self, ratio: f64) -> Result<usize, TrainError> {
        let ctx = self.ctx;
        ctx.health()?;
        let n = self.gaussians.count as usize;
        let means: Vec<[f32; 3]> = splat_gpu::readback(ctx, &self.gaussians.means, n)?;
        let views: Vec<crate::view::View> = self.train.iter().map(|v| v.view.clone()).collect();
        let found = crate::floaters::seen_only_from_afar(&means, &views, ratio);
        let mut faded = std::mem::take(&mut self.faded);
        faded.resize(n, false);
        let new: Vec<usize> = (0..n).filter(|&i| found[i] && !faded[i]).collect();
        if !new.is_empty() {
            let mut opacities: Vec<f32> = splat_gpu::readback(ctx, &self.gaussians.opacities, n)?;
            for &i in &new {
                opacities[i] = FADED_LOGIT;
                faded[i] = true;
            }
            ctx.queue.write_buffer(
                &self.gaussians.opacities,
                0,
                bytemuck::cast_slice(&opacities),
            );
        }
        self.faded = faded;
        Ok(new.len())
    }

    /// The current model as a PLY cloud, without the Gaussians faded out as floaters; under
    /// compression-aware training in the order of its grid (row-major), which `splat compress`
    /// then starts its sort from.
    pub fn download(&self) -> Result<GaussianCloud, TrainError> {
        self.ctx.health()?;
        let g = self.gaussians.read(self.ctx)?;
        let order = self
            .smoothness_grid()
            .and_then(|grid| grid_order(grid, g.len()));
        let any_faded = self.faded.contains(&true);
        Ok(match (order, any_faded) {
            (None, false) => g.to_cloud(),
            (order, _) => {
                let kept: Vec<usize> = order
                    .unwrap_or_else(|| (0..g.len()).collect())
                    .into_iter()
                    .filter(|&i| self.faded.get(i) != Some(&true))
                    .collect();
                crate::compact::select(&g, &kept, g.sh_degree).to_cloud()
            }
        })
    }
}

/// The Gaussians of `grid` in row-major order, when it holds each of `0..count` exactly once.
fn grid_order(grid: &GridMap, count: usize) -> Option<Vec<usize>> {
    let order: Vec<usize> = grid
        .ids
        .iter()
        .filter(|&&id| id != crate::smooth::EMPTY)
        .map(|&id| id as usize)
        .collect();
    let mut seen = vec![false; count];
    for &id in &order {
        if id >= count || std::mem::replace(&mut seen[id], true) {
            return None;
        }
    }
    (order.len() == count).then_some(order)
}

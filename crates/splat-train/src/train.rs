//! The training loop: render a training view, the photometric loss against its photo, the
//! backward pass and one Adam step per parameter group, all on the GPU; only scalars are read
//! back for logging. Adaptive density control (`densify`) runs between steps on the schedule of
//! `DensifyConfig`. Defaults are the 3DGS paper's.

use crate::checkpoint::{Checkpoint, Header};
use crate::densify::{Densifier, DensifyConfig, DensifyReport, DensifyRule};
use crate::loss::{LossEval, LossTerms, PhotometricLoss};
use crate::model::{Gaussians32, GpuGaussians, GpuGrads};
use crate::optim::{Adam, AdamConfig, AdamState};
use crate::raster::{Frame, Rasterizer};
use crate::sh::{SH_C0, coeff_count};
use crate::view::View;
use gpu::{GpuContext, GpuError, storage_buffer};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use scene::dataset::Dataset;
use scene::{GaussianCloud, Reconstruction, SceneError};

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

/// How the set of Gaussians changes during training.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// A fixed set: the initial Gaussians only move.
    Fixed,
    /// The paper's adaptive density control.
    Adc(DensifyConfig),
    /// Relocation and capped growth with position noise (`mcmc`).
    Mcmc(crate::mcmc::McmcConfig),
}

/// Training settings; `Default` gives the 3DGS paper's values.
#[derive(Debug, Clone, PartialEq)]
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
    /// Steps between SH degree increases.
    pub sh_interval: u32,
    pub background: [f64; 3],
    pub strategy: Strategy,
    /// Longest image side in pixels (photos are downscaled with an area filter); `None` keeps
    /// the photos' size.
    pub resolution: Option<u32>,
    /// GPU memory for cached photos (training views first, then test views), in bytes; photos
    /// past it, or that the device has no memory for, are uploaded when used.
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
            image_cache_bytes: 4 << 30,
        }
    }
}

impl TrainConfig {
    /// The same settings with every step-based quantity (SH interval, position learning-rate
    /// decay, densification window, opacity reset) multiplied by `factor`: the paper's schedule
    /// compressed into a shorter run. The densification interval is kept: its statistics need
    /// that many views to average over (densifying every few steps multiplies the Gaussians on
    /// noise).
    pub fn with_schedule_scaled(mut self, factor: f64) -> Self {
        let scale = |v: &mut u32| *v = ((f64::from(*v) * factor).round() as u32).max(1);
        scale(&mut self.sh_interval);
        scale(&mut self.lr_position_steps);
        if let Strategy::Adc(d) = &mut self.strategy {
            scale(&mut d.from);
            scale(&mut d.until);
            if d.opacity_reset_every > 0 {
                scale(&mut d.opacity_reset_every);
            }
        }
        if let Strategy::Mcmc(m) = &mut self.strategy {
            scale(&mut m.from);
            scale(&mut m.until);
        }
        self
    }
}

/// 1.1 × the largest distance of a camera centre from their mean (the 3DGS "cameras extent").
pub fn scene_extent(model: &Reconstruction) -> f64 {
    let centres: Vec<_> = model.images.values().map(|i| i.center()).collect();
    if centres.is_empty() {
        return 1.0;
    }
    let mean = centres
        .iter()
        .fold(nalgebra::Vector3::zeros(), |a, c| a + c)
        / centres.len() as f64;
    (1.1 * centres
        .iter()
        .map(|c| (c - mean).norm())
        .fold(0.0, f64::max))
    .max(1e-6)
}

/// The near plane used for a dataset: 1 % of its extent (Gaussians closer to a camera are culled).
pub fn default_near(model: &Reconstruction) -> f64 {
    0.01 * scene_extent(model)
}

fn inverse_sigmoid(x: f32) -> f32 {
    (x / (1.0 - x)).ln()
}

/// Gaussians at the sparse points: colour from the point, isotropic scale from the RMS distance
/// to the 3 nearest neighbours, opacity 0.1; without points, 100k random points in the
/// [−1.3, 1.3]³ cube (the reference's choice for synthetic scenes).
pub fn initial_gaussians(model: &Reconstruction, sh_degree: u32, seed: u64) -> Gaussians32 {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let (points, colours): (Vec<[f32; 3]>, Vec<[f32; 3]>) = if model.points3d.is_empty() {
        (0..100_000)
            .map(|_| {
                let p = [0; 3].map(|_| rng.random_range(-1.3f32..1.3));
                (
                    p,
                    [0; 3].map(|_| rng.random_range(0.0f32..1.0) / 255.0 * SH_C0 as f32 + 0.5),
                )
            })
            .unzip()
    } else {
        model
            .points3d
            .values()
            .map(|p| (p.xyz.map(|v| v as f32), p.rgb.map(|c| f32::from(c) / 255.0)))
            .unzip()
    };
    let n = points.len();
    // Brute-force 3-NN, parallel: fine for the sizes SfM gives (tens of thousands).
    use rayon::prelude::*;
    let log_scales: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut best = [f32::MAX; 3];
            for (j, q) in points.iter().enumerate() {
                if i == j {
                    continue;
                }
                let d2 = (0..3).map(|k| (points[i][k] - q[k]).powi(2)).sum::<f32>();
                if d2 < best[2] {
                    best[2] = d2;
                    best.sort_by(f32::total_cmp);
                }
            }
            let used: Vec<f32> = best.iter().copied().filter(|d| *d < f32::MAX).collect();
            let mean = if used.is_empty() {
                1e-2
            } else {
                used.iter().sum::<f32>() / used.len() as f32
            };
            mean.max(1e-7).sqrt().ln()
        })
        .collect();
    let k = coeff_count(sh_degree);
    let mut sh = vec![0.0f32; n * k * 3];
    for (i, c) in colours.iter().enumerate() {
        for ch in 0..3 {
            sh[i * k * 3 + ch] = (c[ch] - 0.5) / SH_C0 as f32;
        }
    }
    Gaussians32 {
        sh_degree,
        means: points.iter().flatten().copied().collect(),
        log_scales: log_scales.iter().flat_map(|&s| [s, s, s]).collect(),
        quats: (0..n).flat_map(|_| [1.0, 0.0, 0.0, 0.0]).collect(),
        opacities: vec![inverse_sigmoid(0.1); n],
        sh,
    }
}

/// A posed photo, cached on the GPU when it fit.
pub struct TrainView {
    pub name: String,
    pub view: View,
    /// `[r, g, b, 1]` per pixel, when cached on the GPU.
    pub cached: Option<wgpu::Buffer>,
    pub pixels: Vec<[f32; 3]>,
}

impl TrainView {
    fn rgba(&self) -> Vec<[f32; 4]> {
        self.pixels
            .iter()
            .map(|p| [p[0], p[1], p[2], 1.0])
            .collect()
    }

    /// Bytes of the photo on the GPU.
    pub fn gpu_bytes(&self) -> u64 {
        self.pixels.len() as u64 * 16
    }

    /// The photo on the GPU as `[r, g, b, 1]` per pixel: the cached buffer, or `scratch` (grown
    /// when needed) with the photo written into it. Queue writes land before the next
    /// submission, after every earlier one, so one scratch buffer serves every step.
    pub fn target(&self, ctx: &GpuContext, scratch: &mut wgpu::Buffer) -> wgpu::Buffer {
        if let Some(b) = &self.cached {
            return b.clone();
        }
        let buf = gpu::reuse_buffer(ctx, scratch, self.gpu_bytes(), "target (streamed)");
        // Written in place into the queue's staging memory: no per-step copy of the photo.
        if let Some(size) = wgpu::BufferSize::new(self.gpu_bytes())
            && let Some(mut staged) = ctx.queue.write_buffer_with(&buf, 0, size)
        {
            staged.slice(..).write_iter(
                self.pixels
                    .iter()
                    .flat_map(|p| [p[0], p[1], p[2], 1.0f32])
                    .flat_map(f32::to_ne_bytes),
            );
        }
        buf
    }
}

/// The test (or training) photos of `data`, alpha composited over `background`, downscaled
/// (area filter, intrinsics scaled alike) to a longest side of `resolution` pixels, cached on
/// the GPU while `cache_budget` (bytes, reduced by what is cached) lasts and the device has
/// memory for them.
pub fn load_views(
    ctx: &GpuContext,
    data: &Dataset,
    test: bool,
    background: [f64; 3],
    near: f64,
    resolution: Option<u32>,
    cache_budget: &mut u64,
) -> Result<Vec<TrainView>, TrainError> {
    let images = if test {
        data.test_images()
    } else {
        data.train_images()
    };
    images
        .into_iter()
        .map(|im| {
            let cam = &data.model.cameras[&im.camera_id];
            let mut view = View::from_colmap(cam, im, near, background).ok_or_else(|| {
                TrainError::Data(format!(
                    "image '{}' has a {} camera; run `splat undistort` first",
                    im.name, cam.model
                ))
            })?;
            let path = data.image_root.join(&im.name);
            let img = scene::images::load_rgb(&path, background.map(|v| v as f32))?;
            if u64::from(img.width()) != cam.width || u64::from(img.height()) != cam.height {
                return Err(TrainError::Data(format!(
                    "{}: {}x{} pixels, but its camera says {}x{}",
                    path.display(),
                    img.width(),
                    img.height(),
                    cam.width,
                    cam.height
                )));
            }
            let (w, h) =
                scene::images::fit_longest(view.width, view.height, resolution.unwrap_or(0));
            let img = if (w, h) != (view.width, view.height) {
                let (sx, sy) = (
                    f64::from(w) / f64::from(view.width),
                    f64::from(h) / f64::from(view.height),
                );
                view.fx *= sx;
                view.cx *= sx;
                view.fy *= sy;
                view.cy *= sy;
                view.width = w;
                view.height = h;
                scene::images::resize_area(&img, w, h)
            } else {
                img
            };
            let mut tv = TrainView {
                name: im.name.clone(),
                view,
                cached: None,
                pixels: img.pixels().map(|p| p.0).collect(),
            };
            let bytes = tv.gpu_bytes();
            if bytes <= *cache_budget {
                // Out of device memory is not an error here: the photo is streamed instead.
                let rgba = tv.rgba();
                tv.cached = ctx
                    .checked("caching a photo", || {
                        Ok(storage_buffer(ctx, "target", &rgba))
                    })
                    .ok();
                if tv.cached.is_some() {
                    *cache_budget -= bytes;
                } else {
                    *cache_budget = 0;
                }
            }
            Ok(tv)
        })
        .collect()
}

/// How well a model reproduces one photo (serialised as `{"image", "psnr", "ssim"}`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ViewScore {
    #[serde(rename = "image")]
    pub name: String,
    pub psnr: f64,
    pub ssim: f64,
}

/// Scores of a set of views and their means.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub psnr: f64,
    pub ssim: f64,
    pub views: Vec<ViewScore>,
}

impl Evaluation {
    pub fn of(views: Vec<ViewScore>) -> Self {
        let n = views.len().max(1) as f64;
        Self {
            psnr: views.iter().map(|v| v.psnr).sum::<f64>() / n,
            ssim: views.iter().map(|v| v.ssim).sum::<f64>() / n,
            views,
        }
    }
}

/// PSNR (render clamped to [0, 1]) and SSIM (11×11 Gaussian window, as the loss) of `g` on
/// each of `views`.
pub fn score_views(
    ctx: &GpuContext,
    raster: &Rasterizer,
    loss: &PhotometricLoss,
    g: &GpuGaussians,
    views: &[TrainView],
) -> Result<Vec<ViewScore>, TrainError> {
    let mut frame = Frame::empty(ctx);
    let mut eval = LossEval::empty(ctx);
    let mut scratch = gpu::storage_buffer_zeroed(ctx, "target (streamed)", 4);
    views
        .iter()
        .map(|tv| {
            raster.forward_into(ctx, g, &tv.view, &mut frame)?;
            let size = (tv.view.width, tv.view.height);
            let target = tv.target(ctx, &mut scratch);
            loss.evaluate_into(ctx, &frame.out_color, &target, size, 0.2, &mut eval)?;
            Ok(ViewScore {
                name: tv.name.clone(),
                psnr: psnr(&frame.read_color(ctx)?, &tv.pixels),
                ssim: eval.terms(ctx)?.ssim,
            })
        })
        .collect()
}

/// PSNR (dB) of a render against a photo, the render clamped to [0, 1].
pub fn psnr(render: &[[f32; 4]], target: &[[f32; 3]]) -> f64 {
    let mse = render
        .iter()
        .zip(target)
        .map(|(a, b)| {
            (0..3)
                .map(|c| (f64::from(a[c].clamp(0.0, 1.0)) - f64::from(b[c])).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / (3 * target.len()) as f64;
    10.0 * (1.0 / mse.max(1e-20)).log10()
}

pub struct Trainer<'c> {
    ctx: &'c GpuContext,
    raster: Rasterizer,
    loss: PhotometricLoss,
    adam: Adam,
    pub gaussians: GpuGaussians,
    states: [AdamState; 8],
    pub train: Vec<TrainView>,
    pub test: Vec<TrainView>,
    pub extent: f64,
    pub cfg: TrainConfig,
    pub step: u32,
    /// Views left in the current pass, and passes started; each pass's order is drawn from
    /// (seed, pass) alone, so a checkpoint needs only these two to continue the same sequence.
    order: Vec<usize>,
    epoch: u64,
    /// Reused from step to step.
    frame: Frame,
    eval: LossEval,
    /// Where photos not cached on the GPU are written when used.
    streamed: wgpu::Buffer,
    grads: GpuGrads,
    densifier: Densifier,
    mcmc: crate::mcmc::Mcmc,
    /// What the last densification did.
    pub last_densify: Option<DensifyReport>,
    /// What the last MCMC refinement did.
    pub last_refine: Option<crate::mcmc::RefineReport>,
    /// Time per stage summed over the steps profiled, when profiling.
    profile: Option<StageTimes>,
    /// The most device memory seen after a step of this trainer (each field its own maximum).
    peak_memory: Option<gpu::DeviceMemory>,
    /// The view the step under way took, and whether it has submitted its parameter update:
    /// a step that fails before that leaves the model as the last step left it.
    current_view: Option<usize>,
    updating: bool,
}

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
        let near = default_near(&data.model);
        let mut budget = cfg.image_cache_bytes;
        let train = load_views(
            ctx,
            data,
            false,
            cfg.background,
            near,
            cfg.resolution,
            &mut budget,
        )?;
        if train.is_empty() {
            return Err(TrainError::Data("no training images".into()));
        }
        let test = load_views(
            ctx,
            data,
            true,
            cfg.background,
            near,
            cfg.resolution,
            &mut budget,
        )?;
        let mut gaussians = GpuGaussians::upload(ctx, init)?;
        gaussians.set_active_sh_degree(0);
        let grads = GpuGrads::empty(ctx);
        let states = gaussians.param_groups(&grads).map(|g| g.adam_state(ctx));
        Ok(Self {
            ctx,
            raster: Rasterizer::new(ctx)?,
            loss: PhotometricLoss::new(ctx)?,
            adam: Adam::new(ctx, AdamConfig::default())?,
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
            streamed: gpu::storage_buffer_zeroed(ctx, "target (streamed)", 4),
            eval: LossEval::empty(ctx),
            grads,
            densifier: Densifier::new(ctx, init.len() as u32)?,
            mcmc: crate::mcmc::Mcmc::new(ctx)?,
            last_densify: None,
            last_refine: None,
            profile: None,
            peak_memory: None,
            current_view: None,
            updating: false,
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

    /// The most device memory wgpu's allocator held after any step of this trainer (not of
    /// earlier runs a checkpoint continues), or `None` where the backend keeps no report. Taken
    /// after each step's work is submitted, while its temporaries are still alive.
    pub fn peak_device_memory(&self) -> Option<gpu::DeviceMemory> {
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
    /// `sh_interval` steps, up to the configured degree.
    fn sh_degree_during(&self, step: u32) -> u32 {
        (step / self.cfg.sh_interval.max(1)).min(self.cfg.max_sh_degree)
    }

    fn position_lr(&self) -> f32 {
        let t = (self.step as f32 / self.cfg.lr_position_steps.max(1) as f32).clamp(0.0, 1.0);
        let (a, b) = self.cfg.lr_position;
        ((a.ln() * (1.0 - t) + b.ln() * t).exp()) * self.extent as f32
    }

    /// One optimisation step on the next training view; returns the loss when `read_loss`.
    /// A frame the device has no room for is a `Capacity` error naming the Gaussian count.
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
        out.map_err(|e| match e {
            TrainError::Gpu(why @ (GpuError::OutOfMemory(_) | GpuError::TooLarge { .. })) => {
                TrainError::Capacity {
                    step: self.step + 1,
                    gaussians: self.gaussians.count,
                    why,
                }
            }
            e => e,
        })
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
        // No density control on a run's last step: the model written is the optimiser's, not
        // one with fresh, untrained clones.
        let densify = match &self.cfg.strategy {
            Strategy::Adc(d) if iteration < d.until && iteration < self.cfg.steps => {
                Some(d.clone())
            }
            _ => None,
        };
        if densify.is_some() {
            self.densifier
                .accumulate(ctx, &mut enc, &self.frame, &self.grads);
        }
        if let Strategy::Mcmc(m) = &self.cfg.strategy {
            self.mcmc
                .regularize(ctx, &mut enc, &self.gaussians, &self.grads, m);
        }
        for ((state, group), lr) in self
            .states
            .iter_mut()
            .zip(self.gaussians.param_groups(&self.grads))
            .zip(lrs)
        {
            self.adam.step(ctx, &mut enc, state, group.step(lr))?;
        }
        if let Strategy::Mcmc(m) = &self.cfg.strategy {
            let scaler = self.position_lr() * m.noise_lr;
            self.mcmc.perturb(
                ctx,
                &mut enc,
                &self.gaussians,
                scaler,
                self.cfg.seed,
                iteration,
            );
        }
        self.updating = true;
        ctx.queue.submit([enc.finish()]);
        self.book("optimizer (Adam, statistics)")?;
        if let Some(d) = densify {
            self.control_density(&d, iteration)?;
        }
        if let Strategy::Mcmc(m) = &self.cfg.strategy
            && iteration > m.from
            && iteration < m.until
            && iteration.is_multiple_of(m.every)
        {
            let report = self
                .mcmc
                .refine(
                    ctx,
                    &mut self.gaussians,
                    &mut self.states,
                    m,
                    self.cfg.seed,
                    iteration,
                )
                .map_err(|why| TrainError::Capacity {
                    step: iteration,
                    gaussians: self.mcmc.wanted,
                    why,
                })?;
            self.densifier.reset_stats(ctx, self.gaussians.count);
            self.last_refine = Some(report);
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

    /// Whether step `iteration` (1-based) ends by setting every opacity to 0.01 (the paper's
    /// opacity reset, `DensifyConfig::resets_opacity_at`): the model right after it renders
    /// nearly empty until later steps recover.
    pub fn resets_opacity_at(&self, iteration: u32) -> bool {
        let Strategy::Adc(d) = &self.cfg.strategy else {
            return false;
        };
        let white = self.cfg.background.iter().all(|&c| c >= 1.0);
        d.resets_opacity_at(iteration, self.cfg.steps, white)
    }

    /// The paper's schedule after step `iteration` (1-based), while densification is on:
    /// densify every `every` steps after `from`, reset opacities every `opacity_reset_every`
    /// steps (and once at `from` on a white background, as the reference does) while a reset
    /// interval remains to recover in.
    fn control_density(&mut self, d: &DensifyConfig, iteration: u32) -> Result<(), TrainError> {
        let ctx = self.ctx;
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
                seed: self.cfg.seed,
                step: iteration,
            };
            let report = self
                .densifier
                .densify(ctx, &mut self.gaussians, &mut self.states, &rule)
                .map_err(|why| TrainError::Capacity {
                    step: iteration,
                    gaussians: self.densifier.wanted,
                    why,
                })?;
            self.last_densify = Some(report);
        }
        if self.resets_opacity_at(iteration) {
            self.densifier
                .reset_opacity(ctx, &self.gaussians, &self.states[3], 0.01);
        }
        Ok(())
    }

    /// Everything needed to continue this run exactly (see `checkpoint`).
    pub fn checkpoint(&self) -> Result<Checkpoint, TrainError> {
        let ctx = self.ctx;
        let g = self.gaussians.read(ctx)?;
        let mut arrays = vec![
            ("means".to_string(), g.means),
            ("log_scales".into(), g.log_scales),
            ("quats".into(), g.quats),
            ("opacities".into(), g.opacities),
            ("sh".into(), g.sh),
        ];
        for (i, s) in self.states.iter().enumerate() {
            let len = s.count as usize * s.dim as usize;
            arrays.push((format!("adam{i}.m1"), gpu::readback(ctx, &s.m1, len)?));
            arrays.push((format!("adam{i}.m2"), gpu::readback(ctx, &s.m2, len)?));
        }
        let stats = self.densifier.stats(ctx)?;
        arrays.push((
            "densify_stats".into(),
            stats.into_iter().flatten().collect(),
        ));
        Ok(Checkpoint {
            header: Header {
                step: self.step,
                seed: self.cfg.seed,
                epoch: self.epoch,
                order: self.order.clone(),
                count: self.gaussians.count,
                sh_degree: self.gaussians.sh_degree,
                adam_steps: self.states.iter().map(|s| s.step).collect(),
                elapsed_s: 0.0,
                arrays: arrays
                    .iter()
                    .map(|(n, a)| (n.clone(), a.len() as u64))
                    .collect(),
            },
            data: arrays.into_iter().map(|(_, a)| a).collect(),
        })
    }

    /// Continues from `c` (a checkpoint of a run with the same data and settings).
    pub fn restore(&mut self, c: &Checkpoint) -> Result<(), TrainError> {
        let bad =
            |m: String| TrainError::Data(format!("checkpoint at step {}: {m}", c.header.step));
        let h = &c.header;
        if h.sh_degree != self.gaussians.sh_degree {
            return Err(bad(format!(
                "SH degree {} but this run trains degree {}",
                h.sh_degree, self.gaussians.sh_degree
            )));
        }
        if h.order.iter().any(|&v| v >= self.train.len()) || h.adam_steps.len() != 8 {
            return Err(bad("it was made on other data".into()));
        }
        let get = |name: &str| {
            c.array(name)
                .ok_or_else(|| bad(format!("no array '{name}'")))
        };
        let n = h.count as usize;
        let g = Gaussians32 {
            sh_degree: h.sh_degree,
            means: get("means")?.to_vec(),
            log_scales: get("log_scales")?.to_vec(),
            quats: get("quats")?.to_vec(),
            opacities: get("opacities")?.to_vec(),
            sh: get("sh")?.to_vec(),
        };
        let k = coeff_count(h.sh_degree);
        if g.means.len() != 3 * n
            || g.log_scales.len() != 3 * n
            || g.quats.len() != 4 * n
            || g.opacities.len() != n
            || g.sh.len() != 3 * k * n
        {
            return Err(bad("its parameter arrays disagree with its count".into()));
        }
        let ctx = self.ctx;
        let mut gaussians = GpuGaussians::upload(ctx, &g)?;
        // The degree the checkpoint's last step trained, so that evaluating right after a
        // restore renders as the run did at that step.
        gaussians.set_active_sh_degree(
            h.step
                .checked_sub(1)
                .map_or(0, |s| self.sh_degree_during(s)),
        );
        let mut states = gaussians
            .param_groups(&self.grads)
            .map(|p| p.adam_state(ctx));
        for (i, s) in states.iter_mut().enumerate() {
            let len = s.count as usize * s.dim as usize;
            let m1 = get(&format!("adam{i}.m1"))?;
            let m2 = get(&format!("adam{i}.m2"))?;
            if m1.len() != len || m2.len() != len {
                return Err(bad(format!(
                    "Adam moments of group {i} have the wrong size"
                )));
            }
            s.m1 = gpu::storage_buffer(ctx, "adam m1", m1);
            s.m2 = gpu::storage_buffer(ctx, "adam m2", m2);
            s.step = h.adam_steps[i];
        }
        let stats: Vec<[f32; 4]> = get("densify_stats")?
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect();
        if stats.len() != n {
            return Err(bad("densification statistics have the wrong size".into()));
        }
        self.densifier.set_stats(ctx, &stats);
        self.gaussians = gaussians;
        self.states = states;
        self.step = h.step;
        self.epoch = h.epoch;
        self.order = h.order.clone();
        Ok(())
    }

    /// Gaussians in the model now.
    /// Training and test photos cached on the GPU, and how many there are in all.
    pub fn cached_views(&self) -> (usize, usize) {
        let all = self.train.iter().chain(&self.test);
        let cached = all.clone().filter(|v| v.cached.is_some()).count();
        (cached, all.count())
    }

    pub fn gaussian_count(&self) -> u32 {
        self.gaussians.count
    }

    /// The views evaluation uses: the test views, or the training views when none is held out.
    pub fn eval_views(&self) -> &[TrainView] {
        if self.test.is_empty() {
            &self.train
        } else {
            &self.test
        }
    }

    /// Mean PSNR over the test views (the training views when there are none).
    pub fn evaluate(&self) -> Result<f64, TrainError> {
        Ok(self.evaluate_full()?.psnr)
    }

    /// PSNR and SSIM of every test view (the training views when there are none) and their means.
    pub fn evaluate_full(&self) -> Result<Evaluation, TrainError> {
        let views = score_views(
            self.ctx,
            &self.raster,
            &self.loss,
            &self.gaussians,
            self.eval_views(),
        )?;
        Ok(Evaluation::of(views))
    }

    /// Renders one view with the current model.
    pub fn render(&self, view: &View) -> Result<crate::raster::RenderOutput, TrainError> {
        Ok(self.raster.render(self.ctx, &self.gaussians, view)?)
    }

    /// The current model as a PLY cloud.
    pub fn download(&self) -> Result<GaussianCloud, TrainError> {
        self.ctx.health()?;
        Ok(self.gaussians.read(self.ctx)?.to_cloud())
    }
}

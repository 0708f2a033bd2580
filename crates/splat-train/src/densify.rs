//! Adaptive density control (the 3DGS paper's clone / split / prune, and the opacity reset):
//! host side of `densify.wgsl`. Statistics accumulate on the GPU after every backward
//! pass; a densification decides per Gaussian, scans the copy counts into offsets and writes
//! new parameter and Adam-moment arrays at those offsets, so the model never leaves the GPU.
//! Only the new count and a four-number tally are read back.

use crate::constants::geom_constants;
use crate::model::{GpuGaussians, GpuGrads};
use crate::optim::AdamState;
use crate::raster::Frame;
use crate::rebuild::{Role, rebuild};
use splat_gpu::{
    GpuContext, GpuError, Kernel, PrefixScan, Shader, ShaderSource, readback, storage_buffer,
    storage_buffer_zeroed, uniform_buffer, wgsl_layout,
};

/// The densification kernels' source (the shared random-number functions, then the kernels).
pub fn densify_source() -> ShaderSource {
    ShaderSource {
        label: "densify",
        parts: vec![include_str!("random.wgsl"), include_str!("densify.wgsl")],
        constants: geom_constants(),
        layouts: vec![wgsl_layout!(DensifyParams as "DensifyParams" {
            count, dim, kind, step, seed, half_width, half_height, grad_threshold,
            clone_max_scale, opacity_logit, max_world_scale, max_screen_radius
        })],
    }
}

/// When and how to densify; `Default` gives the 3DGS paper's values.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DensifyConfig {
    /// Densify every `every` steps after step `from` and before step `until`.
    pub from: u32,
    pub until: u32,
    pub every: u32,
    /// Mean screen-space (NDC) gradient norm above which a Gaussian is cloned or split.
    pub grad_threshold: f32,
    /// Gaussians no larger than this fraction of the scene extent are cloned, larger ones split.
    pub percent_dense: f32,
    /// Opacities are clamped to 0.01 every this many steps (before `until`); 0 never.
    pub opacity_reset_every: u32,
    /// Gaussians fainter than this are pruned at each densification.
    pub min_opacity: f32,
    /// After the first opacity reset, Gaussians larger than this fraction of the extent are pruned.
    pub max_world_scale: f32,
    /// After the first opacity reset, Gaussians whose screen radius exceeded this many pixels
    /// are pruned; 0 turns it off. Off by default: the reference implementation clears the radii
    /// it tests at every densification, so in effect it never applies this rule, and its results
    /// are what the defaults reproduce.
    pub max_screen_radius: f32,
}

impl DensifyConfig {
    /// Whether step `iteration` (1-based) of a `steps`-step run ends by setting every opacity
    /// to 0.01: every `opacity_reset_every` steps (and at `from` on a white background, as the
    /// reference does) before `until`, and only while a third of the reset interval (of `from`
    /// where resets are off) remains for the model to recover in: 1,000 steps by default,
    /// several times what opacities need to climb back from 0.01 at the paper's learning rate.
    /// A reset in a run's last stretch would leave the written model nearly transparent (a
    /// 200-step run with a reset at step 200 ended at 5.4 dB instead of 23.2).
    pub fn resets_opacity_at(&self, iteration: u32, steps: u32, white_background: bool) -> bool {
        let interval = if self.opacity_reset_every > 0 {
            self.opacity_reset_every
        } else {
            self.from
        };
        let recovery = interval.div_ceil(3);
        let scheduled = (self.opacity_reset_every > 0
            && iteration.is_multiple_of(self.opacity_reset_every))
            || (white_background && iteration == self.from);
        scheduled && iteration < self.until && iteration.saturating_add(recovery) <= steps
    }
}

impl Default for DensifyConfig {
    fn default() -> Self {
        Self {
            from: 500,
            until: 15_000,
            every: 100,
            grad_threshold: 2e-4,
            percent_dense: 0.01,
            opacity_reset_every: 3000,
            min_opacity: 0.005,
            max_world_scale: 0.1,
            max_screen_radius: 0.0,
        }
    }
}

/// One densification's thresholds in absolute units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DensifyRule {
    pub grad_threshold: f32,
    /// World-space scale up to which a Gaussian is cloned rather than split.
    pub clone_max_scale: f32,
    pub min_opacity: f32,
    /// Prune above this world-space scale; 0 never.
    pub max_world_scale: f32,
    /// Prune above this screen radius (pixels); 0 never.
    pub max_screen_radius: f32,
    /// Seed and step of the random numbers that place split children.
    pub seed: u64,
    pub step: u32,
}

/// What one densification did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DensifyReport {
    pub before: u32,
    pub after: u32,
    pub pruned: u32,
    pub cloned: u32,
    pub split: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct DensifyParams {
    count: u32,
    dim: u32,
    kind: u32,
    step: u32,
    seed: u32,
    half_width: f32,
    half_height: f32,
    grad_threshold: f32,
    clone_max_scale: f32,
    opacity_logit: f32,
    max_world_scale: f32,
    max_screen_radius: f32,
}

/// How `scatter` treats an array (the `kind` of `densify.wgsl`).
#[derive(Clone, Copy)]
enum Kind {
    Copy = 0,
    Means = 1,
    LogScales = 2,
    Moment = 3,
}

fn logit(p: f32) -> f32 {
    (p / (1.0 - p)).ln()
}

/// The compiled kernels and the per-Gaussian statistics (`[Σ‖∇‖, views, max radius, 0]`).
pub struct Densifier {
    accumulate: Kernel,
    decide: Kernel,
    scatter: Kernel,
    reset: Kernel,
    scan: PrefixScan,
    stats: wgpu::Buffer,
    count: u32,
    /// The count the last densification asked for (also when it did not fit).
    pub wanted: u32,
}

impl Densifier {
    /// Kernels and zeroed statistics for `count` Gaussians.
    pub fn new(ctx: &GpuContext, count: u32) -> Result<Self, GpuError> {
        let shader = Shader::compose(&densify_source())?;
        Ok(Self {
            accumulate: shader.kernel(ctx, "accumulate")?,
            decide: shader.kernel(ctx, "decide")?,
            scatter: shader.kernel(ctx, "scatter")?,
            reset: shader.kernel(ctx, "reset_opacity")?,
            scan: PrefixScan::new(ctx)?,
            stats: storage_buffer_zeroed(ctx, "densify stats", u64::from(count) * 16),
            count,
            wanted: count,
        })
    }

    /// Clears the statistics, sized for `count` Gaussians.
    pub fn reset_stats(&mut self, ctx: &GpuContext, count: u32) {
        self.stats = storage_buffer_zeroed(ctx, "densify stats", u64::from(count) * 16);
        self.count = count;
    }

    /// The statistics, per Gaussian `[Σ gradient norm, views seen, max radius, 0]`.
    pub fn stats(&self, ctx: &GpuContext) -> Result<Vec<[f32; 4]>, GpuError> {
        readback(ctx, &self.stats, self.count as usize)
    }

    /// Replaces the statistics (a resumed checkpoint's).
    pub fn set_stats(&mut self, ctx: &GpuContext, stats: &[[f32; 4]]) {
        self.stats = storage_buffer(ctx, "densify stats", stats);
        self.count = stats.len() as u32;
    }

    /// Records the accumulation of one view's statistics: `frame` and `grads` are that view's
    /// forward and backward pass over the same Gaussians.
    pub fn accumulate(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        frame: &Frame,
        grads: &GpuGrads,
    ) {
        let params = DensifyParams {
            count: self.count.min(grads.count),
            half_width: 0.5 * frame.width as f32,
            half_height: 0.5 * frame.height as f32,
            ..Default::default()
        };
        let u = uniform_buffer(ctx, "densify params", &params);
        let bind = self.accumulate.bind(
            ctx,
            &[
                ("dp", &u),
                ("stats", &self.stats),
                ("grad_geom", &grads.geom),
                ("xy_depth", frame.xy_depth_radius()),
                ("rects", frame.tile_rects()),
            ],
        );
        self.accumulate
            .dispatch_items(ctx, enc, &bind, params.count);
    }

    /// Clones, splits and prunes `g` by the accumulated statistics, carrying the Adam moments
    /// in `states` (the groups of `GpuGaussians::param_groups`, in order) along; then clears
    /// the statistics. Fails before touching the model when the result would not fit the device.
    pub fn densify(
        &mut self,
        ctx: &GpuContext,
        g: &mut GpuGaussians,
        states: &mut [AdamState; 8],
        rule: &DensifyRule,
    ) -> Result<DensifyReport, GpuError> {
        let n = g.count;
        let base = DensifyParams {
            count: n,
            step: rule.step,
            seed: (rule.seed ^ (rule.seed >> 32)) as u32,
            grad_threshold: rule.grad_threshold,
            clone_max_scale: rule.clone_max_scale,
            opacity_logit: logit(rule.min_opacity),
            max_world_scale: rule.max_world_scale,
            max_screen_radius: rule.max_screen_radius,
            ..Default::default()
        };
        let action = storage_buffer_zeroed(ctx, "densify action", u64::from(n) * 4);
        let slots = storage_buffer_zeroed(ctx, "densify slots", u64::from(n + 1) * 4);
        let tally = storage_buffer_zeroed(ctx, "densify tally", 16);
        let summary = storage_buffer_zeroed(ctx, "densify summary", 20);
        let u = uniform_buffer(ctx, "densify params", &base);
        let bind = self.decide.bind(
            ctx,
            &[
                ("dp", &u),
                ("stats", &self.stats),
                ("log_scales", &g.log_scales),
                ("opacities", &g.opacities),
                ("action", &action),
                ("slots", &slots),
                ("tally", &tally),
            ],
        );
        let mut enc = ctx.encoder("densify: decide");
        self.decide.dispatch_items(ctx, &mut enc, &bind, n + 1);
        let plan = self.scan.plan(ctx, &slots, n + 1);
        self.scan.encode(ctx, &mut enc, &plan);
        enc.copy_buffer_to_buffer(&tally, 0, &summary, 0, 16);
        enc.copy_buffer_to_buffer(&slots, u64::from(n) * 4, &summary, 16, 4);
        ctx.queue.submit([enc.finish()]);
        let s: Vec<u32> = readback(ctx, &summary, 5)?;
        let after = s[4];
        let report = DensifyReport {
            before: n,
            after,
            pruned: s[0],
            cloned: s[2],
            split: s[3],
        };
        self.wanted = after;
        // The scatter reads the old scales and rotations while `rebuild` replaces them.
        let (log_scales, quats) = (g.log_scales.clone(), g.quats.clone());
        rebuild(
            ctx,
            g,
            states,
            after,
            "densifying the Gaussians",
            |enc, src, dst, dim, role| {
                let kind = match role {
                    Role::Means => Kind::Means,
                    Role::LogScales => Kind::LogScales,
                    Role::Moment => Kind::Moment,
                    Role::Rotations | Role::Opacities | Role::Sh => Kind::Copy,
                };
                let p = DensifyParams {
                    dim,
                    kind: kind as u32,
                    ..base
                };
                let u = uniform_buffer(ctx, "densify params", &p);
                let bind = self.scatter.bind(
                    ctx,
                    &[
                        ("dp", &u),
                        ("log_scales", &log_scales),
                        ("action", &action),
                        ("slots", &slots),
                        ("src", src),
                        ("dst", dst),
                        ("quats", &quats),
                    ],
                );
                self.scatter.dispatch_items(ctx, enc, &bind, n);
            },
        )?;
        self.reset_stats(ctx, after);
        Ok(report)
    }

    /// Clamps every opacity to at most `ceiling` and clears the opacity group's Adam moments
    /// (the paper's periodic opacity reset).
    pub fn reset_opacity(
        &self,
        ctx: &GpuContext,
        g: &GpuGaussians,
        opacity_state: &AdamState,
        ceiling: f32,
    ) {
        let p = DensifyParams {
            count: g.count,
            opacity_logit: logit(ceiling),
            ..Default::default()
        };
        let u = uniform_buffer(ctx, "densify params", &p);
        let bind = self
            .reset
            .bind(ctx, &[("dp", &u), ("opacities_rw", &g.opacities)]);
        let mut enc = ctx.encoder("opacity reset");
        self.reset.dispatch_items(ctx, &mut enc, &bind, g.count);
        enc.clear_buffer(&opacity_state.m1, 0, None);
        enc.clear_buffer(&opacity_state.m2, 0, None);
        ctx.queue.submit([enc.finish()]);
    }
}

#[cfg(test)]
mod tests {
    use super::DensifyConfig;

    #[test]
    fn no_opacity_reset_in_a_runs_last_stretch() {
        let d = DensifyConfig::default();
        // The paper's run: resets at 3,000 … 12,000, none from 15,000 on.
        let resets: Vec<u32> = (1..=30_000)
            .filter(|&i| d.resets_opacity_at(i, 30_000, false))
            .collect();
        assert_eq!(resets, [3000, 6000, 9000, 12_000]);
        // A 3,000-step run with the paper's steps: the reset due on its last step is skipped;
        // a 7,000-step run keeps the one at 6,000 (1,000 steps to recover, as in the paper).
        assert!(!d.resets_opacity_at(3000, 3000, false));
        assert!(d.resets_opacity_at(6000, 7000, false));
        assert!(!d.resets_opacity_at(6000, 6500, false));
        // The case: a reset every 200 steps in a 200-step run never fires.
        let short = DensifyConfig {
            opacity_reset_every: 200,
            until: 1000,
            ..DensifyConfig::default()
        };
        assert!((1..=200).all(|i| !short.resets_opacity_at(i, 200, false)));
        // The white-background reset at `from` follows the same rule.
        assert!(d.resets_opacity_at(500, 30_000, true));
        assert!(!d.resets_opacity_at(500, 1000, true));
    }
}

//! The MCMC strategy (Kheradmand et al., "3D Gaussian Splatting as Markov Chain Monte Carlo"),
//! host side of `mcmc.wgsl`: opacity and scale regularisation, position noise that
//! moves near-transparent Gaussians, and every `every` steps relocation of dead Gaussians onto
//! live ones plus growth by `grow_rate` up to a hard cap. The count never exceeds the cap, so
//! memory is known up front.
//!
//! Sampling is done on the host from the opacities (one small readback per refinement), with a
//! generator seeded by (seed, step) so runs are reproducible and resumable; the new arrays are
//! written by one GPU gather per array.

use crate::constants::geom_constants;
use crate::model::{GpuGaussians, GpuGrads};
use crate::optim::AdamState;
use crate::rebuild::{Role, rebuild};
use rand::SeedableRng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use splat_gpu::{
    Constant, GpuContext, GpuError, Kernel, Shader, ShaderSource, readback, storage_buffer,
    uniform_buffer, wgsl_layout,
};

/// The MCMC kernels' source (the shared random-number functions, then the kernels).
pub fn mcmc_source() -> ShaderSource {
    let mut constants = geom_constants();
    constants.push(Constant::U32("FLAG_RESET", FLAG_RESET));
    constants.push(Constant::U32("FLAG_OPACITY", FLAG_OPACITY));
    ShaderSource {
        label: "mcmc",
        parts: vec![include_str!("random.wgsl"), include_str!("mcmc.wgsl")],
        constants,
        layouts: vec![wgsl_layout!(McmcParams as "McmcParams" {
            count, dim, kind, step, seed, opacity_reg, scale_reg, scaler
        })],
    }
}

/// The MCMC settings; `Default` gives the paper's (as gsplat ships them).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct McmcConfig {
    /// The most Gaussians the model may have.
    pub max_gaussians: u32,
    /// Relocate and grow every `every` steps after `from` and before `until`.
    pub from: u32,
    pub until: u32,
    pub every: u32,
    /// Growth per refinement, as a fraction of the current count.
    pub grow_rate: f32,
    /// Gaussians at or below this opacity are dead and get relocated.
    pub min_opacity: f32,
    /// Position noise scale (times the current position learning rate).
    pub noise_lr: f32,
    pub opacity_reg: f32,
    pub scale_reg: f32,
}

impl Default for McmcConfig {
    fn default() -> Self {
        Self {
            max_gaussians: 1_000_000,
            from: 500,
            until: 25_000,
            every: 100,
            grow_rate: 0.05,
            min_opacity: 0.005,
            noise_lr: 5e5,
            opacity_reg: 0.01,
            scale_reg: 0.01,
        }
    }
}

/// What one refinement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RefineReport {
    pub before: u32,
    pub relocated: u32,
    pub added: u32,
    pub after: u32,
}

/// Copies per sample that the relocation formula handles (more are treated as this many).
pub const MAX_RATIO: usize = 51;

/// Opacity and scale factor for each of `ratio` Gaussians that replace one of opacity `o`:
/// the stacked copies have the original's opacity, `1 − (1 − o')^ratio = o`, and the same
/// integral of the rendered opacity profile along a line (the paper's equation).
pub fn relocation(o: f64, ratio: usize, min_opacity: f64) -> (f64, f64) {
    let n = ratio.clamp(1, MAX_RATIO);
    let new_o = (1.0 - (1.0 - o).powf(1.0 / n as f64)).clamp(min_opacity, 1.0 - 1e-7);
    let mut denom = 0.0;
    for i in 1..=n {
        let mut binom = 1.0; // C(i−1, k)
        for k in 0..i {
            let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
            denom += binom * sign / ((k + 1) as f64).sqrt() * new_o.powi(k as i32 + 1);
            binom = binom * (i - 1 - k) as f64 / (k + 1) as f64;
        }
    }
    (new_o, o / denom)
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct McmcParams {
    count: u32,
    dim: u32,
    kind: u32,
    step: u32,
    seed: u32,
    opacity_reg: f32,
    scale_reg: f32,
    scaler: f32,
}

const FLAG_RESET: u32 = 1;
const FLAG_OPACITY: u32 = 2;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// A refinement decided on the host: output `j` copies input `src_of[j]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub src_of: Vec<u32>,
    pub new_opacity: Vec<f32>,
    pub scale_shift: Vec<f32>,
    pub flags: Vec<u32>,
    pub relocated: u32,
    pub added: u32,
}

/// Relocation then growth, from the opacity logits: dead Gaussians take the place of live ones
/// drawn in proportion to opacity, then `grow_rate` more (up to the cap) are drawn likewise.
pub fn plan(opacities: &[f32], cfg: &McmcConfig, seed: u64, step: u32) -> Plan {
    let n = opacities.len();
    let mut rng =
        rand_pcg::Pcg64::seed_from_u64(seed ^ u64::from(step).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let min_o = f64::from(cfg.min_opacity);
    let mut o: Vec<f64> = opacities.iter().map(|&x| sigmoid(f64::from(x))).collect();
    let mut p = Plan {
        src_of: (0..n as u32).collect(),
        new_opacity: opacities.to_vec(),
        scale_shift: vec![0.0; n],
        flags: vec![0; n],
        relocated: 0,
        added: 0,
    };
    // Gives every slot in `slots` the source `from[s]` shares with it, both ratio-adjusted.
    let share = |p: &mut Plan, o: &mut Vec<f64>, picks: &[(usize, usize)]| {
        let mut count = vec![0usize; p.src_of.len()];
        for &(_, s) in picks {
            count[s] += 1;
        }
        let mut done = vec![false; p.src_of.len()];
        for &(_, s) in picks {
            if done[s] {
                continue;
            }
            done[s] = true;
            let (new_o, coeff) = relocation(o[s], count[s] + 1, min_o);
            o[s] = new_o;
            p.new_opacity[s] = logit(new_o) as f32;
            p.scale_shift[s] += coeff.ln() as f32;
            p.flags[s] |= FLAG_RESET | FLAG_OPACITY;
        }
        for &(slot, s) in picks {
            p.src_of[slot] = p.src_of[s];
            p.new_opacity[slot] = p.new_opacity[s];
            p.scale_shift[slot] = p.scale_shift[s];
            p.flags[slot] = FLAG_RESET | FLAG_OPACITY;
            o[slot] = o[s];
        }
    };
    let dead: Vec<usize> = (0..n).filter(|&i| o[i] <= min_o || o[i].is_nan()).collect();
    let alive: Vec<usize> = (0..n).filter(|&i| o[i] > min_o).collect();
    if !dead.is_empty() && !alive.is_empty() {
        let w = WeightedIndex::new(alive.iter().map(|&i| o[i]));
        if let Ok(w) = w {
            let picks: Vec<(usize, usize)> = dead
                .iter()
                .map(|&d| (d, alive[w.sample(&mut rng)]))
                .collect();
            p.relocated = picks.len() as u32;
            share(&mut p, &mut o, &picks);
        }
    }
    let target = ((n as f64 * (1.0 + f64::from(cfg.grow_rate))) as usize)
        .min(cfg.max_gaussians as usize)
        .max(n);
    let add = target - n;
    if add > 0
        && let Ok(w) = WeightedIndex::new(o.iter().copied())
    {
        let sources: Vec<usize> = (0..add).map(|_| w.sample(&mut rng)).collect();
        p.src_of.resize(target, 0);
        p.new_opacity.resize(target, 0.0);
        p.scale_shift.resize(target, 0.0);
        p.flags.resize(target, 0);
        o.resize(target, 0.0);
        let picks: Vec<(usize, usize)> = sources
            .iter()
            .enumerate()
            .map(|(k, &s)| (n + k, s))
            .collect();
        p.added = add as u32;
        share(&mut p, &mut o, &picks);
    }
    p
}

/// The compiled MCMC kernels.
pub struct Mcmc {
    regularize: Kernel,
    perturb: Kernel,
    gather: Kernel,
    /// The count the last refinement asked for (also when it did not fit).
    pub wanted: u32,
}

impl Mcmc {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let shader = Shader::compose(&mcmc_source())?;
        Ok(Self {
            regularize: shader.kernel(ctx, "regularize")?,
            perturb: shader.kernel(ctx, "perturb")?,
            gather: shader.kernel(ctx, "gather")?,
            wanted: 0,
        })
    }

    /// Records the regularisation gradients into `grads` (before the Adam step).
    pub fn regularize(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        g: &GpuGaussians,
        grads: &GpuGrads,
        cfg: &McmcConfig,
    ) {
        let p = McmcParams {
            count: g.count,
            opacity_reg: cfg.opacity_reg,
            scale_reg: cfg.scale_reg,
            ..Default::default()
        };
        let u = uniform_buffer(ctx, "mcmc params", &p);
        let bind = self.regularize.bind(
            ctx,
            &[
                ("mp", &u),
                ("grad_geom", &grads.geom),
                ("opacities", &g.opacities),
                ("log_scales", &g.log_scales),
            ],
        );
        self.regularize.dispatch_items(ctx, enc, &bind, g.count);
    }

    /// Records the position noise (after the Adam step); `scaler` is the position learning
    /// rate times `noise_lr`.
    pub fn perturb(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        g: &GpuGaussians,
        scaler: f32,
        seed: u64,
        step: u32,
    ) {
        let p = McmcParams {
            count: g.count,
            step,
            seed: (seed ^ (seed >> 32)) as u32,
            scaler,
            ..Default::default()
        };
        let u = uniform_buffer(ctx, "mcmc params", &p);
        let bind = self.perturb.bind(
            ctx,
            &[
                ("mp", &u),
                ("opacities", &g.opacities),
                ("log_scales", &g.log_scales),
                ("quats", &g.quats),
                ("means", &g.means),
            ],
        );
        self.perturb.dispatch_items(ctx, enc, &bind, g.count);
    }

    /// Relocates dead Gaussians and grows the model (see `plan`), carrying Adam moments.
    pub fn refine(
        &mut self,
        ctx: &GpuContext,
        g: &mut GpuGaussians,
        states: &mut [AdamState; 8],
        cfg: &McmcConfig,
        seed: u64,
        step: u32,
    ) -> Result<RefineReport, GpuError> {
        let before = g.count;
        let opacities: Vec<f32> = readback(ctx, &g.opacities, g.count as usize)?;
        let p = plan(&opacities, cfg, seed, step);
        self.wanted = p.src_of.len() as u32;
        self.apply(ctx, g, states, &p)?;
        Ok(RefineReport {
            before,
            relocated: p.relocated,
            added: p.added,
            after: g.count,
        })
    }

    /// Writes the arrays `p` describes and swaps them in.
    pub fn apply(
        &self,
        ctx: &GpuContext,
        g: &mut GpuGaussians,
        states: &mut [AdamState; 8],
        p: &Plan,
    ) -> Result<(), GpuError> {
        let total = p.src_of.len() as u32;
        let src_of = storage_buffer(ctx, "mcmc src_of", &p.src_of);
        let new_opacity = storage_buffer(ctx, "mcmc opacity", &p.new_opacity);
        let shift = storage_buffer(ctx, "mcmc scale shift", &p.scale_shift);
        let flags = storage_buffer(ctx, "mcmc flags", &p.flags);
        let what = "relocating and adding Gaussians";
        rebuild(ctx, g, states, total, what, |enc, src, dst, dim, role| {
            let kind = match role {
                Role::Opacities => 1,
                Role::LogScales => 2,
                Role::Moment => 3,
                Role::Means | Role::Rotations | Role::Sh => 0,
            };
            let params = McmcParams {
                count: total,
                dim,
                kind,
                ..Default::default()
            };
            let u = uniform_buffer(ctx, "mcmc params", &params);
            let bind = self.gather.bind(
                ctx,
                &[
                    ("mp", &u),
                    ("src_of", &src_of),
                    ("new_opacity", &new_opacity),
                    ("scale_shift", &shift),
                    ("flags", &flags),
                    ("src", src),
                    ("dst", dst),
                ],
            );
            self.gather.dispatch_items(ctx, enc, &bind, total);
        })
    }
}

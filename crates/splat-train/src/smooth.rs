//! Compression-aware training (issue 26 item 2, after Self-Organizing Gaussians): the Gaussians
//! are sorted into the 2D grid their SOG images will store them in (`splat_sogs`' PLAS order),
//! again every `sort_every` steps and whenever the set changes, and a neighbour smoothness loss
//! pulls each attribute towards a blur of its grid neighbours, so the planes the image codec
//! sees are smooth. Host side of `smooth.wgsl`; the f64 reference is
//! `reference::smoothness`. The file written is still plain SOG v2.

use crate::model::{GpuGaussians, GpuGrads};
use splat_gpu::{
    Constant, GpuContext, GpuError, Kernel, Shader, ShaderSource, readback, reuse_buffer,
    storage_buffer, storage_buffer_zeroed, uniform_buffer, wgsl_layout,
};

/// The blur window's half-size in cells (a 5×5 window, the paper's).
pub const RADIUS: i32 = 2;

/// A grid cell with no Gaussian.
pub const EMPTY: u32 = u32::MAX;

/// The smoothness kernels' source.
pub fn smooth_source() -> ShaderSource {
    ShaderSource {
        label: "smooth",
        parts: vec![include_str!("smooth.wgsl")],
        constants: vec![Constant::I32("RADIUS", RADIUS)],
        layouts: vec![wgsl_layout!(SmoothParams as "SmoothParams" {
            width, height, dim, grad_stride, grad_offset, scale, delta, inv_two_sigma2
        })],
    }
}

/// How much each attribute is smoothed, relative to the others (the weights are divided by
/// their sum; 0 leaves an attribute alone).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AttributeWeights {
    pub means: f32,
    pub log_scales: f32,
    pub rotations: f32,
    pub opacity: f32,
    pub sh_dc: f32,
    pub sh_rest: f32,
}

impl AttributeWeights {
    /// In the order of `GpuGaussians::param_groups` (SH rest: bands 1–3 alike).
    fn per_group(&self) -> [f32; 8] {
        [
            self.means,
            self.log_scales,
            self.rotations,
            self.opacity,
            self.sh_dc,
            self.sh_rest,
            self.sh_rest,
            self.sh_rest,
        ]
    }

    fn sum(&self) -> f32 {
        self.means + self.log_scales + self.rotations + self.opacity + self.sh_dc + self.sh_rest
    }
}

impl Default for AttributeWeights {
    /// Every attribute SOG stores in an image plane. Positions are the dominant cost of a SOG
    /// file but also what the sort orders by, so they are pulled the least.
    fn default() -> Self {
        AttributeWeights {
            means: 0.2,
            log_scales: 1.0,
            rotations: 1.0,
            opacity: 1.0,
            sh_dc: 1.0,
            sh_rest: 1.0,
        }
    }
}

/// Settings of compression-aware training.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SmoothConfig {
    /// Weight of the neighbour loss beside the photometric loss.
    pub lambda: f32,
    pub weights: AttributeWeights,
    /// The blur's σ in cells.
    pub sigma: f32,
    /// Huber's threshold (quadratic below, linear above).
    pub delta: f32,
    /// The first step (1-based) with the sort and the loss.
    pub from: u32,
    /// Steps between sorts (the set changing forces one at the next step too).
    pub sort_every: u32,
}

impl Default for SmoothConfig {
    fn default() -> Self {
        SmoothConfig {
            lambda: 1.0,
            weights: AttributeWeights::default(),
            sigma: 3.0,
            delta: 1.0,
            from: 1,
            sort_every: 1000,
        }
    }
}

/// Which Gaussian each cell of a `width × height` grid holds (`EMPTY` for none), row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridMap {
    pub width: u32,
    pub height: u32,
    pub ids: Vec<u32>,
}

impl GridMap {
    /// The grid of SOG's layout for `order` (texel `i` holds Gaussian `order[i]`): `width`
    /// columns, as many rows as needed, the cells after the last Gaussian empty.
    pub fn from_order(order: &[u32], width: u32) -> Self {
        let width = width.max(1);
        let height = (order.len() as u32).div_ceil(width).max(1);
        let mut ids = order.to_vec();
        ids.resize((width * height) as usize, EMPTY);
        GridMap { width, height, ids }
    }

    /// Cells holding a Gaussian.
    pub fn occupied(&self) -> usize {
        self.ids.iter().filter(|&&i| i != EMPTY).count()
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SmoothParams {
    width: u32,
    height: u32,
    dim: u32,
    grad_stride: u32,
    grad_offset: u32,
    scale: f32,
    delta: f32,
    inv_two_sigma2: f32,
}

/// The compiled kernels, the grid on the GPU and their scratch.
pub struct Smoothness {
    residual: Kernel,
    grad: Kernel,
    /// The grid, its cells on the GPU and how many hold a Gaussian (the loss's normaliser).
    grid: Option<(GridMap, wgpu::Buffer, usize)>,
    resid: wgpu::Buffer,
    inv_w: wgpu::Buffer,
    cell_loss: wgpu::Buffer,
}

impl Smoothness {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let shader = Shader::compose(&smooth_source())?;
        let b = |label| storage_buffer_zeroed(ctx, label, 4);
        Ok(Self {
            residual: shader.kernel(ctx, "smooth_residual")?,
            grad: shader.kernel(ctx, "smooth_grad")?,
            grid: None,
            resid: b("smooth residual"),
            inv_w: b("smooth weights"),
            cell_loss: b("smooth loss"),
        })
    }

    /// Uses `grid` from now on.
    pub fn set_grid(&mut self, ctx: &GpuContext, grid: GridMap) {
        let buffer = storage_buffer(ctx, "smooth grid", &grid.ids);
        let occupied = grid.occupied();
        self.grid = Some((grid, buffer, occupied));
    }

    /// Forgets the grid (the set of Gaussians it indexes has changed).
    pub fn clear_grid(&mut self) {
        self.grid = None;
    }

    pub fn grid(&self) -> Option<&GridMap> {
        self.grid.as_ref().map(|g| &g.0)
    }

    /// Records the loss's gradient, added to `grads`, for every attribute `cfg` weights (SH
    /// bands up to the degree `model` renders with); nothing without a grid. The loss value
    /// is kept on the GPU for [`Smoothness::loss`].
    pub fn record(
        &mut self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        model: &GpuGaussians,
        grads: &GpuGrads,
        cfg: &SmoothConfig,
    ) {
        let Some((grid, ids, occupied)) = &self.grid else {
            return;
        };
        let cells = grid.width * grid.height;
        let occupied = (*occupied).max(1) as f32;
        let total = cfg.weights.sum();
        if total <= 0.0 || cfg.lambda == 0.0 {
            return;
        }
        let cell_loss = reuse_buffer(
            ctx,
            &mut self.cell_loss,
            u64::from(cells) * 4,
            "smooth loss",
        );
        enc.clear_buffer(&cell_loss, 0, None);
        let inv_w = reuse_buffer(ctx, &mut self.inv_w, u64::from(cells) * 4, "smooth weights");
        let active = model.active_sh_degree() as usize;
        // SH rest counts as one attribute: its floats per Gaussian over every band in use.
        let rest_dim: u32 = (1..=active).map(|b| 3 * (2 * b as u32 + 1)).sum();
        let groups = model.param_groups(grads);
        for (b, (group, weight)) in groups.iter().zip(cfg.weights.per_group()).enumerate() {
            let band = b.saturating_sub(4);
            if weight <= 0.0 || group.rows == 0 || (b >= 5 && band > active) {
                continue;
            }
            let attribute_dim = if b >= 5 { rest_dim } else { group.dim };
            let params = uniform_buffer(
                ctx,
                "smooth params",
                &SmoothParams {
                    width: grid.width,
                    height: grid.height,
                    dim: group.dim,
                    grad_stride: group.layout.stride,
                    grad_offset: group.layout.offset,
                    scale: cfg.lambda * weight / total / (occupied * attribute_dim as f32),
                    delta: cfg.delta,
                    inv_two_sigma2: 1.0 / (2.0 * cfg.sigma * cfg.sigma),
                },
            );
            let resid = reuse_buffer(
                ctx,
                &mut self.resid,
                u64::from(cells) * u64::from(group.dim) * 4,
                "smooth residual",
            );
            let bind = self.residual.bind(
                ctx,
                &[
                    ("sp", &params),
                    ("ids", ids),
                    ("param", group.param),
                    ("resid", &resid),
                    ("inv_w", &inv_w),
                    ("cell_loss", &cell_loss),
                ],
            );
            self.residual.dispatch_items(ctx, enc, &bind, cells);
            let bind = self.grad.bind(
                ctx,
                &[
                    ("sp", &params),
                    ("ids", ids),
                    ("resid", &resid),
                    ("inv_w", &inv_w),
                    ("grad", group.grad),
                ],
            );
            self.grad.dispatch_items(ctx, enc, &bind, cells);
        }
    }

    /// The loss the last `record` computed (blocking readback; 0 without a grid).
    pub fn loss(&self, ctx: &GpuContext) -> Result<f64, GpuError> {
        let Some((grid, _, _)) = &self.grid else {
            return Ok(0.0);
        };
        let cells = (grid.width * grid.height) as usize;
        let per_cell: Vec<f32> = readback(ctx, &self.cell_loss, cells)?;
        Ok(per_cell.iter().map(|&v| f64::from(v)).sum())
    }
}

//! The photometric loss on the GPU: host side of `shaders/loss.wgsl`. Produces dL/d(render) per
//! pixel, in the `[r, g, b, alpha]` layout the rasterizer's backward pass takes, and per-workgroup
//! partial sums from which the loss value is read back only when it is logged.

use gpu::{GpuContext, GpuError, readback, reuse_buffer, storage_buffer_zeroed, uniform_buffer};

/// WGSL source of the loss kernels.
pub const LOSS_WGSL: &str = include_str!("../../../shaders/loss.wgsl");

/// Weight of the D-SSIM term in the 3DGS paper.
pub const DEFAULT_LAMBDA: f32 = 0.2;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LossParams {
    width: u32,
    height: u32,
    lambda: f32,
    inv_count: f32,
}

/// The compiled loss kernels.
pub struct PhotometricLoss {
    blur_stats: wgpu::ComputePipeline,
    ssim_map: wgpu::ComputePipeline,
    blur_partials: wgpu::ComputePipeline,
    grad: wgpu::ComputePipeline,
}

/// One evaluation: the gradient stays on the GPU; the value is read on demand.
pub struct LossEval {
    /// dL/d(render) per pixel as `[r, g, b, 0]`.
    pub d_image: wgpu::Buffer,
    partial_sums: wgpu::Buffer,
    groups: u32,
    count: f64,
    lambda: f64,
    /// Blurred statistics and SSIM partials (scratch, kept for reuse).
    t: [wgpu::Buffer; 5],
    m: [wgpu::Buffer; 3],
}

/// The loss and its terms, as means over pixels and channels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossTerms {
    pub total: f64,
    pub l1: f64,
    pub ssim: f64,
}

impl LossEval {
    /// An evaluation with no buffers yet, for `PhotometricLoss::evaluate_into` to fill.
    pub fn empty(ctx: &GpuContext) -> Self {
        let b = |label| storage_buffer_zeroed(ctx, label, 4);
        Self {
            d_image: b("d_image"),
            partial_sums: b("loss sums"),
            groups: 0,
            count: 1.0,
            lambda: 0.0,
            t: std::array::from_fn(|_| b("loss scratch")),
            m: std::array::from_fn(|_| b("loss partials")),
        }
    }

    /// Reads the partial sums back and adds them in order (f64).
    pub fn terms(&self, ctx: &GpuContext) -> Result<LossTerms, GpuError> {
        let partial: Vec<[f32; 2]> = readback(ctx, &self.partial_sums, self.groups as usize)?;
        let (mut s, mut l1) = (0.0f64, 0.0f64);
        for p in partial {
            s += f64::from(p[0]);
            l1 += f64::from(p[1]);
        }
        let (ssim, l1) = (s / self.count, l1 / self.count);
        Ok(LossTerms {
            total: (1.0 - self.lambda) * l1 + self.lambda * (1.0 - ssim),
            l1,
            ssim,
        })
    }
}

impl PhotometricLoss {
    pub fn new(ctx: &GpuContext) -> Self {
        Self {
            blur_stats: ctx.compute_pipeline("loss: blur_h_stats", LOSS_WGSL, "blur_h_stats"),
            ssim_map: ctx.compute_pipeline("loss: ssim_map", LOSS_WGSL, "ssim_map"),
            blur_partials: ctx.compute_pipeline(
                "loss: blur_h_partials",
                LOSS_WGSL,
                "blur_h_partials",
            ),
            grad: ctx.compute_pipeline("loss: loss_grad", LOSS_WGSL, "loss_grad"),
        }
    }

    /// Evaluates the loss of `render` against `target` (both `[r, g, b, a]` per pixel, row-major,
    /// `width`×`height`) and its gradient; submitted, not waited for.
    pub fn evaluate(
        &self,
        ctx: &GpuContext,
        render: &wgpu::Buffer,
        target: &wgpu::Buffer,
        width: u32,
        height: u32,
        lambda: f32,
    ) -> Result<LossEval, GpuError> {
        let mut eval = LossEval::empty(ctx);
        self.evaluate_into(ctx, render, target, (width, height), lambda, &mut eval)?;
        Ok(eval)
    }

    /// As `evaluate`, reusing `eval`'s buffers where they are large enough.
    pub fn evaluate_into(
        &self,
        ctx: &GpuContext,
        render: &wgpu::Buffer,
        target: &wgpu::Buffer,
        size: (u32, u32),
        lambda: f32,
        eval: &mut LossEval,
    ) -> Result<(), GpuError> {
        let (width, height) = size;
        ctx.checked("evaluating the loss", || {
            let pixels = width * height;
            let count = f64::from(pixels) * 3.0;
            let params = uniform_buffer(
                ctx,
                "loss params",
                &LossParams {
                    width,
                    height,
                    lambda,
                    inv_count: (1.0 / count) as f32,
                },
            );
            let bytes = u64::from(pixels) * 16;
            let t: [wgpu::Buffer; 5] =
                std::array::from_fn(|i| reuse_buffer(ctx, &mut eval.t[i], bytes, "loss scratch"));
            let m: [wgpu::Buffer; 3] =
                std::array::from_fn(|i| reuse_buffer(ctx, &mut eval.m[i], bytes, "loss partials"));
            let groups = pixels.div_ceil(256);
            let partial_sums = reuse_buffer(
                ctx,
                &mut eval.partial_sums,
                u64::from(groups) * 8,
                "loss sums",
            );
            let d_image = reuse_buffer(ctx, &mut eval.d_image, bytes, "d_image");
            let mut enc = ctx.encoder("loss");
            let b1 = ctx.bind_group_at(
                "loss 1",
                &self.blur_stats,
                &[
                    (0, &params),
                    (1, render),
                    (2, target),
                    (3, &t[0]),
                    (4, &t[1]),
                    (5, &t[2]),
                    (6, &t[3]),
                    (7, &t[4]),
                ],
            );
            ctx.dispatch(&mut enc, &self.blur_stats, &b1, groups);
            let b2 = ctx.bind_group_at(
                "loss 2",
                &self.ssim_map,
                &[
                    (0, &params),
                    (1, render),
                    (2, target),
                    (3, &t[0]),
                    (4, &t[1]),
                    (5, &t[2]),
                    (6, &t[3]),
                    (7, &t[4]),
                    (8, &m[0]),
                    (9, &m[1]),
                    (10, &m[2]),
                    (11, &partial_sums),
                ],
            );
            ctx.dispatch(&mut enc, &self.ssim_map, &b2, groups);
            let b3 = ctx.bind_group_at(
                "loss 3",
                &self.blur_partials,
                &[
                    (0, &params),
                    (3, &t[0]),
                    (4, &t[1]),
                    (5, &t[2]),
                    (8, &m[0]),
                    (9, &m[1]),
                    (10, &m[2]),
                ],
            );
            ctx.dispatch(&mut enc, &self.blur_partials, &b3, groups);
            let b4 = ctx.bind_group_at(
                "loss 4",
                &self.grad,
                &[
                    (0, &params),
                    (1, render),
                    (2, target),
                    (3, &t[0]),
                    (4, &t[1]),
                    (5, &t[2]),
                    (12, &d_image),
                ],
            );
            ctx.dispatch(&mut enc, &self.grad, &b4, groups);
            ctx.queue.submit([enc.finish()]);
            eval.groups = groups;
            eval.count = count;
            eval.lambda = f64::from(lambda);
            Ok(())
        })
    }
}

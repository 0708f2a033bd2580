//! The photometric loss on the GPU: host side of `loss.wgsl`. Produces dL/d(render) per
//! pixel, in the `[r, g, b, alpha]` layout the rasterizer's backward pass takes, and per-workgroup
//! partial sums from which the loss value is read back only when it is logged.

use crate::constants::{SSIM_C1, SSIM_C2, SSIM_RADIUS, SSIM_WINDOW_F32};
use splat_gpu::{
    Constant, GpuContext, GpuError, Kernel, Shader, ShaderSource, readback, reuse_buffer,
    storage_buffer_zeroed, uniform_buffer, wgsl_layout,
};

/// The loss kernels' source.
pub fn loss_source() -> ShaderSource {
    ShaderSource {
        label: "loss",
        parts: vec![include_str!("loss.wgsl")],
        constants: vec![
            Constant::F32("C1", SSIM_C1 as f32),
            Constant::F32("C2", SSIM_C2 as f32),
            Constant::I32("RADIUS", SSIM_RADIUS as i32),
            Constant::F32Array("G", SSIM_WINDOW_F32.to_vec()),
        ],
        layouts: vec![wgsl_layout!(LossParams as "LossParams" {
            width, height, lambda, inv_count
        })],
    }
}

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
    blur_stats: Kernel,
    ssim_map: Kernel,
    blur_partials: Kernel,
    grad: Kernel,
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

/// One 8-bit RGB pixel as the loss's target word: red in the low byte (WGSL's
/// `unpack4x8unorm` reads it back as `v / 255` per channel), alpha 255.
pub fn pack_rgb8(p: [u8; 3]) -> u32 {
    u32::from_le_bytes([p[0], p[1], p[2], 255])
}

impl PhotometricLoss {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let shader = Shader::compose(&loss_source())?;
        Ok(Self {
            blur_stats: shader.kernel(ctx, "blur_h_stats")?,
            ssim_map: shader.kernel(ctx, "ssim_map")?,
            blur_partials: shader.kernel(ctx, "blur_h_partials")?,
            grad: shader.kernel(ctx, "loss_grad")?,
        })
    }

    /// Evaluates the loss of `render` (`[r, g, b, a]` f32 per pixel, row-major, `width`×`height`)
    /// against `target` (the photo, one `pack_rgb8` word per pixel) and its gradient; submitted,
    /// not waited for.
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
            // One partial sum per workgroup of `ssim_map`.
            let groups = pixels.div_ceil(self.ssim_map.workgroup_invocations());
            let partial_sums = reuse_buffer(
                ctx,
                &mut eval.partial_sums,
                u64::from(groups) * 8,
                "loss sums",
            );
            let d_image = reuse_buffer(ctx, &mut eval.d_image, bytes, "d_image");
            let mut enc = ctx.encoder("loss");
            let b1 = self.blur_stats.bind(
                ctx,
                &[
                    ("lp", &params),
                    ("render", render),
                    ("target_img", target),
                    ("t0", &t[0]),
                    ("t1", &t[1]),
                    ("t2", &t[2]),
                    ("t3", &t[3]),
                    ("t4", &t[4]),
                ],
            );
            self.blur_stats.dispatch(ctx, &mut enc, &b1, groups);
            let b2 = self.ssim_map.bind(
                ctx,
                &[
                    ("lp", &params),
                    ("render", render),
                    ("target_img", target),
                    ("t0", &t[0]),
                    ("t1", &t[1]),
                    ("t2", &t[2]),
                    ("t3", &t[3]),
                    ("t4", &t[4]),
                    ("m0", &m[0]),
                    ("m1", &m[1]),
                    ("m2", &m[2]),
                    ("partial_sums", &partial_sums),
                ],
            );
            self.ssim_map.dispatch(ctx, &mut enc, &b2, groups);
            let b3 = self.blur_partials.bind(
                ctx,
                &[
                    ("lp", &params),
                    ("t0", &t[0]),
                    ("t1", &t[1]),
                    ("t2", &t[2]),
                    ("m0", &m[0]),
                    ("m1", &m[1]),
                    ("m2", &m[2]),
                ],
            );
            self.blur_partials.dispatch(ctx, &mut enc, &b3, groups);
            let b4 = self.grad.bind(
                ctx,
                &[
                    ("lp", &params),
                    ("render", render),
                    ("target_img", target),
                    ("t0", &t[0]),
                    ("t1", &t[1]),
                    ("t2", &t[2]),
                    ("d_image", &d_image),
                ],
            );
            self.grad.dispatch(ctx, &mut enc, &b4, groups);
            ctx.queue.submit([enc.finish()]);
            eval.groups = groups;
            eval.count = count;
            eval.lambda = f64::from(lambda);
            Ok(())
        })
    }
}

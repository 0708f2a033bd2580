//! The backward pass: gradients of a loss with respect to every Gaussian parameter, given the
//! loss's gradient per pixel and the frame the forward pass left on the GPU.

use super::{Frame, Rasterizer};
use crate::constants::BAND_COEFFS;
use crate::model::{GpuGaussians, GpuGrads};
use splat_gpu::{GpuContext, GpuError, reuse_buffer};

impl Rasterizer {
    /// Gradients of a loss with respect to every Gaussian parameter, given dL/d(image) and
    /// dL/d(alpha) per pixel as `[r, g, b, alpha]` in `d_image`, for a frame `forward` made of
    /// the same Gaussians. Deterministic: no float atomics, every sum in a fixed order.
    pub fn backward(
        &self,
        ctx: &GpuContext,
        g: &GpuGaussians,
        frame: &Frame,
        d_image: &wgpu::Buffer,
    ) -> Result<GpuGrads, GpuError> {
        let mut grads = GpuGrads::empty(ctx);
        self.backward_into(ctx, g, frame, d_image, &mut grads)?;
        Ok(grads)
    }

    /// As `backward`, reusing `grads`' buffers where they are large enough.
    pub fn backward_into(
        &self,
        ctx: &GpuContext,
        g: &GpuGaussians,
        frame: &Frame,
        d_image: &wgpu::Buffer,
        grads: &mut GpuGrads,
    ) -> Result<(), GpuError> {
        let next = ctx.checked("computing gradients", || {
            self.backward_unchecked(ctx, g, frame, d_image, grads)
        })?;
        *grads = next;
        Ok(())
    }

    /// Adds to `weights` (one f32 per Gaussian of `g`) each Gaussian's blending weight summed
    /// over the pixels of `frame` (Σ αT: how much of the image it paints, what compaction ranks
    /// Gaussians by), given `ones`: `[1, 0, 0, 0]` per pixel of the frame, the gradient of the
    /// image's summed red channel. Runs the backward tile pass with it into `grads`' per-key
    /// records (scratch; the per-Gaussian gradients are neither computed nor allocated).
    pub fn accumulate_weights(
        &self,
        ctx: &GpuContext,
        g: &GpuGaussians,
        frame: &Frame,
        ones: &wgpu::Buffer,
        grads: &mut GpuGrads,
        weights: &wgpu::Buffer,
    ) -> Result<(), GpuError> {
        ctx.checked("summing blending weights", || {
            self.restart_clock();
            let mut enc = ctx.encoder("blend weights");
            let key_grads = self.key_records(ctx, frame, ones, &mut grads.key_grads, &mut enc)?;
            let bind = self.accumulate_weights.bind(
                ctx,
                &[
                    ("view", &frame.params),
                    ("rects", &frame.rects),
                    ("touched", &frame.touched),
                    ("key_grads", &key_grads),
                    ("blend_weights", weights),
                ],
            );
            self.accumulate_weights
                .dispatch_items(ctx, &mut enc, &bind, g.count);
            ctx.queue.submit([enc.finish()]);
            Ok(())
        })
    }

    /// Records the tile pass into `enc`: the per-key gradient records of `frame` given
    /// `d_image`, in a buffer reused from `slot` where large enough (returned).
    fn key_records(
        &self,
        ctx: &GpuContext,
        frame: &Frame,
        d_image: &wgpu::Buffer,
        slot: &mut wgpu::Buffer,
        enc: &mut wgpu::CommandEncoder,
    ) -> Result<wgpu::Buffer, GpuError> {
        ctx.check_binding("the frame's per-key gradients", u64::from(frame.keys) * 48)?;
        // At least one record: a binding must hold one whole element even when no key does.
        let key_grads = reuse_buffer(ctx, slot, u64::from(frame.keys.max(1)) * 48, "key_grads");
        // Keys past every pixel's last contributor are not written by the kernel: they must
        // read as zero.
        if frame.keys > 0 {
            enc.clear_buffer(&key_grads, 0, Some(u64::from(frame.keys) * 48));
        }
        let rb = self.raster_backward.bind(
            ctx,
            &[
                ("view", &frame.params),
                ("xy_depth", &frame.xy_depth),
                ("conic_opacity", &frame.conic),
                ("colors", &frame.colors),
                ("key_values", &frame.values),
                ("ranges", &frame.ranges),
                ("out_color", &frame.out_color),
                ("out_last", &frame.out_last),
                ("owner", &frame.owner),
                ("d_image", d_image),
                ("key_grads", &key_grads),
            ],
        );
        self.raster_backward
            .dispatch_grid(ctx, enc, &rb, frame.tiles.0, frame.tiles.1);
        self.mark(ctx, Some(enc), "rasterize_backward")?;
        Ok(key_grads)
    }

    fn backward_unchecked(
        &self,
        ctx: &GpuContext,
        g: &GpuGaussians,
        frame: &Frame,
        d_image: &wgpu::Buffer,
        cache: &mut GpuGrads,
    ) -> Result<GpuGrads, GpuError> {
        self.restart_clock();
        let n = g.count;
        let geom = reuse_buffer(ctx, &mut cache.geom, u64::from(n) * 64, "grad_geom");
        let stored = g.sh_degree as usize;
        let sh: [wgpu::Buffer; 4] = std::array::from_fn(|b| {
            let bytes = if b <= stored {
                u64::from(n) * BAND_COEFFS[b] as u64 * 12
            } else {
                4
            };
            reuse_buffer(ctx, &mut cache.sh[b], bytes, "grad_sh band")
        });
        let mut enc = ctx.encoder("backward");
        // SH bands above the active degree are not written by the kernel: they must read as zero.
        for (b, buf) in sh.iter().enumerate().skip(g.active_sh_degree as usize + 1) {
            if b <= stored {
                enc.clear_buffer(buf, 0, Some(u64::from(n) * BAND_COEFFS[b] as u64 * 12));
            }
        }
        let key_grads = self.key_records(ctx, frame, d_image, &mut cache.key_grads, &mut enc)?;
        let pb = self.project_backward.bind(
            ctx,
            &[
                ("view", &frame.params),
                ("means", &g.means),
                ("log_scales", &g.log_scales),
                ("quats", &g.quats),
                ("sh0", &g.sh[0]),
                ("conic_opacity", &frame.conic),
                ("colors", &frame.colors),
                ("rects", &frame.rects),
                ("touched", &frame.touched),
                ("key_grads", &key_grads),
                ("grad_geom", &geom),
                ("grad_sh0", &sh[0]),
                ("sh1", &g.sh[1]),
                ("sh2", &g.sh[2]),
                ("sh3", &g.sh[3]),
                ("grad_sh1", &sh[1]),
                ("grad_sh2", &sh[2]),
                ("grad_sh3", &sh[3]),
            ],
        );
        self.project_backward.dispatch_items(ctx, &mut enc, &pb, n);
        ctx.queue.submit([enc.finish()]);
        self.mark(ctx, None, "project_backward")?;
        Ok(GpuGrads {
            count: n,
            sh_degree: g.sh_degree,
            geom,
            sh,
            key_grads,
        })
    }
}

//! The PLAS backend on the GPU (`plas.wgsl`): keys, ids and the target stay on the
//! device; per iteration the host uploads the group order and reads back one cost pair per 64
//! groups. It runs the same integer steps as the rayon backend, so both give the same grid.

use crate::plas::{self, Grid, PlasOptions, PlasStats, Swapper, Tiling};
use splat_gpu::{Constant, GpuContext, GpuError, Kernel, Shader, ShaderSource, wgsl_layout};

const WG: u32 = 64;
/// The shader keeps one group's keys in registers.
pub const MAX_CHANNELS: usize = 12;

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    channels: u32,
    block: u32,
    nbx: u32,
    nby: u32,
    shift_x: u32,
    shift_y: u32,
    groups_per_block: u32,
    groups: u32,
    fx: u32,
    fy: u32,
}

/// The PLAS kernels' source.
pub fn plas_source() -> ShaderSource {
    ShaderSource {
        label: "plas",
        parts: vec![include_str!("plas.wgsl")],
        constants: vec![
            Constant::U32("WG", WG),
            Constant::U32("MAX_CHANNELS", MAX_CHANNELS as u32),
        ],
        layouts: vec![wgsl_layout!(Params as "Params" {
            width, height, channels, block, nbx, nby, shift_x, shift_y, groups_per_block,
            groups, fx, fy
        })],
    }
}

struct GpuSwapper<'a> {
    ctx: &'a GpuContext,
    params: Params,
    params_buf: wgpu::Buffer,
    order: wgpu::Buffer,
    partial: wgpu::Buffer,
    blur_x: (Kernel, wgpu::BindGroup),
    blur_y: (Kernel, wgpu::BindGroup),
    swap: (Kernel, wgpu::BindGroup),
}

impl GpuSwapper<'_> {
    fn write_params(&self) {
        self.ctx
            .queue
            .write_buffer(&self.params_buf, 0, bytemuck::bytes_of(&self.params));
    }
}

impl Swapper for GpuSwapper<'_> {
    type Error = GpuError;

    fn blur(&mut self, fx: usize, fy: usize) -> Result<(), GpuError> {
        self.params.fx = fx as u32;
        self.params.fy = fy as u32;
        self.write_params();
        let items = self.params.width * self.params.height * self.params.channels;
        let mut enc = self.ctx.encoder("plas blur");
        self.blur_x
            .0
            .dispatch(self.ctx, &mut enc, &self.blur_x.1, items.div_ceil(WG));
        self.blur_y
            .0
            .dispatch(self.ctx, &mut enc, &self.blur_y.1, items.div_ceil(WG));
        self.ctx.queue.submit([enc.finish()]);
        Ok(())
    }

    fn step(&mut self, t: &Tiling, order: &[u32]) -> Result<(u64, u64), GpuError> {
        let gpb = (order.len() / 4) as u32;
        let groups = t.blocks() as u32 * gpb;
        self.params.block = t.block as u32;
        self.params.nbx = t.nbx as u32;
        self.params.nby = t.nby as u32;
        self.params.shift_x = t.shift.0 as u32;
        self.params.shift_y = t.shift.1 as u32;
        self.params.groups_per_block = gpb;
        self.params.groups = groups;
        self.write_params();
        self.ctx
            .queue
            .write_buffer(&self.order, 0, bytemuck::cast_slice(order));
        let workgroups = groups.div_ceil(WG);
        let mut enc = self.ctx.encoder("plas swap");
        self.swap
            .0
            .dispatch(self.ctx, &mut enc, &self.swap.1, workgroups);
        self.ctx.queue.submit([enc.finish()]);
        let sums: Vec<u32> = splat_gpu::readback(self.ctx, &self.partial, 2 * workgroups as usize)?;
        Ok(sums.chunks_exact(2).fold((0u64, 0u64), |(b, a), s| {
            (b + u64::from(s[0]), a + u64::from(s[1]))
        }))
    }
}

/// Sorts `grid` in place on the GPU; the result equals [`plas::sort`]'s for the same options.
pub fn sort(
    ctx: &GpuContext,
    grid: &mut Grid,
    opts: &PlasOptions,
    progress: &dyn Fn(usize, usize),
) -> Result<PlasStats, GpuError> {
    let (w, h, c) = (grid.width, grid.height, grid.channels);
    if c > MAX_CHANNELS {
        return Err(GpuError::Device(format!(
            "PLAS on the GPU takes at most {MAX_CHANNELS} key channels, not {c}"
        )));
    }
    if w.min(h) < 2 {
        return Ok(PlasStats::default());
    }
    ctx.checked("PLAS sort on the GPU", || {
        let keys32: Vec<u32> = grid.keys.iter().map(|&k| u32::from(k)).collect();
        let n = (w * h) as u64;
        let keys = splat_gpu::storage_buffer(ctx, "plas keys", &keys32);
        let ids = splat_gpu::storage_buffer(ctx, "plas ids", &grid.ids);
        let blurred = splat_gpu::storage_buffer_zeroed(ctx, "plas target", n * c as u64 * 4);
        let rows = splat_gpu::storage_buffer_zeroed(ctx, "plas rows", n * c as u64 * 4);
        let order = splat_gpu::storage_buffer_zeroed(ctx, "plas order", n * 4);
        let partial = splat_gpu::storage_buffer_zeroed(
            ctx,
            "plas partial sums",
            (n / 4).div_ceil(u64::from(WG)) * 8 + 8,
        );
        let params = Params {
            width: w as u32,
            height: h as u32,
            channels: c as u32,
            ..Params::default()
        };
        let params_buf = splat_gpu::uniform_buffer(ctx, "plas params", &params);
        let shader = Shader::compose(&plas_source())?;
        let bx = shader.kernel(ctx, "blur_x")?;
        let bx_bind = bx.bind(ctx, &[("p", &params_buf), ("keys", &keys), ("rows", &rows)]);
        let by = shader.kernel(ctx, "blur_y")?;
        let by_bind = by.bind(
            ctx,
            &[("p", &params_buf), ("blurred", &blurred), ("rows", &rows)],
        );
        let sw = shader.kernel(ctx, "swap")?;
        let sw_bind = sw.bind(
            ctx,
            &[
                ("p", &params_buf),
                ("keys", &keys),
                ("ids", &ids),
                ("blurred", &blurred),
                ("order", &order),
                ("partial", &partial),
            ],
        );
        let mut swapper = GpuSwapper {
            ctx,
            params,
            params_buf,
            order,
            partial,
            blur_x: (bx, bx_bind),
            blur_y: (by, by_bind),
            swap: (sw, sw_bind),
        };
        let stats = plas::run(&mut swapper, w, h, opts, progress)?;
        let sorted_keys: Vec<u32> = splat_gpu::readback(ctx, &keys, grid.keys.len())?;
        grid.ids = splat_gpu::readback(ctx, &ids, grid.ids.len())?;
        grid.keys = sorted_keys.into_iter().map(|k| k as u16).collect();
        Ok(stats)
    })
}

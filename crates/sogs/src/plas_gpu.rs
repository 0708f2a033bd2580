//! The PLAS backend on the GPU (`shaders/plas.wgsl`): keys, ids and the target stay on the
//! device; per iteration the host uploads the group order and reads back one cost pair per 64
//! groups. It runs the same integer steps as the rayon backend, so both give the same grid.

use crate::plas::{self, Grid, PlasOptions, PlasStats, Swapper, Tiling};
use gpu::{GpuContext, GpuError};

const SOURCE: &str = include_str!("../../../shaders/plas.wgsl");
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

struct GpuSwapper<'a> {
    ctx: &'a GpuContext,
    params: Params,
    params_buf: wgpu::Buffer,
    order: wgpu::Buffer,
    partial: wgpu::Buffer,
    blur_x: (wgpu::ComputePipeline, wgpu::BindGroup),
    blur_y: (wgpu::ComputePipeline, wgpu::BindGroup),
    swap: (wgpu::ComputePipeline, wgpu::BindGroup),
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
        self.ctx
            .dispatch(&mut enc, &self.blur_x.0, &self.blur_x.1, items.div_ceil(WG));
        self.ctx
            .dispatch(&mut enc, &self.blur_y.0, &self.blur_y.1, items.div_ceil(WG));
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
        self.ctx
            .dispatch(&mut enc, &self.swap.0, &self.swap.1, workgroups);
        self.ctx.queue.submit([enc.finish()]);
        let sums: Vec<u32> = gpu::readback(self.ctx, &self.partial, 2 * workgroups as usize)?;
        Ok(sums
            .chunks_exact(2)
            .fold((0u64, 0u64), |(b, a), s| (b + s[0] as u64, a + s[1] as u64)))
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
        let keys32: Vec<u32> = grid.keys.iter().map(|&k| k as u32).collect();
        let n = (w * h) as u64;
        let keys = gpu::storage_buffer(ctx, "plas keys", &keys32);
        let ids = gpu::storage_buffer(ctx, "plas ids", &grid.ids);
        let blurred = gpu::storage_buffer_zeroed(ctx, "plas target", n * c as u64 * 4);
        let rows = gpu::storage_buffer_zeroed(ctx, "plas rows", n * c as u64 * 4);
        let order = gpu::storage_buffer_zeroed(ctx, "plas order", n * 4);
        let partial = gpu::storage_buffer_zeroed(
            ctx,
            "plas partial sums",
            (n / 4).div_ceil(WG as u64) * 8 + 8,
        );
        let params = Params {
            width: w as u32,
            height: h as u32,
            channels: c as u32,
            ..Params::default()
        };
        let params_buf = gpu::uniform_buffer(ctx, "plas params", &params);
        let pipeline = |entry: &str| ctx.compute_pipeline(entry, SOURCE, entry);
        let bx = pipeline("blur_x");
        let bx_bind = ctx.bind_group_at(
            "plas blur_x",
            &bx,
            &[(0, &params_buf), (1, &keys), (4, &rows)],
        );
        let by = pipeline("blur_y");
        let by_bind = ctx.bind_group_at(
            "plas blur_y",
            &by,
            &[(0, &params_buf), (3, &blurred), (4, &rows)],
        );
        let sw = pipeline("swap");
        let sw_bind = ctx.bind_group_at(
            "plas swap",
            &sw,
            &[
                (0, &params_buf),
                (1, &keys),
                (2, &ids),
                (3, &blurred),
                (5, &order),
                (6, &partial),
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
        let sorted_keys: Vec<u32> = gpu::readback(ctx, &keys, grid.keys.len())?;
        grid.ids = gpu::readback(ctx, &ids, grid.ids.len())?;
        grid.keys = sorted_keys.into_iter().map(|k| k as u16).collect();
        Ok(stats)
    })
}

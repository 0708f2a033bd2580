//! Exclusive prefix scan over u32 on the GPU (host side of `shaders/scan.wgsl`).
//!
//! Each level scans blocks of 1024 elements and writes block totals; the totals are scanned by
//! the next level until one block remains, then the offsets are added back down the levels.

use crate::{
    GpuContext, GpuError, readback, shaders, storage_buffer, storage_buffer_zeroed, uniform_buffer,
};

/// Elements one workgroup scans.
pub const SCAN_BLOCK: u32 = 1024;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ScanParams {
    n: u32,
    num_blocks: u32,
    _pad: [u32; 2],
}

/// Compiled scan kernels; create once per device and reuse.
pub struct PrefixScan {
    scan_blocks: wgpu::ComputePipeline,
    add_offsets: wgpu::ComputePipeline,
}

struct Level {
    groups: u32,
    bind: wgpu::BindGroup,
    add_bind: wgpu::BindGroup,
}

/// The buffers and bind groups to scan one buffer of a fixed length; reusable across submissions.
pub struct ScanPlan {
    levels: Vec<Level>,
}

impl PrefixScan {
    pub fn new(ctx: &GpuContext) -> Self {
        Self {
            scan_blocks: ctx.compute_pipeline("scan_blocks", shaders::SCAN, "scan_blocks"),
            add_offsets: ctx.compute_pipeline("add_offsets", shaders::SCAN, "add_offsets"),
        }
    }

    /// Prepares an in-place exclusive scan of the first `n` u32 of `data`.
    pub fn plan(&self, ctx: &GpuContext, data: &wgpu::Buffer, n: u32) -> ScanPlan {
        let mut levels = Vec::new();
        let mut current = data.clone();
        let mut len = n;
        while len > 0 {
            let groups = len.div_ceil(SCAN_BLOCK);
            let sums = storage_buffer_zeroed(ctx, "scan block sums", u64::from(groups) * 4);
            let params = uniform_buffer(
                ctx,
                "scan params",
                &ScanParams {
                    n: len,
                    num_blocks: groups,
                    _pad: [0; 2],
                },
            );
            let bind = ctx.bind_group("scan", &self.scan_blocks, &[&params, &current, &sums]);
            let add_bind =
                ctx.bind_group("scan add", &self.add_offsets, &[&params, &current, &sums]);
            levels.push(Level {
                groups,
                bind,
                add_bind,
            });
            if groups == 1 {
                break;
            }
            current = sums;
            len = groups;
        }
        ScanPlan { levels }
    }

    /// Records the scan into `encoder`.
    pub fn encode(&self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, plan: &ScanPlan) {
        for level in &plan.levels {
            ctx.dispatch(encoder, &self.scan_blocks, &level.bind, level.groups);
        }
        // The last level is a single block and needs no offsets.
        for level in plan.levels.iter().rev().skip(1) {
            ctx.dispatch(encoder, &self.add_offsets, &level.add_bind, level.groups);
        }
    }

    /// Uploads `data`, scans it and reads it back: the exclusive prefix sums (wrapping).
    pub fn scan_host(&self, ctx: &GpuContext, data: &[u32]) -> Result<Vec<u32>, GpuError> {
        ctx.checked("prefix scan on the GPU", || {
            let n = check_len(ctx, "prefix scan", data.len())?;
            let buf = storage_buffer(ctx, "scan data", data);
            let plan = self.plan(ctx, &buf, n);
            let mut enc = ctx.encoder("scan");
            self.encode(ctx, &mut enc, &plan);
            ctx.queue.submit([enc.finish()]);
            readback(ctx, &buf, data.len())
        })
    }
}

/// Checks that `len` u32 fit in one binding and in u32 indexing.
pub(crate) fn check_len(ctx: &GpuContext, what: &'static str, len: usize) -> Result<u32, GpuError> {
    let bytes = len as u64 * 4;
    let limit = ctx.max_binding().min(u64::from(u32::MAX));
    if bytes > limit {
        return Err(GpuError::TooLarge {
            what,
            needed: bytes,
            limit,
        });
    }
    Ok(len as u32)
}

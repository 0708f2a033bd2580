//! Exclusive prefix scan over u32 on the GPU (host side of `scan.wgsl`).
//!
//! Each level scans blocks of 1024 elements and writes block totals; the totals are scanned by
//! the next level until one block remains, then the offsets are added back down the levels.

use crate::{
    Constant, GpuContext, GpuError, Kernel, Shader, ShaderSource, readback, storage_buffer,
    storage_buffer_zeroed, uniform_buffer, wgsl_layout,
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

/// The scan kernels' source.
pub fn scan_source() -> ShaderSource {
    ShaderSource {
        label: "scan",
        parts: vec![include_str!("scan.wgsl")],
        constants: vec![Constant::U32("BLOCK", SCAN_BLOCK)],
        layouts: vec![wgsl_layout!(ScanParams as "Params" { n, num_blocks })],
    }
}

/// Compiled scan kernels; create once per device and reuse.
pub struct PrefixScan {
    scan_blocks: Kernel,
    add_offsets: Kernel,
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
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let shader = Shader::compose(&scan_source())?;
        Ok(Self {
            scan_blocks: shader.kernel(ctx, "scan_blocks")?,
            add_offsets: shader.kernel(ctx, "add_offsets")?,
        })
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
            let buffers = [
                ("params", &params),
                ("data", &current),
                ("block_sums", &sums),
            ];
            let bind = self.scan_blocks.bind(ctx, &buffers);
            let add_bind = self.add_offsets.bind(ctx, &buffers);
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
            self.scan_blocks
                .dispatch(ctx, encoder, &level.bind, level.groups);
        }
        // The last level is a single block and needs no offsets.
        for level in plan.levels.iter().rev().skip(1) {
            self.add_offsets
                .dispatch(ctx, encoder, &level.add_bind, level.groups);
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

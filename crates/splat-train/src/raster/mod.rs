//! The GPU tile rasterizer, forward (`forward.rs`, `forward.wgsl`) and backward (`backward.rs`,
//! `backward.wgsl`), over WGSL definitions both share (`common.wgsl`) and constants shared with
//! the f64 reference (`crate::constants`).
//!
//! One frame: project every Gaussian → radix sort of the Gaussians by depth → exclusive scan of
//! the tiles each covers, in depth order → emit one (tile, id) key per covered tile, front to
//! back → stable radix sort of the keys on the tile bits only → per-tile ranges → rasterize each
//! 16×16 tile. Sorting depth once per Gaussian and then only the tile bits per key gives the
//! order one sort of (tile, depth) keys would (ties by Gaussian id), for about a third of the
//! element passes. The only mid-frame readback is the key count (4 bytes, read alone with
//! `readback_at`: the scan it ends is 4 bytes a Gaussian), needed to size the key buffers.

mod backward;
mod forward;
mod profile;

pub use forward::{FRAME_IMAGE, Frame, RenderOutput};
pub use profile::Profile;

use crate::constants::raster_constants;
use splat_gpu::{GpuContext, GpuError, Kernel, PrefixScan, RadixSort, Shader, ShaderSource};

const COMMON_WGSL: &str = include_str!("common.wgsl");
const FORWARD_WGSL: &str = include_str!("forward.wgsl");
const BACKWARD_WGSL: &str = include_str!("backward.wgsl");
/// The tile pass with subgroup sums (needs the device's SUBGROUP feature; Naga takes subgroup
/// built-ins without WGSL's `enable subgroups;`, which it rejects as not yet implemented).
const BACKWARD_SUBGROUP_WGSL: &str = include_str!("backward_subgroup.wgsl");

/// The forward kernels' source: the shared definitions, then the kernels.
pub fn forward_source() -> ShaderSource {
    ShaderSource {
        label: "rasterize forward",
        parts: vec![COMMON_WGSL, FORWARD_WGSL],
        constants: raster_constants(),
        layouts: vec![forward::view_params_layout()],
    }
}

/// The backward kernels' source, with the subgroup tile pass when `subgroup`.
pub fn backward_source(subgroup: bool) -> ShaderSource {
    let mut parts = vec![COMMON_WGSL, BACKWARD_WGSL];
    if subgroup {
        parts.push(BACKWARD_SUBGROUP_WGSL);
    }
    ShaderSource {
        label: if subgroup {
            "rasterize backward (subgroups)"
        } else {
            "rasterize backward"
        },
        parts,
        constants: raster_constants(),
        layouts: vec![forward::view_params_layout()],
    }
}

/// Which kernel sums the per-pixel gradients over a tile in the backward pass. Both give the
/// same gradients up to float summation order, and each is deterministic on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileReduction {
    /// Eight pixels per invocation summed in registers, subgroup adds over the 32 invocations,
    /// then the subgroups' partial sums every few keys: fewer barriers, no serial loops and an
    /// eighth of the cross-invocation sums. Needs subgroups of at least 8 invocations (the
    /// shader sizes its workgroup memory for at most 4 subgroups) and 13 KiB of workgroup memory.
    Subgroup,
    /// Per key, row sums then the tile sum in workgroup memory: core WebGPU only.
    Portable,
}

impl TileReduction {
    /// The fastest variant `ctx` can run.
    pub fn best(ctx: &GpuContext) -> Self {
        let room = ctx.limits.max_compute_workgroup_storage_size >= 13 * 1024;
        match ctx.subgroups() {
            Some((min, _)) if min >= 8 && room => Self::Subgroup,
            _ => Self::Portable,
        }
    }
}

/// Which tiles a Gaussian's keys go to. Both give the same image and gradients: the blend skips
/// every pixel the tighter bounds leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum TileBounds {
    /// The tiles under the box of the 3σ circle of the 2D covariance's larger axis (the 3DGS
    /// paper's rasterizer).
    ThreeSigma = 0,
    /// Of those tiles, only the ones holding a pixel of the box around the ellipse outside which
    /// the Gaussian's α falls below the blend's 1/255 (smaller for faint Gaussians, and per axis
    /// for elongated ones); none for a Gaussian fainter than that everywhere. Fewer keys to
    /// emit, sort, blend and differentiate.
    OpacityAware = 1,
}

/// The compiled rasterizer kernels (forward and backward).
pub struct Rasterizer {
    project: Kernel,
    rank_counts: Kernel,
    emit: Kernel,
    ranges: Kernel,
    raster: Kernel,
    raster_backward: Kernel,
    reduction: TileReduction,
    bounds: TileBounds,
    project_backward: Kernel,
    accumulate_weights: Kernel,
    scan: PrefixScan,
    sort: RadixSort,
    /// When profiling: the end of the last timed stage and the stages timed so far.
    profile: std::sync::Mutex<Option<Profile>>,
}

impl Rasterizer {
    /// The rasterizer with the fastest backward tile pass the device supports.
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        Self::with_reduction(ctx, TileReduction::best(ctx))
    }

    /// The rasterizer with a chosen backward tile pass (tests compare the two).
    pub fn with_reduction(ctx: &GpuContext, reduction: TileReduction) -> Result<Self, GpuError> {
        let forward = Shader::compose(&forward_source())?;
        let backward = Shader::compose(&backward_source(false))?;
        let raster_backward = match reduction {
            TileReduction::Subgroup => Shader::compose(&backward_source(true))?
                .kernel(ctx, "rasterize_backward_subgroup")?,
            TileReduction::Portable => backward.kernel(ctx, "rasterize_backward")?,
        };
        Ok(Self {
            project: forward.kernel(ctx, "project")?,
            rank_counts: forward.kernel(ctx, "rank_counts")?,
            emit: forward.kernel(ctx, "emit_keys")?,
            ranges: forward.kernel(ctx, "tile_ranges")?,
            raster: forward.kernel(ctx, "rasterize")?,
            raster_backward,
            reduction,
            bounds: TileBounds::OpacityAware,
            project_backward: backward.kernel(ctx, "project_backward")?,
            accumulate_weights: backward.kernel(ctx, "accumulate_weights")?,
            scan: PrefixScan::new(ctx)?,
            sort: RadixSort::new(ctx)?,
            profile: std::sync::Mutex::new(None),
        })
    }

    /// The backward tile pass in use.
    pub fn reduction(&self) -> TileReduction {
        self.reduction
    }

    /// This rasterizer with other tile bounds (opacity-aware unless set; tests and profiles
    /// compare the two).
    pub fn with_bounds(mut self, bounds: TileBounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// The tile bounds in use.
    pub fn bounds(&self) -> TileBounds {
        self.bounds
    }
}

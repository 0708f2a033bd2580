//! The GPU layer every stage shares: picking a wgpu adapter (`SPLAT_ADAPTER` selects one by name),
//! buffer upload and readback, typed kernels (`kernel`: WGSL composed with constants from Rust,
//! reflected so that structs and bindings are checked against the shader), and two general kernels that the
//! rasterizer and the compressor are built on — an exclusive prefix scan and a key-value radix sort.

// Library code (not its tests) never unwraps, expects or panics on what a user can influence;
// where an invariant makes one impossible, the site says so with an `allow` and why.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod buffers;
mod context;
mod error;
pub mod kernel;
mod scan;
mod sort;

pub use buffers::{
    readback, readback_at, reuse_buffer, storage_buffer, storage_buffer_zeroed, uniform_buffer,
};
pub use context::{
    AdapterSummary, BUFFER_BUDGET_VAR, DeviceMemory, GpuContext, LAVAPIPE_HINT, list_adapters,
};
pub use error::GpuError;
pub use kernel::{Constant, Kernel, Shader, ShaderSource, StructLayout};
pub use scan::{PrefixScan, ScanPlan, scan_source};
pub use sort::{RadixSort, SortKeys, bits_in_use, sort_source};
pub use wgpu;

/// Splits a 1-D workgroup count into a 2-D dispatch that respects the per-dimension limit.
/// Kernels recover the linear index as `id.x + id.y * num_workgroups.x` and ignore indices
/// past the real count.
pub fn dispatch_size(groups: u32, max_per_dim: u32) -> (u32, u32) {
    if groups <= max_per_dim {
        (groups.max(1), 1)
    } else {
        let y = groups.div_ceil(max_per_dim);
        let x = groups.div_ceil(y);
        (x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::dispatch_size;

    #[test]
    fn dispatch_covers_every_group_within_limits() {
        for &(groups, limit) in &[
            (1u32, 65535u32),
            (65535, 65535),
            (65536, 65535),
            (1_000_000, 65535),
            (5, 3),
            (9, 3),
        ] {
            let (x, y) = dispatch_size(groups, limit);
            assert!(x <= limit && y <= limit, "{groups}: {x}x{y}");
            assert!(u64::from(x) * u64::from(y) >= u64::from(groups));
        }
    }
}

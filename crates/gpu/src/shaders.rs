//! WGSL sources from the workspace's `shaders/` folder, compiled into the binary.

/// Exclusive prefix scan over u32 (`scan_blocks`, `add_offsets`).
pub const SCAN: &str = include_str!("../../../shaders/scan.wgsl");
/// LSD radix sort passes over u32/u64 keys with u32 values (`histogram`, `scatter`).
pub const RADIX_SORT: &str = include_str!("../../../shaders/radix_sort.wgsl");

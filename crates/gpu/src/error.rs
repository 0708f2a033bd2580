//! Errors of the GPU layer.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum GpuError {
    /// No adapter at all, or none matching `SPLAT_ADAPTER`.
    #[error("{0}")]
    NoAdapter(String),
    #[error("could not open a device on adapter '{adapter}': {source}")]
    RequestDevice {
        adapter: String,
        #[source]
        source: wgpu::RequestDeviceError,
    },
    #[error("reading back a GPU buffer failed: {0}")]
    Readback(String),
    #[error("GPU device error: {0}")]
    Device(String),
    #[error("the GPU ran out of memory: {0}")]
    OutOfMemory(String),
    #[error(
        "{what} needs {needed} bytes, more than this device allows in one buffer ({limit} bytes)"
    )]
    TooLarge {
        what: &'static str,
        needed: u64,
        limit: u64,
    },
}

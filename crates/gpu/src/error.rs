//! Errors of the GPU layer.

use thiserror::Error;

#[derive(Debug, Clone, Error)]
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
    /// The driver reset the device (a crash, a timeout, a removed GPU) or it was destroyed.
    #[error(
        "the GPU device was lost: {0}; nothing computed since can be trusted, so the work stops here"
    )]
    DeviceLost(String),
    #[error(
        "{what} needs {needed} bytes, more than this device allows in one buffer ({limit} bytes)"
    )]
    TooLarge {
        what: &'static str,
        needed: u64,
        limit: u64,
    },
    /// A kernel's Rust side and its WGSL disagree (a struct layout, a binding, an entry point).
    #[error("GPU kernel `{kernel}`: {why}")]
    Kernel { kernel: String, why: String },
}

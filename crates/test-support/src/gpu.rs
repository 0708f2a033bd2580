//! The device tests run on, shared by all tests of one test binary. It fails — never skips —
//! when no adapter exists, with the message that says how to install lavapipe.

use splat_gpu::GpuContext;
use std::sync::OnceLock;

/// The process-wide test device.
pub fn context() -> &'static GpuContext {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    CTX.get_or_init(|| match GpuContext::new() {
        Ok(c) => {
            eprintln!(
                "GPU tests run on '{}' ({:?}, {:?})",
                c.info.name, c.info.backend, c.info.device_type
            );
            c
        }
        Err(e) => panic!(
            "GPU tests need a GPU adapter and found none usable: {e}\n{}",
            splat_gpu::LAVAPIPE_HINT
        ),
    })
}

//! The GPU context shared by the tests of one test binary.

use std::sync::OnceLock;

/// The device every GPU test runs on. Fails, never skips, when there is none.
pub fn ctx() -> &'static gpu::GpuContext {
    static CTX: OnceLock<gpu::GpuContext> = OnceLock::new();
    CTX.get_or_init(|| match gpu::GpuContext::new() {
        Ok(c) => {
            eprintln!(
                "GPU tests run on '{}' ({:?}, {:?})",
                c.info.name, c.info.backend, c.info.device_type
            );
            c
        }
        Err(e) => panic!(
            "GPU tests need a GPU adapter and found none usable: {e}\n{}",
            gpu::LAVAPIPE_HINT
        ),
    })
}

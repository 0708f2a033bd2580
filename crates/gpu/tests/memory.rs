//! Device memory as wgpu's allocator reports it, against buffers of known size.

use splat_test_support::gpu::context;

/// Backends whose wgpu layer keeps an allocator report (the others answer `None`).
fn reports(ctx: &splat_gpu::GpuContext) -> bool {
    matches!(
        ctx.info.backend,
        splat_gpu::wgpu::Backend::Vulkan | splat_gpu::wgpu::Backend::Dx12
    )
}

#[test]
fn a_new_buffer_shows_in_the_device_memory() {
    let ctx = context();
    let Some(before) = ctx.device_memory() else {
        assert!(!reports(ctx), "{:?} keeps a report", ctx.info.backend);
        return;
    };
    let bytes = 24u64 << 20;
    let buf = splat_gpu::storage_buffer_zeroed(ctx, "memory probe", bytes);
    ctx.wait().unwrap();
    let after = ctx.device_memory().expect("a report after one before");
    assert!(
        after.allocated >= before.allocated + bytes,
        "{before:?} -> {after:?} with a {bytes}-byte buffer"
    );
    assert!(after.reserved >= after.allocated, "{after:?}");
    drop(buf);
}

//! Buffer creation, upload and readback.

use crate::{GpuContext, GpuError};
use wgpu::util::DeviceExt;

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// A storage buffer holding `data`. Empty data still gives a valid (4-byte) buffer, since wgpu
/// rejects zero-sized bindings.
pub fn storage_buffer<T: bytemuck::Pod>(ctx: &GpuContext, label: &str, data: &[T]) -> wgpu::Buffer {
    let bytes: &[u8] = bytemuck::cast_slice(data);
    if bytes.len() < 4 {
        let mut padded = [0u8; 4];
        padded[..bytes.len()].copy_from_slice(bytes);
        return ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: &padded,
                usage: STORAGE,
            });
    }
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: STORAGE,
        })
}

/// A zero-filled storage buffer of at least `bytes` bytes (rounded up to 4, at least 4).
pub fn storage_buffer_zeroed(ctx: &GpuContext, label: &str, bytes: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4).next_multiple_of(4),
        usage: STORAGE,
        mapped_at_creation: false,
    })
}

/// A uniform buffer holding one `Pod` value.
pub fn uniform_buffer<T: bytemuck::Pod>(ctx: &GpuContext, label: &str, value: &T) -> wgpu::Buffer {
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(value),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
}

/// Copies the first `count` elements of `buffer` back to the host (blocking).
pub fn readback<T: bytemuck::Pod>(
    ctx: &GpuContext,
    buffer: &wgpu::Buffer,
    count: usize,
) -> Result<Vec<T>, GpuError> {
    readback_at(ctx, buffer, 0, count)
}

/// Copies elements `first..first + count` of `buffer` back to the host (blocking): only those
/// cross to the host (a count at the end of a scan is 4 bytes, not the whole scan). The first
/// element's byte offset must be a multiple of 4 (a copy's alignment).
pub fn readback_at<T: bytemuck::Pod>(
    ctx: &GpuContext,
    buffer: &wgpu::Buffer,
    first: usize,
    count: usize,
) -> Result<Vec<T>, GpuError> {
    let size = std::mem::size_of::<T>();
    let bytes = (count * size) as u64;
    let offset = (first * size) as u64;
    if bytes == 0 {
        return Ok(Vec::new());
    }
    if !offset.is_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT) {
        return Err(GpuError::Readback(format!(
            "reading from byte {offset}: copies start at multiples of {}",
            wgpu::COPY_BUFFER_ALIGNMENT
        )));
    }
    ctx.health()?;
    let padded = bytes.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: padded,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = ctx.encoder("readback");
    enc.copy_buffer_to_buffer(buffer, offset, &staging, 0, padded);
    ctx.queue.submit([enc.finish()]);
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    ctx.wait()?;
    rx.recv()
        .map_err(|e| GpuError::Readback(e.to_string()))?
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let view = staging
        .get_mapped_range(..)
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let out = bytemuck::pod_collect_to_vec::<u8, T>(&view[..bytes as usize]);
    drop(view);
    staging.unmap();
    Ok(out)
}

/// `slot` if it holds at least `bytes`, else a new zeroed storage buffer with room to grow (within
/// the device's binding limit), stored in `slot`. Returns a handle to it. Lets loops that run the
/// same kernels every step keep their buffers instead of allocating them each time; the contents
/// are whatever the last user left.
pub fn reuse_buffer(
    ctx: &GpuContext,
    slot: &mut wgpu::Buffer,
    bytes: u64,
    label: &str,
) -> wgpu::Buffer {
    let bytes = bytes.max(4).next_multiple_of(4);
    if slot.size() < bytes {
        let roomy = (bytes + bytes / 2)
            .next_multiple_of(4)
            .min(ctx.max_binding())
            .max(bytes);
        *slot = storage_buffer_zeroed(ctx, label, roomy);
    }
    slot.clone()
}

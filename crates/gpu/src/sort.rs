//! Stable key-value LSD radix sort on the GPU (host side of `sort.wgsl`).
//!
//! Keys are u32 or u64 (as two u32 buffers, low and high words), values are u32. Only the low
//! `key_bits` bits are sorted, 4 bits per pass, so a caller that knows its keys are narrow (tile
//! ids, quantized depths) pays only for the bits in use.

use crate::scan::check_len;
use crate::{
    Constant, GpuContext, GpuError, Kernel, PrefixScan, Shader, ShaderSource, readback,
    storage_buffer, storage_buffer_zeroed, uniform_buffer, wgsl_layout,
};

const DIGIT_BITS: u32 = 4;
const DIGITS: u32 = 1 << DIGIT_BITS;
/// Elements one workgroup handles per pass.
const SORT_BLOCK: u32 = 2048;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SortParams {
    n: u32,
    shift: u32,
    num_blocks: u32,
    has_hi: u32,
}

/// The sort kernels' source.
pub fn sort_source() -> ShaderSource {
    ShaderSource {
        label: "radix sort",
        parts: vec![include_str!("sort.wgsl")],
        constants: vec![
            Constant::U32("BLOCK", SORT_BLOCK),
            Constant::U32("DIGITS", DIGITS),
        ],
        layouts: vec![wgsl_layout!(SortParams as "Params" { n, shift, num_blocks, has_hi })],
    }
}

/// The keys to sort, resident on the GPU.
#[derive(Clone, Copy)]
pub enum SortKeys<'a> {
    U32(&'a wgpu::Buffer),
    /// u64 keys split into their low and high 32-bit words.
    U64 {
        lo: &'a wgpu::Buffer,
        hi: &'a wgpu::Buffer,
    },
}

/// Compiled sort kernels; create once per device and reuse.
pub struct RadixSort {
    histogram: Kernel,
    scatter: Kernel,
    scan: PrefixScan,
}

/// Number of significant bits in `max_key` (0 for 0).
pub fn bits_in_use(max_key: u64) -> u32 {
    64 - max_key.leading_zeros()
}

impl RadixSort {
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let shader = Shader::compose(&sort_source())?;
        Ok(Self {
            histogram: shader.kernel(ctx, "histogram")?,
            scatter: shader.kernel(ctx, "scatter")?,
            scan: PrefixScan::new(ctx)?,
        })
    }

    /// Records a stable sort of the first `n` (key, value) pairs by the low `key_bits` bits of the
    /// key. The result is left in the input buffers. Temporary buffers live until the GPU is done.
    pub fn encode(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        keys: SortKeys<'_>,
        vals: &wgpu::Buffer,
        n: u32,
        key_bits: u32,
    ) -> Result<(), GpuError> {
        let (lo, hi, max_bits) = match keys {
            SortKeys::U32(k) => (k, None, 32),
            SortKeys::U64 { lo, hi } => (lo, Some(hi), 64),
        };
        if key_bits > max_bits {
            return Err(GpuError::Device(format!(
                "radix sort of {max_bits}-bit keys asked for {key_bits} bits"
            )));
        }
        check_len(ctx, "radix sort", n as usize)?;
        let passes = key_bits.div_ceil(DIGIT_BITS);
        if n <= 1 || passes == 0 {
            return Ok(());
        }
        let bytes = u64::from(n) * 4;
        let num_blocks = n.div_ceil(SORT_BLOCK);
        let lo_alt = storage_buffer_zeroed(ctx, "sort keys lo alt", bytes);
        let vals_alt = storage_buffer_zeroed(ctx, "sort vals alt", bytes);
        // Distinct placeholders: a buffer may not be bound read-only and writable in one dispatch.
        let dummy_in = storage_buffer_zeroed(ctx, "sort hi placeholder in", 4);
        let dummy_out = storage_buffer_zeroed(ctx, "sort hi placeholder out", 4);
        let hi_alt = hi.map(|_| storage_buffer_zeroed(ctx, "sort keys hi alt", bytes));
        let hist_len = num_blocks.checked_mul(DIGITS).ok_or(GpuError::TooLarge {
            what: "radix sort histogram",
            needed: u64::from(num_blocks) * u64::from(DIGITS) * 4,
            limit: u64::from(u32::MAX),
        })?;
        let hist = storage_buffer_zeroed(ctx, "sort histogram", u64::from(hist_len) * 4);
        let scan_plan = self.scan.plan(ctx, &hist, hist_len);

        let a = (lo, hi.unwrap_or(&dummy_in), vals);
        let b = (&lo_alt, hi_alt.as_ref().unwrap_or(&dummy_out), &vals_alt);
        for pass in 0..passes {
            let (src, dst) = if pass % 2 == 0 { (a, b) } else { (b, a) };
            let (src_hi, dst_hi) = if hi.is_some() {
                (src.1, dst.1)
            } else {
                (&dummy_in, &dummy_out)
            };
            let params = uniform_buffer(
                ctx,
                "sort params",
                &SortParams {
                    n,
                    shift: pass * DIGIT_BITS,
                    num_blocks,
                    has_hi: u32::from(hi.is_some()),
                },
            );
            let hist_bind = self.histogram.bind(
                ctx,
                &[
                    ("params", &params),
                    ("keys_lo_in", src.0),
                    ("keys_hi_in", src_hi),
                    ("hist", &hist),
                ],
            );
            let scatter_bind = self.scatter.bind(
                ctx,
                &[
                    ("params", &params),
                    ("keys_lo_in", src.0),
                    ("keys_hi_in", src_hi),
                    ("hist", &hist),
                    ("vals_in", src.2),
                    ("keys_lo_out", dst.0),
                    ("keys_hi_out", dst_hi),
                    ("vals_out", dst.2),
                ],
            );
            self.histogram
                .dispatch(ctx, encoder, &hist_bind, num_blocks);
            self.scan.encode(ctx, encoder, &scan_plan);
            self.scatter
                .dispatch(ctx, encoder, &scatter_bind, num_blocks);
        }
        if passes % 2 == 1 {
            encoder.copy_buffer_to_buffer(&lo_alt, 0, lo, 0, bytes);
            encoder.copy_buffer_to_buffer(&vals_alt, 0, vals, 0, bytes);
            if let (Some(hi), Some(hi_alt)) = (hi, &hi_alt) {
                encoder.copy_buffer_to_buffer(hi_alt, 0, hi, 0, bytes);
            }
        }
        Ok(())
    }

    /// Sorts host data on the GPU by the bits in use of the largest key; returns (keys, values).
    pub fn sort_u32_host(
        &self,
        ctx: &GpuContext,
        keys: &[u32],
        vals: &[u32],
    ) -> Result<(Vec<u32>, Vec<u32>), GpuError> {
        assert_eq!(keys.len(), vals.len(), "keys and values differ in length");
        let max = keys.iter().copied().max().unwrap_or(0);
        self.sort_u32_host_bits(ctx, keys, vals, bits_in_use(u64::from(max)))
    }

    /// As `sort_u32_host` with an explicit number of key bits.
    pub fn sort_u32_host_bits(
        &self,
        ctx: &GpuContext,
        keys: &[u32],
        vals: &[u32],
        key_bits: u32,
    ) -> Result<(Vec<u32>, Vec<u32>), GpuError> {
        ctx.checked("sorting on the GPU", || {
            let n = check_len(ctx, "radix sort", keys.len())?;
            let kb = storage_buffer(ctx, "sort keys", keys);
            let vb = storage_buffer(ctx, "sort vals", vals);
            let mut enc = ctx.encoder("sort");
            self.encode(ctx, &mut enc, SortKeys::U32(&kb), &vb, n, key_bits)?;
            ctx.queue.submit([enc.finish()]);
            Ok((
                readback(ctx, &kb, keys.len())?,
                readback(ctx, &vb, vals.len())?,
            ))
        })
    }

    /// Sorts u64 keys with u32 values on the GPU by the bits in use of the largest key.
    pub fn sort_u64_host(
        &self,
        ctx: &GpuContext,
        keys: &[u64],
        vals: &[u32],
    ) -> Result<(Vec<u64>, Vec<u32>), GpuError> {
        assert_eq!(keys.len(), vals.len(), "keys and values differ in length");
        let max = keys.iter().copied().max().unwrap_or(0);
        self.sort_u64_host_bits(ctx, keys, vals, bits_in_use(max))
    }

    /// As `sort_u64_host` with an explicit number of key bits.
    pub fn sort_u64_host_bits(
        &self,
        ctx: &GpuContext,
        keys: &[u64],
        vals: &[u32],
        key_bits: u32,
    ) -> Result<(Vec<u64>, Vec<u32>), GpuError> {
        ctx.checked("sorting on the GPU", || {
            let n = check_len(ctx, "radix sort", keys.len())?;
            let lo: Vec<u32> = keys.iter().map(|&k| k as u32).collect();
            let hi: Vec<u32> = keys.iter().map(|&k| (k >> 32) as u32).collect();
            let lo_b = storage_buffer(ctx, "sort keys lo", &lo);
            let hi_b = storage_buffer(ctx, "sort keys hi", &hi);
            let vb = storage_buffer(ctx, "sort vals", vals);
            let mut enc = ctx.encoder("sort");
            self.encode(
                ctx,
                &mut enc,
                SortKeys::U64 {
                    lo: &lo_b,
                    hi: &hi_b,
                },
                &vb,
                n,
                key_bits,
            )?;
            ctx.queue.submit([enc.finish()]);
            let lo = readback::<u32>(ctx, &lo_b, keys.len())?;
            let hi = readback::<u32>(ctx, &hi_b, keys.len())?;
            let keys = lo
                .iter()
                .zip(&hi)
                .map(|(&l, &h)| (u64::from(h) << 32) | u64::from(l))
                .collect();
            Ok((keys, readback(ctx, &vb, vals.len())?))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bits_in_use_counts_significant_bits() {
        assert_eq!(super::bits_in_use(0), 0);
        assert_eq!(super::bits_in_use(1), 1);
        assert_eq!(super::bits_in_use(15), 4);
        assert_eq!(super::bits_in_use(16), 5);
        assert_eq!(super::bits_in_use(u64::MAX), 64);
    }
}

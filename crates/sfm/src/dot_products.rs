//! The similarity matrix of two descriptor sets: every row of one against every row of the
//! other, as f32 dot products of the unit vectors the bytes stand for (bytes = 512·v).
//!
//! Two kernels compute it, with identical results. The bytes' products are integers and a row's
//! sum stays below 2²⁴ (128 · 255² < 16,777,216), so every partial sum of the scaled bytes is an
//! exact f32 and the order of the additions does not matter:
//! - `Kernel::Vnni`: integer dot products with AVX-512 VNNI (`vpdpbusd`: 64 byte products per
//!   instruction, against 16 for an AVX-512 f32 FMA and 8 for the AVX2 one that SGEMM crates
//!   use). Written by hand because no maintained crate has an integer matrix product.
//! - `Kernel::Sgemm`: matrixmultiply's SGEMM of the bytes widened to f32, on every other CPU.

use crate::features::DESCRIPTOR_LEN;

/// 512⁻²: a byte product's weight (exact in f32).
const SCALE: f32 = 1.0 / (512.0 * 512.0);

/// Which kernel computes the dot products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// matrixmultiply's SGEMM on the bytes widened to f32.
    Sgemm,
    /// AVX-512 VNNI integer dot products (x86-64 CPUs that have them).
    Vnni,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        if Self::Vnni.available() {
            Self::Vnni
        } else {
            Self::Sgemm
        }
    }

    /// Whether this CPU runs the kernel.
    pub fn available(self) -> bool {
        match self {
            Self::Sgemm => true,
            #[cfg(target_arch = "x86_64")]
            Self::Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Self::Vnni => false,
        }
    }
}

/// One descriptor set, laid out for a kernel (as either side of the product).
pub struct Descriptors {
    rows: usize,
    layout: Layout,
}

enum Layout {
    /// Row-major, 128 f32 per row.
    Floats(Vec<f32>),
    /// The bytes row-major (the left side), each row's byte sum, and the bytes packed for the
    /// right side (`vnni::pack`).
    Bytes {
        bytes: Vec<[u8; DESCRIPTOR_LEN]>,
        sums: Vec<i32>,
        packed: Vec<u8>,
    },
}

impl Descriptors {
    /// Laid out for `kernel`; an unavailable kernel falls back to `Kernel::Sgemm`.
    pub fn new(descriptors: &[[u8; DESCRIPTOR_LEN]], kernel: Kernel) -> Self {
        let layout = match kernel {
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni if kernel.available() => Layout::Bytes {
                bytes: descriptors.to_vec(),
                sums: descriptors
                    .iter()
                    .map(|d| d.iter().map(|&b| i32::from(b)).sum())
                    .collect(),
                packed: vnni::pack(descriptors),
            },
            _ => Layout::Floats(
                descriptors
                    .iter()
                    .flatten()
                    .map(|&b| f32::from(b) / 512.0)
                    .collect(),
            ),
        };
        Self {
            rows: descriptors.len(),
            layout,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Row `i`'s bytes.
    fn bytes(&self, i: usize) -> [u8; DESCRIPTOR_LEN] {
        match &self.layout {
            // Exact: the floats are bytes / 512.
            Layout::Floats(v) => std::array::from_fn(|k| (v[i * DESCRIPTOR_LEN + k] * 512.0) as u8),
            Layout::Bytes { bytes, .. } => bytes[i],
        }
    }

    /// The kernel this layout is for.
    pub fn kernel(&self) -> Kernel {
        match self.layout {
            Layout::Floats(_) => Kernel::Sgemm,
            Layout::Bytes { .. } => Kernel::Vnni,
        }
    }
}

/// Dot products of rows `start..end` of `a` with every row of `b`, row-major into `out`
/// (`(end − start) × b.len()`).
///
/// Sets laid out for different kernels are multiplied by a plain loop (same results, slowly).
///
/// # Panics
/// If `out` has the wrong size.
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
pub fn products(a: &Descriptors, start: usize, end: usize, b: &Descriptors, out: &mut [f32]) {
    let (m, n) = (end - start, b.rows);
    assert!(end <= a.rows && out.len() == m * n, "product shape");
    match (&a.layout, &b.layout) {
        (Layout::Floats(a), Layout::Floats(b)) => {
            // SAFETY: the pointers and strides describe `m×128`, `128×n` (b transposed through
            // its strides) and `m×n` row-major matrices inside the three slices (their lengths
            // checked above and by construction), which outlive the call.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    DESCRIPTOR_LEN,
                    n,
                    1.0,
                    a[start * DESCRIPTOR_LEN..].as_ptr(),
                    DESCRIPTOR_LEN as isize,
                    1,
                    b.as_ptr(),
                    1,
                    DESCRIPTOR_LEN as isize,
                    0.0,
                    out.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
        }
        #[cfg(target_arch = "x86_64")]
        (Layout::Bytes { bytes, sums, .. }, Layout::Bytes { packed, .. }) => {
            // SAFETY: a `Bytes` layout is only built where `Kernel::Vnni.available()` (checked
            // in `Descriptors::new`), so the CPU has the features the kernel is compiled for.
            unsafe {
                vnni::products(&bytes[start..end], &sums[start..end], packed, n, out);
            }
        }
        _ => {
            // Sets laid out for different kernels (`DescriptorMatrix::with_kernel` with two
            // kernels): the plain loop, exact like the kernels.
            for (r, row) in out.chunks_exact_mut(n.max(1)).enumerate() {
                let left = a.bytes(start + r);
                for (j, o) in row.iter_mut().enumerate() {
                    let dot: u32 = left
                        .iter()
                        .zip(&b.bytes(j))
                        .map(|(&x, &y)| u32::from(x) * u32::from(y))
                        .sum();
                    *o = dot as f32 * SCALE;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
mod vnni {
    use super::{DESCRIPTOR_LEN, SCALE};
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi32, _mm512_cvtepi32_ps, _mm512_dpbusd_epi32, _mm512_loadu_si512,
        _mm512_mask_storeu_ps, _mm512_mul_ps, _mm512_set1_epi32, _mm512_set1_ps,
        _mm512_setzero_si512, _mm512_storeu_ps,
    };

    /// Right-side rows per block: one 32-bit lane of a 512-bit register each.
    const COLS: usize = 16;
    /// Groups of 4 bytes in a descriptor: one `vpdpbusd` step each.
    const GROUPS: usize = DESCRIPTOR_LEN / 4;
    /// Bytes of one group of one block: a 512-bit register.
    const GROUP_BYTES: usize = COLS * 4;
    /// Left-side rows per tile (with 2 blocks: 8 accumulators, 2 loads and 4 broadcasts per group).
    const ROWS: usize = 4;

    /// The right side packed for `vpdpbusd`, which multiplies unsigned bytes by signed ones:
    /// block by block of 16 rows, group by group, the group's 4 bytes of each of the 16 rows
    /// (lane j holds row j's), each byte minus 128 (`b ^ 0x80` read as i8). So
    /// a·b = a·(b − 128) + 128·Σa, the last term from the left row's byte sum. Rows past the end
    /// of the last block are zeros, and their lanes are never stored.
    pub fn pack(rows: &[[u8; DESCRIPTOR_LEN]]) -> Vec<u8> {
        let mut out = vec![0u8; rows.len().div_ceil(COLS) * GROUPS * GROUP_BYTES];
        for (j, row) in rows.iter().enumerate() {
            let (block, lane) = (j / COLS, j % COLS);
            for (g, group) in row.chunks_exact(4).enumerate() {
                let at = (block * GROUPS + g) * GROUP_BYTES + lane * 4;
                for (o, &b) in out[at..at + 4].iter_mut().zip(group) {
                    *o = b ^ 0x80;
                }
            }
        }
        out
    }

    /// `out[r·n + j]` = the dot product of `left[r]` and right row `j`, scaled by 512⁻².
    ///
    /// # Safety
    /// The CPU must have AVX-512F and AVX-512 VNNI. `packed` is `pack` of `n` rows, `sums` the
    /// byte sums of `left`, and `out` is `left.len() × n`.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn products(
        left: &[[u8; DESCRIPTOR_LEN]],
        sums: &[i32],
        packed: &[u8],
        n: usize,
        out: &mut [f32],
    ) {
        assert!(
            sums.len() == left.len()
                && packed.len() == n.div_ceil(COLS) * GROUPS * GROUP_BYTES
                && out.len() == left.len() * n,
            "kernel shapes"
        );
        let blocks = n.div_ceil(COLS);
        let mut r = 0;
        while r < left.len() {
            let rows = (left.len() - r).min(ROWS);
            let out = &mut out[r * n..(r + rows) * n];
            let mut block = 0;
            while block < blocks {
                let two = block + 2 <= blocks;
                let (left, sums) = (&left[r..r + rows], &sums[r..r + rows]);
                match (rows, two) {
                    (4, true) => tile::<4, 2>(left, sums, packed, block, n, out),
                    (4, false) => tile::<4, 1>(left, sums, packed, block, n, out),
                    (3, true) => tile::<3, 2>(left, sums, packed, block, n, out),
                    (3, false) => tile::<3, 1>(left, sums, packed, block, n, out),
                    (2, true) => tile::<2, 2>(left, sums, packed, block, n, out),
                    (2, false) => tile::<2, 1>(left, sums, packed, block, n, out),
                    (_, true) => tile::<1, 2>(left, sums, packed, block, n, out),
                    (_, false) => tile::<1, 1>(left, sums, packed, block, n, out),
                }
                block += if two { 2 } else { 1 };
            }
            r += rows;
        }
    }

    /// R left rows against blocks `block..block + C`: R·C accumulators in registers.
    #[target_feature(enable = "avx512f,avx512vnni")]
    fn tile<const R: usize, const C: usize>(
        left: &[[u8; DESCRIPTOR_LEN]],
        sums: &[i32],
        packed: &[u8],
        block: usize,
        n: usize,
        out: &mut [f32],
    ) {
        let mut acc: [[__m512i; C]; R] = [[_mm512_setzero_si512(); C]; R];
        for g in 0..GROUPS {
            let mut right: [__m512i; C] = [_mm512_setzero_si512(); C];
            for (c, v) in right.iter_mut().enumerate() {
                let at = ((block + c) * GROUPS + g) * GROUP_BYTES;
                let group = &packed[at..at + GROUP_BYTES];
                // SAFETY: `group` is 64 readable bytes; the load is unaligned.
                *v = unsafe { _mm512_loadu_si512(group.as_ptr().cast()) };
            }
            for (row, acc) in left.iter().zip(acc.iter_mut()) {
                let four = [row[4 * g], row[4 * g + 1], row[4 * g + 2], row[4 * g + 3]];
                let a = _mm512_set1_epi32(i32::from_le_bytes(four));
                for (acc, &b) in acc.iter_mut().zip(&right) {
                    *acc = _mm512_dpbusd_epi32(*acc, a, b);
                }
            }
        }
        let scale = _mm512_set1_ps(SCALE);
        for (r, (acc, &sum)) in acc.iter().zip(sums).enumerate() {
            let offset = _mm512_set1_epi32(128 * sum);
            for (c, &v) in acc.iter().enumerate() {
                let col = (block + c) * COLS;
                let dots = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(v, offset)), scale);
                let lanes = (n - col).min(COLS);
                let dst = &mut out[r * n + col..r * n + col + lanes];
                if lanes == COLS {
                    // SAFETY: `dst` is 16 writable f32s; the store is unaligned.
                    unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), dots) };
                } else {
                    // SAFETY: only the first `lanes` lanes are written (masked lanes are
                    // neither written nor fault), and `dst` holds that many f32s.
                    unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), (1u16 << lanes) - 1, dots) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes spread over the whole 0–255 range, zeros and 255s included (the kernels' edge
    /// cases: the sign flip of `vpdpbusd`'s right side and the largest sums).
    fn rows(count: usize, seed: u64) -> Vec<[u8; DESCRIPTOR_LEN]> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..count)
            .map(|_| {
                std::array::from_fn(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    match s % 8 {
                        0 => 0,
                        1 => 255,
                        _ => (s >> 8) as u8,
                    }
                })
            })
            .collect()
    }

    fn exact(a: &[u8; DESCRIPTOR_LEN], b: &[u8; DESCRIPTOR_LEN]) -> f32 {
        let dot: u64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| u64::from(x) * u64::from(y))
            .sum();
        (dot as f64 / (512.0 * 512.0)) as f32
    }

    #[test]
    fn both_kernels_give_the_exact_products_at_every_tile_edge() {
        let kernels: Vec<Kernel> = [Kernel::Sgemm, Kernel::Vnni]
            .into_iter()
            .filter(|k| k.available())
            .collect();
        eprintln!("kernels this CPU runs: {kernels:?}");
        // Every remainder of the 4-row tiles and the 16- and 32-column blocks, and the largest
        // sum (255 everywhere) against itself.
        let mut a = rows(23, 1);
        a[5] = [255; DESCRIPTOR_LEN];
        let mut b = rows(53, 2);
        b[40] = [255; DESCRIPTOR_LEN];
        for kernel in kernels {
            let (da, db) = (Descriptors::new(&a, kernel), Descriptors::new(&b, kernel));
            assert_eq!((da.kernel(), db.kernel()), (kernel, kernel));
            for (start, end) in [(0, 23), (3, 4), (5, 14), (22, 23)] {
                for n in [1, 15, 16, 17, 31, 32, 33, 53] {
                    let db = Descriptors::new(&b[..n], kernel);
                    let mut out = vec![f32::NAN; (end - start) * n];
                    products(&da, start, end, &db, &mut out);
                    for (r, row) in out.chunks_exact(n).enumerate() {
                        for (j, &got) in row.iter().enumerate() {
                            let want = exact(&a[start + r], &b[j]);
                            assert_eq!(
                                got.to_bits(),
                                want.to_bits(),
                                "{kernel:?} rows {start}..{end}, {n} columns: ({r}, {j})"
                            );
                        }
                    }
                }
            }
            let mut out = vec![0.0; 23 * 53];
            products(&da, 0, 23, &db, &mut out);
            assert_eq!(out[5 * 53 + 40], 128.0 * 255.0 * 255.0 * SCALE);
            // Against a set laid out for the other kernel: the same numbers.
            let other = Descriptors::new(&b, Kernel::Sgemm);
            let mut mixed = vec![0.0; 23 * 53];
            products(&da, 0, 23, &other, &mut mixed);
            assert_eq!(mixed, out, "{kernel:?} against SGEMM's layout");
        }
    }

    #[test]
    fn the_integer_kernel_runs_where_the_cpu_has_it() {
        // So that a CPU with AVX-512 VNNI (the CI machines, the GPU hosts) tests the kernel it
        // uses, not the fallback.
        assert!(Kernel::detect().available());
        if Kernel::Vnni.available() {
            assert_eq!(Kernel::detect(), Kernel::Vnni);
        }
        // An unavailable kernel falls back rather than failing.
        let d = Descriptors::new(&rows(3, 3), Kernel::Vnni);
        assert_eq!(d.kernel(), Kernel::detect());
    }
}

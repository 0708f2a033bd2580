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
//!
//! Matching needs only each row's and each column's two most similar (`Best`):
//! `fused_best_two` keeps those in registers as the VNNI kernel makes its products, so no score
//! matrix is written (it cost more than the products); for SGEMM, `products` fills one.

use crate::features::DESCRIPTOR_LEN;

/// 512⁻²: a byte product's weight (exact in f32).
const SCALE: f32 = 1.0 / (512.0 * 512.0);

/// The two largest similarities one descriptor has with the other set, and where the largest
/// is: its first place, on ties (a tie also makes the second equal the first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Best {
    pub first: f32,
    pub second: f32,
    pub index: u32,
}

impl Best {
    /// Nothing offered yet (similarities are ≥ 0).
    pub const NONE: Best = Best {
        first: -1.0,
        second: -1.0,
        index: u32::MAX,
    };

    #[inline]
    pub fn offer(&mut self, score: f32, index: u32) {
        if score > self.first {
            self.second = self.first;
            self.first = score;
            self.index = index;
        } else if score > self.second {
            self.second = score;
        }
    }

    /// Folds in the best two of later indices (so the lower index wins ties, as in one pass).
    pub fn merge(&mut self, other: &Best) {
        if other.first > self.first {
            self.second = self.first.max(other.second);
            self.first = other.first;
            self.index = other.index;
        } else {
            self.second = self.second.max(other.first);
        }
    }
}

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

/// Each row of `a[start..end]`'s best two among `b`'s rows, and each row of `b`'s best two
/// among them, in one pass without a score matrix: for the kernels that have such a form
/// (`Kernel::Vnni`), `None` for the others.
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
pub fn fused_best_two(
    a: &Descriptors,
    start: usize,
    end: usize,
    b: &Descriptors,
) -> Option<(Vec<Best>, Vec<Best>)> {
    match (&a.layout, &b.layout) {
        #[cfg(target_arch = "x86_64")]
        (Layout::Bytes { bytes, sums, .. }, Layout::Bytes { packed, .. }) => {
            let (left, sums) = (&bytes[start..end], &sums[start..end]);
            // SAFETY: as in `products`: a `Bytes` layout exists only where the CPU has the
            // kernel's features.
            Some(unsafe { vnni::best_two(left, sums, packed, b.rows, start) })
        }
        _ => None,
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
mod vnni {
    use super::{Best, DESCRIPTOR_LEN, SCALE};
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi32, _mm512_cmpgt_epi32_mask, _mm512_cvtepi32_ps,
        _mm512_dpbusd_epi32, _mm512_loadu_si512, _mm512_mask_blend_epi32, _mm512_mask_storeu_ps,
        _mm512_max_epi32, _mm512_min_epi32, _mm512_mul_ps, _mm512_set1_epi32, _mm512_set1_ps,
        _mm512_setr_epi32, _mm512_setzero_si512, _mm512_storeu_ps, _mm512_storeu_si512,
    };

    /// Calls `$f::<R, C>(…)` with a tile's left rows R (1–4) and right blocks C (1–2) as
    /// constants, so that its accumulators are registers.
    macro_rules! tile_shape {
        ($rows:expr, $two:expr, $f:ident($($arg:expr),* $(,)?)) => {
            match ($rows, $two) {
                (4, true) => $f::<4, 2>($($arg),*),
                (4, false) => $f::<4, 1>($($arg),*),
                (3, true) => $f::<3, 2>($($arg),*),
                (3, false) => $f::<3, 1>($($arg),*),
                (2, true) => $f::<2, 2>($($arg),*),
                (2, false) => $f::<2, 1>($($arg),*),
                (_, true) => $f::<1, 2>($($arg),*),
                (_, false) => $f::<1, 1>($($arg),*),
            }
        };
    }

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
            let operands = Operands {
                left: &left[r..r + rows],
                sums: &sums[r..r + rows],
                packed,
            };
            let mut block = 0;
            while block < blocks {
                let two = block + 2 <= blocks;
                tile_shape!(rows, two, store(operands, block, n, out));
                block += if two { 2 } else { 1 };
            }
            r += rows;
        }
    }

    /// Each left row's best two among the `n` right rows and each right row's best two among
    /// the left ones (`left` is rows `start..` of its set: the columns' indices).
    ///
    /// # Safety
    /// As `products`.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn best_two(
        left: &[[u8; DESCRIPTOR_LEN]],
        sums: &[i32],
        packed: &[u8],
        n: usize,
        start: usize,
    ) -> (Vec<Best>, Vec<Best>) {
        assert!(
            sums.len() == left.len() && packed.len() == n.div_ceil(COLS) * GROUPS * GROUP_BYTES,
            "kernel shapes"
        );
        let blocks = n.div_ceil(COLS);
        let mut columns = Columns::new(blocks * COLS);
        let mut found = Vec::with_capacity(left.len());
        let mut r = 0;
        while r < left.len() {
            let rows = (left.len() - r).min(ROWS);
            let operands = Operands {
                left: &left[r..r + rows],
                sums: &sums[r..r + rows],
                packed,
            };
            let first_row = (start + r) as i32;
            let mut lanes = [Lanes::none(); ROWS];
            let lanes = &mut lanes[..rows];
            let mut block = 0;
            while block < blocks {
                let two = block + 2 <= blocks;
                tile_shape!(
                    rows,
                    two,
                    scan(operands, block, n, first_row, lanes, &mut columns)
                );
                block += if two { 2 } else { 1 };
            }
            found.extend(lanes.iter().map(Lanes::best));
            r += rows;
        }
        (found, columns.best(n))
    }

    /// A tile's inputs: its left rows and their byte sums, and the whole packed right side.
    #[derive(Clone, Copy)]
    struct Operands<'a> {
        left: &'a [[u8; DESCRIPTOR_LEN]],
        sums: &'a [i32],
        packed: &'a [u8],
    }

    /// The exact dot products of R left rows with the right rows of blocks `block..block + C`,
    /// lane j of `[r][c]` for right row `(block + c)·16 + j`: R·C accumulators in registers.
    #[target_feature(enable = "avx512f,avx512vnni")]
    fn dots<const R: usize, const C: usize>(
        Operands { left, sums, packed }: Operands<'_>,
        block: usize,
    ) -> [[__m512i; C]; R] {
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
        for (acc, &sum) in acc.iter_mut().zip(sums) {
            let offset = _mm512_set1_epi32(128 * sum);
            for v in acc.iter_mut() {
                *v = _mm512_add_epi32(*v, offset);
            }
        }
        acc
    }

    /// A tile's products, scaled to f32, into `out` (the R rows × n).
    #[target_feature(enable = "avx512f,avx512vnni")]
    fn store<const R: usize, const C: usize>(
        operands: Operands<'_>,
        block: usize,
        n: usize,
        out: &mut [f32],
    ) {
        let acc = dots::<R, C>(operands, block);
        let scale = _mm512_set1_ps(SCALE);
        for (r, acc) in acc.iter().enumerate() {
            for (c, &v) in acc.iter().enumerate() {
                let col = (block + c) * COLS;
                let dots = _mm512_mul_ps(_mm512_cvtepi32_ps(v), scale);
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

    /// A tile's products offered to its rows' lanes and to its columns, rows in order (so a
    /// column keeps its first best row on ties, as `Best::offer`).
    #[target_feature(enable = "avx512f,avx512vnni")]
    fn scan<const R: usize, const C: usize>(
        operands: Operands<'_>,
        block: usize,
        n: usize,
        first_row: i32,
        rows: &mut [Lanes],
        columns: &mut Columns,
    ) {
        let acc = dots::<R, C>(operands, block);
        let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let none = _mm512_set1_epi32(-1);
        for c in 0..C {
            let col = (block + c) * COLS;
            // Lanes past the last right row offer −1, which changes nothing.
            let valid = if n - col >= COLS {
                u16::MAX
            } else {
                (1u16 << (n - col)) - 1
            };
            let at = _mm512_add_epi32(_mm512_set1_epi32(col as i32), lane);
            let mut column = columns.load(col);
            for (r, (acc, row)) in acc.iter().zip(rows.iter_mut()).enumerate() {
                let x = _mm512_mask_blend_epi32(valid, none, acc[c]);
                row.offer(x, at);
                column.offer(x, _mm512_set1_epi32(first_row + r as i32));
            }
            columns.store(col, column);
        }
    }

    /// Sixteen best twos at once, one per lane: the products as integers (exact, so comparing
    /// them compares the similarities), −1 for none.
    #[derive(Clone, Copy)]
    struct Lanes {
        first: __m512i,
        second: __m512i,
        index: __m512i,
    }

    impl Lanes {
        #[target_feature(enable = "avx512f")]
        fn none() -> Self {
            let none = _mm512_set1_epi32(-1);
            Self {
                first: none,
                second: none,
                index: none,
            }
        }

        /// `Best::offer` in every lane, without branches.
        #[target_feature(enable = "avx512f")]
        fn offer(&mut self, x: __m512i, index: __m512i) {
            let lower = _mm512_min_epi32(x, self.first);
            self.second = _mm512_max_epi32(lower, self.second);
            let better = _mm512_cmpgt_epi32_mask(x, self.first);
            self.index = _mm512_mask_blend_epi32(better, self.index, index);
            self.first = _mm512_max_epi32(x, self.first);
        }

        /// One row's best two from its lanes (each lane saw every 16th right row): the largest
        /// first, at its lowest index on ties; the second is the largest of the rest.
        fn best(&self) -> Best {
            let [first, second, index] = [self.first, self.second, self.index].map(|v| {
                // SAFETY: 64 bytes either way, and every bit pattern is an i32.
                unsafe { std::mem::transmute::<__m512i, [i32; COLS]>(v) }
            });
            let mut win = 0;
            for l in 1..COLS {
                let tie = first[l] == first[win] && (index[l] as u32) < (index[win] as u32);
                if first[l] > first[win] || tie {
                    win = l;
                }
            }
            let others = (0..COLS).filter(|&l| l != win).map(|l| first[l]);
            let runner_up = second.iter().copied().chain(others).max().unwrap_or(-1);
            Best {
                first: similarity(first[win]),
                second: similarity(runner_up),
                index: index[win] as u32,
            }
        }
    }

    /// Each right row's best two so far, as three arrays padded to whole blocks.
    struct Columns {
        first: Vec<i32>,
        second: Vec<i32>,
        index: Vec<i32>,
    }

    impl Columns {
        fn new(padded: usize) -> Self {
            Self {
                first: vec![-1; padded],
                second: vec![-1; padded],
                index: vec![-1; padded],
            }
        }

        #[target_feature(enable = "avx512f")]
        fn load(&self, col: usize) -> Lanes {
            let get = |v: &[i32]| {
                let v = &v[col..col + COLS];
                // SAFETY: `v` is 16 readable i32s; the load is unaligned.
                unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
            };
            Lanes {
                first: get(&self.first),
                second: get(&self.second),
                index: get(&self.index),
            }
        }

        #[target_feature(enable = "avx512f")]
        fn store(&mut self, col: usize, lanes: Lanes) {
            for (v, x) in [
                (&mut self.first, lanes.first),
                (&mut self.second, lanes.second),
                (&mut self.index, lanes.index),
            ] {
                let v = &mut v[col..col + COLS];
                // SAFETY: `v` is 16 writable i32s; the store is unaligned.
                unsafe { _mm512_storeu_si512(v.as_mut_ptr().cast(), x) };
            }
        }

        fn best(&self, n: usize) -> Vec<Best> {
            (0..n)
                .map(|j| Best {
                    first: similarity(self.first[j]),
                    second: similarity(self.second[j]),
                    index: self.index[j] as u32,
                })
                .collect()
        }
    }

    /// An exact integer product as the similarity `Best` holds; −1 (none) stays −1.
    fn similarity(dot: i32) -> f32 {
        if dot < 0 { -1.0 } else { dot as f32 * SCALE }
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
    fn the_fused_scan_finds_what_offering_every_product_in_order_finds() {
        // Ties too: row 2 equals right rows 7, 30 and 50 (its best three times: the first
        // place wins, the second equals the first), row 20 equals row 2 (right row 7's best
        // twice).
        let mut a = rows(23, 5);
        let mut b = rows(53, 6);
        a[2] = b[7];
        b[30] = b[7];
        b[50] = b[7];
        a[20] = a[2];
        for kernel in [Kernel::Sgemm, Kernel::Vnni] {
            if !kernel.available() {
                continue;
            }
            let da = Descriptors::new(&a, kernel);
            for (start, end) in [(0, 23), (3, 4), (5, 14), (22, 23), (1, 3), (0, 21)] {
                for n in [1, 15, 16, 17, 31, 33, 53] {
                    let db = Descriptors::new(&b[..n], kernel);
                    let fused = fused_best_two(&da, start, end, &db);
                    assert_eq!(fused.is_some(), kernel == Kernel::Vnni, "{kernel:?}");
                    let Some((rows, columns)) = fused else {
                        continue;
                    };
                    let mut want_rows = vec![Best::NONE; end - start];
                    let mut want_columns = vec![Best::NONE; n];
                    for (r, want) in want_rows.iter_mut().enumerate() {
                        for (j, column) in want_columns.iter_mut().enumerate() {
                            let x = exact(&a[start + r], &b[j]);
                            want.offer(x, j as u32);
                            column.offer(x, (start + r) as u32);
                        }
                    }
                    let shape = format!("rows {start}..{end}, {n} columns");
                    assert_eq!(rows, want_rows, "{shape}");
                    assert_eq!(columns, want_columns, "{shape}");
                    if (start..end).contains(&2) && n > 50 {
                        let tie = rows[2 - start];
                        assert_eq!((tie.index, tie.second), (7, tie.first), "{shape}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_integer_kernel_runs_where_the_cpu_has_it() {
        // So that a CPU with AVX-512 VNNI (this project's CI machines have it) tests the kernel
        // it uses, not the fallback.
        assert!(Kernel::detect().available());
        if Kernel::Vnni.available() {
            assert_eq!(Kernel::detect(), Kernel::Vnni);
        }
        // An unavailable kernel falls back rather than failing.
        let d = Descriptors::new(&rows(3, 3), Kernel::Vnni);
        assert_eq!(d.kernel(), Kernel::detect());
    }
}

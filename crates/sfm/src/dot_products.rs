//! For each descriptor of one image, its two most similar in another (`Best`), by brute force:
//! the dot products of the unit vectors the descriptor bytes stand for (bytes = 512·v).
//!
//! Two kernels compute them, with identical results. The bytes' products are integers and a
//! descriptor's sum stays below 2²⁴ (128 · 255² < 16,777,216), so every partial sum of the
//! scaled bytes is an exact f32 and the order of the additions does not matter:
//! - `Kernel::Vnni`: integer dot products with AVX-512 VNNI (`vpdpbusd`: 64 byte products per
//!   instruction, against 16 for an AVX-512 f32 FMA and 8 for the AVX2 one that SGEMM crates
//!   use), each tile's products offered at once to its rows' and columns' best two, kept in
//!   registers, so no score matrix is written (it cost more than the products). Written by
//!   hand because no maintained crate has an integer matrix product.
//! - `Kernel::Sgemm`: matrixmultiply's SGEMM of the bytes widened to f32 into a score matrix,
//!   then scanned, on every other CPU.

use crate::features::DESCRIPTOR_LEN;
use std::borrow::Cow;

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

/// One image's descriptors, laid out for a kernel (as either side of the product).
pub struct DescriptorMatrix {
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

impl DescriptorMatrix {
    /// Laid out for the fastest kernel this CPU runs.
    pub fn new(descriptors: &[[u8; DESCRIPTOR_LEN]]) -> Self {
        Self::with_kernel(descriptors, Kernel::detect())
    }

    /// Laid out for `kernel`; an unavailable kernel falls back to `Kernel::Sgemm`. Matrices
    /// matched together should share one: two layouts meet through SGEMM, one side widened.
    pub fn with_kernel(descriptors: &[[u8; DESCRIPTOR_LEN]], kernel: Kernel) -> Self {
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
            _ => Layout::Floats(widen(descriptors)),
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

    /// The kernel this layout is for.
    pub fn kernel(&self) -> Kernel {
        match self.layout {
            Layout::Floats(_) => Kernel::Sgemm,
            Layout::Bytes { .. } => Kernel::Vnni,
        }
    }

    /// The rows as SGEMM's operand.
    fn floats(&self) -> Cow<'_, [f32]> {
        match &self.layout {
            Layout::Floats(v) => Cow::Borrowed(v),
            Layout::Bytes { bytes, .. } => Cow::Owned(widen(bytes)),
        }
    }
}

/// Bytes as the f32 unit-vector components they stand for (exact).
fn widen(descriptors: &[[u8; DESCRIPTOR_LEN]]) -> Vec<f32> {
    descriptors
        .iter()
        .flatten()
        .map(|&b| f32::from(b) / 512.0)
        .collect()
}

/// Each row of `a[start..end]`'s best two among `b`'s rows, and each row of `b`'s best two
/// among those (by their indices in `a`).
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
pub fn best_two(
    a: &DescriptorMatrix,
    start: usize,
    end: usize,
    b: &DescriptorMatrix,
) -> (Vec<Best>, Vec<Best>) {
    assert!(
        start <= end && end <= a.rows,
        "rows {start}..{end} of {}",
        a.rows
    );
    if start == end || b.is_empty() {
        return (vec![Best::NONE; end - start], vec![Best::NONE; b.rows]);
    }
    match (&a.layout, &b.layout) {
        #[cfg(target_arch = "x86_64")]
        (Layout::Bytes { bytes, sums, .. }, Layout::Bytes { packed, .. }) => {
            let (left, sums) = (&bytes[start..end], &sums[start..end]);
            // SAFETY: a `Bytes` layout is only built where `Kernel::Vnni.available()` (checked
            // in `DescriptorMatrix::with_kernel`), so the CPU has the kernel's features.
            unsafe { vnni::best_two(left, sums, packed, b.rows, start) }
        }
        _ => sgemm_best_two(&a.floats(), start, end, &b.floats()),
    }
}

/// `best_two` through a score matrix: SGEMM of the rows as f32, then a scan of its rows and
/// of its columns.
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
fn sgemm_best_two(a: &[f32], start: usize, end: usize, b: &[f32]) -> (Vec<Best>, Vec<Best>) {
    let (m, n) = (end - start, b.len() / DESCRIPTOR_LEN);
    assert!(end * DESCRIPTOR_LEN <= a.len(), "rows {start}..{end}");
    let mut scores = vec![0f32; m * n];
    // SAFETY: the pointers and strides describe `m×128`, `128×n` (b transposed through its
    // strides) and `m×n` row-major matrices inside the three slices (their lengths checked
    // above and by construction), which outlive the call.
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
            scores.as_mut_ptr(),
            n as isize,
            1,
        );
    }
    let rows = scores.chunks_exact(n).map(row_best).collect();
    // Columns as separate arrays, updated a row at a time without branches so that the loop
    // vectorises: what `Best::offer` does, one column per lane.
    let (mut first, mut second) = (vec![Best::NONE.first; n], vec![Best::NONE.second; n]);
    let mut index = vec![Best::NONE.index; n];
    for (i, row) in scores.chunks_exact(n).enumerate() {
        let i = (start + i) as u32;
        for (((&x, f), s), k) in row
            .iter()
            .zip(first.iter_mut())
            .zip(second.iter_mut())
            .zip(index.iter_mut())
        {
            let lower = if x < *f { x } else { *f };
            *s = if lower > *s { lower } else { *s };
            let better = x > *f;
            *k = if better { i } else { *k };
            *f = if better { x } else { *f };
        }
    }
    let columns = (0..n)
        .map(|j| Best {
            first: first[j],
            second: second[j],
            index: index[j],
        })
        .collect();
    (rows, columns)
}

/// A row's best two similarities and where the best is (its first place, as `Best::offer` keeps
/// it): the two largest per lane of 16 without branches, so that the loop vectorises, then the
/// lanes combined and the best one looked up.
fn row_best(row: &[f32]) -> Best {
    const LANES: usize = 16;
    let mut first = [Best::NONE.first; LANES];
    let mut second = [Best::NONE.second; LANES];
    let chunks = row.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for ((&x, f), s) in chunk.iter().zip(first.iter_mut()).zip(second.iter_mut()) {
            let lower = if x < *f { x } else { *f };
            *s = if lower > *s { lower } else { *s };
            *f = if x > *f { x } else { *f };
        }
    }
    // Values only: the order they are offered in does not change the best two.
    let mut best = Best::NONE;
    for &x in first.iter().chain(&second).chain(rest) {
        best.offer(x, 0);
    }
    best.index = match row.iter().position(|&x| x == best.first) {
        Some(j) if best.first > Best::NONE.first => j as u32,
        _ => Best::NONE.index,
    };
    best
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
mod vnni {
    use super::{Best, DESCRIPTOR_LEN, SCALE};
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi32, _mm512_cmpgt_epi32_mask, _mm512_dpbusd_epi32,
        _mm512_loadu_si512, _mm512_mask_blend_epi32, _mm512_max_epi32, _mm512_min_epi32,
        _mm512_set1_epi32, _mm512_setr_epi32, _mm512_setzero_si512, _mm512_storeu_si512,
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
    /// of the last block are zeros, and their lanes offer nothing (`scan`).
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

    /// Each left row's best two among the `n` right rows and each right row's best two among
    /// the left ones (`left` is rows `start..` of its set: the columns' indices).
    ///
    /// # Safety
    /// The CPU must have AVX-512F and AVX-512 VNNI. `packed` is `pack` of `n` rows and `sums`
    /// the byte sums of `left`.
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
                // The tile's shape as constants, so that its accumulators are registers; direct
                // calls, so that the tile is inlined here and its lanes stay in registers.
                let c = &mut columns;
                match (rows, two) {
                    (4, true) => scan::<4, 2>(operands, block, n, first_row, lanes, c),
                    (4, false) => scan::<4, 1>(operands, block, n, first_row, lanes, c),
                    (3, true) => scan::<3, 2>(operands, block, n, first_row, lanes, c),
                    (3, false) => scan::<3, 1>(operands, block, n, first_row, lanes, c),
                    (2, true) => scan::<2, 2>(operands, block, n, first_row, lanes, c),
                    (2, false) => scan::<2, 1>(operands, block, n, first_row, lanes, c),
                    (_, true) => scan::<1, 2>(operands, block, n, first_row, lanes, c),
                    (_, false) => scan::<1, 1>(operands, block, n, first_row, lanes, c),
                }
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

    /// The kernels this CPU runs.
    fn kernels() -> Vec<Kernel> {
        let kernels: Vec<Kernel> = [Kernel::Sgemm, Kernel::Vnni]
            .into_iter()
            .filter(|k| k.available())
            .collect();
        eprintln!("kernels this CPU runs: {kernels:?}");
        kernels
    }

    /// What `best_two` must give: every exact product offered in order.
    fn offered_in_order(
        a: &[[u8; DESCRIPTOR_LEN]],
        start: usize,
        end: usize,
        b: &[[u8; DESCRIPTOR_LEN]],
    ) -> (Vec<Best>, Vec<Best>) {
        let mut rows = vec![Best::NONE; end - start];
        let mut columns = vec![Best::NONE; b.len()];
        for (r, row) in rows.iter_mut().enumerate() {
            for (j, column) in columns.iter_mut().enumerate() {
                let x = exact(&a[start + r], &b[j]);
                row.offer(x, j as u32);
                column.offer(x, (start + r) as u32);
            }
        }
        (rows, columns)
    }

    #[test]
    fn every_kernel_finds_what_offering_every_product_in_order_finds() {
        // Every remainder of the 4-row tiles and the 16- and 32-column blocks. Ties too: row 2
        // equals right rows 7, 30 and 50 (its best three times: the first place wins, the
        // second equals the first), row 20 equals row 2 (right row 7's best twice).
        let mut a = rows(23, 5);
        let mut b = rows(53, 6);
        a[2] = b[7];
        b[30] = b[7];
        b[50] = b[7];
        a[20] = a[2];
        for kernel in kernels() {
            let da = DescriptorMatrix::with_kernel(&a, kernel);
            assert_eq!(da.kernel(), kernel);
            for (start, end) in [(0, 23), (3, 4), (5, 14), (22, 23), (1, 3), (0, 21), (4, 4)] {
                for n in [0, 1, 15, 16, 17, 31, 32, 33, 53] {
                    let want = offered_in_order(&a, start, end, &b[..n]);
                    let shape = format!("{kernel:?}, rows {start}..{end}, {n} columns");
                    let db = DescriptorMatrix::with_kernel(&b[..n], kernel);
                    let (rows, columns) = best_two(&da, start, end, &db);
                    assert_eq!((&rows, &columns), (&want.0, &want.1), "{shape}");
                    if (start..end).contains(&2) && n > 50 {
                        let tie = rows[2 - start];
                        assert_eq!((tie.index, tie.second), (7, tie.first), "{shape}");
                    }
                    // Against a set laid out for SGEMM: the same.
                    let sgemm = DescriptorMatrix::with_kernel(&b[..n], Kernel::Sgemm);
                    assert_eq!(best_two(&da, start, end, &sgemm), want, "{shape}, mixed");
                }
            }
        }
    }

    #[test]
    fn the_largest_and_the_smallest_products_are_exact() {
        // 255 everywhere against itself: the largest sum, 128 · 255², which `vpdpbusd` reaches
        // as 128 · 255 · 127 plus the 128 · Σa term. Zeros: every product 0, a tie everywhere.
        let a = [[255; DESCRIPTOR_LEN], [0; DESCRIPTOR_LEN]];
        let mut b = rows(20, 7);
        b[9] = [255; DESCRIPTOR_LEN];
        for kernel in kernels() {
            let (da, db) = (
                DescriptorMatrix::with_kernel(&a, kernel),
                DescriptorMatrix::with_kernel(&b, kernel),
            );
            let (rows, _) = best_two(&da, 0, 2, &db);
            assert_eq!(rows[0].index, 9, "{kernel:?}");
            assert_eq!(rows[0].first, 128.0 * 255.0 * 255.0 * SCALE, "{kernel:?}");
            assert_eq!(
                (rows[1].first, rows[1].second, rows[1].index),
                (0.0, 0.0, 0)
            );
        }
    }
}

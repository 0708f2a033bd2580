//! Prefix scan and radix sort on the real device (lavapipe in CI) against `slice::sort` and a
//! sequential scan; reading back part of a buffer (the forward pass reads a scan's total so).

use rand::{Rng, SeedableRng};
use splat_gpu::{PrefixScan, RadixSort};
use splat_test_support::gpu::context as ctx;
use std::sync::OnceLock;

fn sorter() -> &'static RadixSort {
    static S: OnceLock<RadixSort> = OnceLock::new();
    S.get_or_init(|| RadixSort::new(ctx()).expect("sort kernels"))
}

fn scanner() -> &'static PrefixScan {
    static S: OnceLock<PrefixScan> = OnceLock::new();
    S.get_or_init(|| PrefixScan::new(ctx()).expect("scan kernels"))
}

fn rng(seed: u64) -> rand_pcg::Pcg64 {
    rand_pcg::Pcg64::seed_from_u64(seed)
}

fn cpu_scan(data: &[u32]) -> Vec<u32> {
    let mut acc = 0u32;
    data.iter()
        .map(|&x| {
            let out = acc;
            acc = acc.wrapping_add(x);
            out
        })
        .collect()
}

/// The stable reference: pairs sorted by key with `slice::sort` (values are the original
/// indices, so sorting by (key, value) is the stable order).
fn cpu_sort_u32(keys: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let mut pairs: Vec<(u32, u32)> = keys.iter().copied().zip(0u32..).collect();
    pairs.sort();
    pairs.into_iter().unzip()
}

fn cpu_sort_u64(keys: &[u64]) -> (Vec<u64>, Vec<u32>) {
    let mut pairs: Vec<(u64, u32)> = keys.iter().copied().zip(0u32..).collect();
    pairs.sort();
    pairs.into_iter().unzip()
}

fn check_u32(keys: &[u32], what: &str) {
    let vals: Vec<u32> = (0..keys.len() as u32).collect();
    let (k, v) = sorter()
        .sort_u32_host(ctx(), keys, &vals)
        .expect("GPU sort failed");
    let (ek, ev) = cpu_sort_u32(keys);
    assert!(
        k == ek,
        "{what}: u32 keys differ from slice::sort (n = {})",
        keys.len()
    );
    assert!(
        v == ev,
        "{what}: u32 values not in stable order (n = {})",
        keys.len()
    );
}

fn check_u64(keys: &[u64], what: &str) {
    let vals: Vec<u32> = (0..keys.len() as u32).collect();
    let (k, v) = sorter()
        .sort_u64_host(ctx(), keys, &vals)
        .expect("GPU sort failed");
    let (ek, ev) = cpu_sort_u64(keys);
    assert!(
        k == ek,
        "{what}: u64 keys differ from slice::sort (n = {})",
        keys.len()
    );
    assert!(
        v == ev,
        "{what}: u64 values not in stable order (n = {})",
        keys.len()
    );
}

const SMALL_SIZES: &[usize] = &[
    0, 1, 2, 3, 7, 255, 256, 257, 1023, 1024, 1025, 4097, 65_537, 333_333,
];

#[test]
fn scan_matches_sequential_scan_at_every_size() {
    let mut r = rng(1);
    for &n in SMALL_SIZES.iter().chain(&[1 << 20, 1_048_577]) {
        let data: Vec<u32> = (0..n).map(|_| r.random_range(0..1000)).collect();
        let got = scanner().scan_host(ctx(), &data).unwrap();
        assert!(got == cpu_scan(&data), "scan differs at n = {n}");
    }
}

#[test]
fn scan_wraps_like_u32_and_handles_ten_million() {
    let mut r = rng(2);
    let n = 10_000_003;
    let data: Vec<u32> = (0..n).map(|_| r.random()).collect();
    let got = scanner().scan_host(ctx(), &data).unwrap();
    assert!(got == cpu_scan(&data), "scan of 10^7+3 random u32 differs");
}

#[test]
fn sort_u32_random_small_and_odd_sizes() {
    let mut r = rng(3);
    for &n in SMALL_SIZES {
        let keys: Vec<u32> = (0..n).map(|_| r.random()).collect();
        check_u32(&keys, "random");
        let narrow: Vec<u32> = (0..n).map(|_| r.random_range(0..37)).collect();
        check_u32(&narrow, "random narrow");
    }
}

#[test]
fn sort_u32_adversarial_keys() {
    for &n in &[2usize, 3, 1025, 65_537, 1 << 20] {
        check_u32(&vec![0u32; n], "all zero");
        check_u32(&vec![u32::MAX; n], "all max");
        check_u32(&vec![0xdead_beef; n], "all equal");
        let sorted: Vec<u32> = (0..n as u32)
            .map(|i| i.wrapping_mul(4093))
            .collect::<Vec<_>>();
        let mut s = sorted.clone();
        s.sort();
        check_u32(&s, "already sorted");
        s.reverse();
        check_u32(&s, "reversed");
        let saw: Vec<u32> = (0..n as u32).map(|i| (i % 16) << 28 | (i % 3)).collect();
        check_u32(&saw, "high-digit sawtooth");
    }
}

#[test]
fn sort_u32_two_to_the_twenty_random() {
    let mut r = rng(4);
    let keys: Vec<u32> = (0..1 << 20).map(|_| r.random()).collect();
    check_u32(&keys, "random 2^20");
}

#[test]
fn sort_u32_ten_million_and_three() {
    let mut r = rng(5);
    let keys: Vec<u32> = (0..10_000_003).map(|_| r.random()).collect();
    check_u32(&keys, "random 10^7+3");
}

#[test]
fn sort_u64_random_and_adversarial() {
    let mut r = rng(6);
    for &n in SMALL_SIZES {
        let keys: Vec<u64> = (0..n).map(|_| r.random()).collect();
        check_u64(&keys, "random");
        // Rasterizer-shaped keys: a tile id in the high word, a depth in the low word.
        let tiles: Vec<u64> = (0..n)
            .map(|_| (r.random_range(0u64..500) << 32) | u64::from(r.random::<u32>()))
            .collect();
        check_u64(&tiles, "tile|depth");
    }
    for &n in &[2usize, 1025, 1 << 20] {
        check_u64(&vec![u64::MAX; n], "all max");
        check_u64(&vec![0x1234_5678_9abc_def0; n], "all equal");
        let mut s: Vec<u64> = (0..n as u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        s.sort();
        check_u64(&s, "already sorted");
        s.reverse();
        check_u64(&s, "reversed");
    }
}

#[test]
fn sort_u64_two_to_the_twenty_and_ten_million_and_three() {
    let mut r = rng(7);
    let keys: Vec<u64> = (0..1 << 20).map(|_| r.random()).collect();
    check_u64(&keys, "random 2^20");
    // 10^7+3 keys with 44 bits in use (what a 4K frame's tile|depth key needs).
    let keys: Vec<u64> = (0..10_000_003).map(|_| r.random::<u64>() >> 20).collect();
    check_u64(&keys, "random 44-bit 10^7+3");
}

#[test]
fn sort_looks_only_at_the_requested_bits() {
    // With key_bits = 8 the order is the stable order of (key & 0xff); higher bits ride along.
    let mut r = rng(8);
    let keys: Vec<u32> = (0..5000).map(|_| r.random()).collect();
    let vals: Vec<u32> = (0..keys.len() as u32).collect();
    let (k, v) = sorter().sort_u32_host_bits(ctx(), &keys, &vals, 8).unwrap();
    let mut idx: Vec<u32> = vals.clone();
    idx.sort_by_key(|&i| keys[i as usize] & 0xff);
    assert_eq!(v, idx);
    assert_eq!(k, idx.iter().map(|&i| keys[i as usize]).collect::<Vec<_>>());
    // Zero bits: nothing moves.
    let (k0, v0) = sorter().sort_u32_host_bits(ctx(), &keys, &vals, 0).unwrap();
    assert_eq!((k0, v0), (keys.clone(), vals.clone()));
    // Too many bits is an error, not a panic.
    assert!(
        sorter()
            .sort_u32_host_bits(ctx(), &keys, &vals, 33)
            .is_err()
    );
}

#[test]
fn impossible_allocations_are_errors_not_panics() {
    let c = ctx();
    let err = c
        .checked("allocating a test buffer", || {
            let b = splat_gpu::storage_buffer_zeroed(
                c,
                "too big",
                c.limits.max_buffer_size.saturating_mul(4),
            );
            drop(b);
            Ok(())
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("allocating a test buffer"), "{err}");
    // The device still works afterwards.
    assert_eq!(scanner().scan_host(c, &[1, 2, 3]).unwrap(), vec![0, 1, 3]);
}

#[test]
fn a_range_of_a_buffer_reads_back_as_that_slice() {
    let data: Vec<u32> = (0..1000).map(|i| i * 7 + 3).collect();
    let buf = splat_gpu::storage_buffer(ctx(), "readback probe", &data);
    assert_eq!(splat_gpu::readback::<u32>(ctx(), &buf, 1000).unwrap(), data);
    for (first, count) in [(0, 1), (999, 1), (250, 500), (3, 0)] {
        assert_eq!(
            splat_gpu::readback_at::<u32>(ctx(), &buf, first, count).unwrap(),
            data[first..first + count],
            "{count} from {first}"
        );
    }
    // Bytes: a copy must start at a multiple of 4.
    let bytes: Vec<u8> = bytemuck::cast_slice(&data).to_vec();
    assert_eq!(
        splat_gpu::readback_at::<u8>(ctx(), &buf, 8, 4).unwrap(),
        bytes[8..12]
    );
    let e = splat_gpu::readback_at::<u8>(ctx(), &buf, 5, 4).unwrap_err();
    assert!(e.to_string().contains("byte 5"), "{e}");
}

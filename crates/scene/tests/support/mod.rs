//! Helpers shared by this crate's integration tests.
#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;

/// A folder of `../shared/datasets`. Tests that need it fail when it is missing, unless
/// `SPLAT_SKIP_SHARED=1` says to skip them, which they then print.
pub fn shared(rel: &str) -> Option<PathBuf> {
    splat_test_support::shared_dataset_for_tests(&PathBuf::from(env!("CARGO_MANIFEST_DIR")), rel)
}

/// A small deterministic generator so the tests need no extra crates' state.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 42) as f64
    }
}

/// Every kind of damage the corruption tests apply: truncation at `cut`, and a few bytes
/// overwritten at random places.
pub fn damaged_copies(data: &[u8], rng: &mut Lcg, count: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for _ in 0..count {
        let cut = rng.below(data.len());
        out.push((format!("truncated at {cut}"), data[..cut].to_vec()));
        let mut d = data.to_vec();
        let flips = 1 + rng.below(8);
        for _ in 0..flips {
            let i = rng.below(d.len());
            d[i] = (rng.next_u64() & 0xff) as u8;
        }
        out.push((format!("{flips} bytes overwritten"), d));
    }
    out
}

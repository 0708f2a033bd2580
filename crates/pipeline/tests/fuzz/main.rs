//! Fuzzing every reader (issue 24): property tests that mutate valid files (`mutate`) and
//! assert that each reader either refuses the file with an error naming it, or returns a value
//! that passes the same validation as a clean file's and that the next stage takes without
//! panicking. Never a panic, a hang or an allocation sized by an unchecked count: a guard
//! allocator refuses any single allocation over 1 GiB (the inputs are a few kilobytes), which
//! aborts the run with the size and the case being read.
//!
//! The CI run uses a fixed seed and a case count per reader sized to keep the whole file to a
//! few minutes on two cores; `SPLAT_FUZZ_CASES=N` (and `SPLAT_FUZZ_SEED=S`) change both, and
//! `cargo test -p splat-pipeline --test fuzz -- --ignored` is the long run (100,000 cases per reader).
//! Each test prints how many cases its reader took and refused (`-- --nocapture`).

mod colmap;
mod images;
mod mutate;
mod ply;
mod regressions;
mod sagemaker;
mod sfm_files;
mod sog;

use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The largest single allocation a reader may make here.
const ALLOCATION_LIMIT: usize = 1 << 30;
/// A case still running after this long is a hang.
const HANG: Duration = Duration::from_secs(120);
/// Cases per reader in the long run.
pub const LONG_RUN_CASES: u32 = 100_000;

struct Guard;

thread_local! {
    /// What the current thread is reading, for the guard's message.
    static CASE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes without allocating (this runs inside the allocator).
fn refuse(size: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = size;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut err = std::io::stderr();
    let _ = err.write_all(b"\nfuzz: refused an allocation of ");
    let _ = err.write_all(&digits[at..]);
    let _ = err.write_all(b" bytes (over the 1 GiB guard) while reading: ");
    let _ = CASE.try_with(|c| c.try_borrow().map(|c| err.write_all(&c)));
    let _ = err.write_all(b"\n");
}

// SAFETY: every call is passed to the system allocator unchanged, except those over the limit,
// which return null as an exhausted allocator does.
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_LIMIT {
            refuse(layout.size());
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_LIMIT {
            refuse(layout.size());
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > ALLOCATION_LIMIT {
            refuse(new_size);
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GUARD: Guard = Guard;

/// How a reader answered one mutated input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Read, validated and taken by the next stage.
    Accepted,
    /// Refused with an error naming the file.
    Refused,
}

/// A reader under test: given the folder the case's files were written to, reads them and
/// returns how it answered, or what was wrong with the answer.
pub type Check = dyn Fn(&Path) -> Result<Outcome, String> + Send + Sync;

/// One valid input: files (paths relative to the case's folder) and which of them to mutate.
#[derive(Clone)]
pub struct Seed {
    pub files: Vec<(PathBuf, Vec<u8>)>,
    pub targets: Vec<usize>,
}

impl Seed {
    /// A seed whose every file may be mutated.
    pub fn all(files: Vec<(PathBuf, Vec<u8>)>) -> Self {
        let targets = (0..files.len()).collect();
        Seed { files, targets }
    }
}

/// The case count: `SPLAT_FUZZ_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("SPLAT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    std::env::var("SPLAT_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

/// Runs `check` on `cases` mutated copies of `seeds`; fails with the smallest failing mutation
/// proptest finds. Returns the number accepted and refused.
pub fn fuzz(reader: &str, seeds: Vec<Seed>, cases: u32, check: Arc<Check>) -> (usize, usize) {
    for (i, s) in seeds.iter().enumerate() {
        let out = run_case(reader, s, None, &[], &check);
        assert_eq!(
            out,
            Ok(Outcome::Accepted),
            "{reader}: seed {i} is not read as valid"
        );
    }
    let config = Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed()),
        max_shrink_iters: 256,
        ..Config::default()
    };
    let accepted = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    let strategy = (
        proptest::prelude::any::<Index>(),
        proptest::prelude::any::<Index>(),
        mutate::mutations(),
    );
    let result = TestRunner::new(config).run(&strategy, |(s, t, ms)| {
        let s = &seeds[s.index(seeds.len())];
        let target = s.targets[t.index(s.targets.len())];
        match run_case(reader, s, Some(target), &ms, &check) {
            Ok(Outcome::Accepted) => accepted.fetch_add(1, Ordering::Relaxed),
            Ok(Outcome::Refused) => refused.fetch_add(1, Ordering::Relaxed),
            Err(e) => return Err(TestCaseError::fail(e)),
        };
        Ok(())
    });
    if let Err(e) = result {
        panic!("{reader}: {e}");
    }
    let (a, r) = (accepted.into_inner(), refused.into_inner());
    println!(
        "fuzz {reader}: {cases} cases (seed {}): {a} read and taken downstream, {r} refused naming the file; no panic, hang or unchecked allocation",
        seed()
    );
    (a, r)
}

/// Writes the seed (its `target` file mutated) to a fresh folder and runs `check` on a thread of
/// its own, so that a panic is caught and a hang noticed.
fn run_case(
    reader: &str,
    seed: &Seed,
    target: Option<usize>,
    mutations: &[mutate::Mutation],
    check: &Arc<Check>,
) -> Result<Outcome, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    for (i, (rel, bytes)) in seed.files.iter().enumerate() {
        let mut bytes = bytes.clone();
        if Some(i) == target {
            for m in mutations {
                mutate::apply(&mut bytes, m);
            }
        }
        let path = dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
    }
    let what = format!(
        "{reader}, {} with {mutations:?}",
        target.map_or("no file mutated".into(), |t| seed.files[t]
            .0
            .display()
            .to_string())
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let check = Arc::clone(check);
    let folder = dir.path().to_path_buf();
    let label = what.clone().into_bytes();
    std::thread::spawn(move || {
        CASE.with(|c| *c.borrow_mut() = label);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&folder)));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(HANG) {
        Ok(Ok(r)) => r,
        Ok(Err(p)) => Err(format!(
            "panicked: {}",
            p.downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
        )),
        Err(_) => {
            // A hung case cannot be shrunk in reasonable time: report it and stop.
            eprintln!("fuzz: no answer after {} s: {what}", HANG.as_secs());
            std::process::abort();
        }
    }
}

/// `Refused` when `message` names `file` (its file name), else what is wrong.
pub fn named(message: &str, files: &[&str]) -> Result<Outcome, String> {
    if files.iter().any(|f| message.contains(f)) {
        Ok(Outcome::Refused)
    } else {
        Err(format!("the error names none of {files:?}: {message}"))
    }
}

//! What the workspace's tests and benchmarks share, kept out of the libraries' public API (a
//! dev-dependency only): where the real photo datasets and the peer tools (COLMAP,
//! splat-transform) are, how a test says it did not run, the GPU the tests run on, and synthetic
//! models for the compressor, and headless Chromium for the viewer.

pub mod browser;
pub mod cloud;
pub mod gpu;
pub mod sog;

/// For tests that read `../shared/datasets/<rel>`: the path, or, when the datasets are not
/// there, a panic that says how to provide them — unless `SPLAT_SKIP_SHARED=1`, when the test
/// is told to skip (`None`) and a SKIPPED line is printed, so no test passes silently.
pub fn shared_dataset_for_tests(start: &std::path::Path, rel: &str) -> Option<std::path::PathBuf> {
    match shared_datasets_dir(start) {
        Some(d) => Some(d.join(rel)),
        None if std::env::var("SPLAT_SKIP_SHARED").as_deref() == Ok("1") => {
            report_skipped_test(&format!(
                "../shared/datasets/{rel} is not available (SPLAT_SKIP_SHARED=1)"
            ));
            None
        }
        None => panic!(
            "../shared/datasets not found beside the project (set SPLAT_SHARED_DATASETS, or SPLAT_SKIP_SHARED=1 to skip)"
        ),
    }
}

/// Says that the running test skipped its work and why: on stderr, and as a line appended to
/// the file `SPLAT_SKIP_LOG` names, from which `scripts/test.sh` lists what did not run.
pub fn report_skipped_test(why: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    eprintln!("SKIPPED {test}: {why}");
    if let Ok(log) = std::env::var("SPLAT_SKIP_LOG")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
    {
        let _ = writeln!(f, "{test}: {why}");
    }
}

/// The shared real-photo datasets (`../shared/datasets` beside the project), found from
/// `SPLAT_SHARED_DATASETS` or by walking up from `start` looking for `shared/datasets`.
pub fn shared_datasets_dir(start: &std::path::Path) -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("SPLAT_SHARED_DATASETS") {
        return Some(std::path::PathBuf::from(p)).filter(|p| p.is_dir());
    }
    start
        .ancestors()
        .map(|a| a.join("shared/datasets"))
        .find(|p| p.is_dir())
}

/// For tests that run COLMAP as the peer tool: the `colmap` executable (`SPLAT_COLMAP`, or
/// `colmap` on the PATH). A missing one panics with how to install it, unless
/// `SPLAT_SKIP_COLMAP=1`, when a SKIPPED line is printed and the test is told to skip (`None`).
pub fn colmap_for_tests() -> Option<String> {
    let exe = std::env::var("SPLAT_COLMAP").unwrap_or_else(|_| "colmap".into());
    match std::process::Command::new(&exe).arg("help").output() {
        Ok(o) if o.status.success() => Some(exe),
        _ if std::env::var("SPLAT_SKIP_COLMAP").as_deref() == Ok("1") => {
            report_skipped_test("COLMAP is not installed (SPLAT_SKIP_COLMAP=1)");
            None
        }
        _ => panic!(
            "COLMAP 3.8 is needed for this test: `apt-get install colmap` (Debian 12), SPLAT_COLMAP=/path/to/colmap, or SPLAT_SKIP_COLMAP=1 to skip"
        ),
    }
}

//! Structure from motion. This crate holds the front end: photo input with focal priors,
//! SIFT-style features, exhaustive or sequential descriptor matching, geometric verification
//! (E, F, H by LO-RANSAC) and the COLMAP database those are written to.

pub mod bundle;
pub mod database;
pub mod error;
pub mod evaluate;
pub mod features;
pub mod front_end;
pub mod geometry;
pub mod gray;
pub mod input;
pub mod linalg;
pub mod mapper;
pub mod matching;
pub mod timing;
pub mod watchdog;

pub use error::{Result, SfmError};
pub use front_end::{CameraMode, FrontEndOptions, MatchReport, Matcher, Observer};

/// For tests that run COLMAP as the peer tool: the `colmap` executable (`SPLAT_COLMAP`, or
/// `colmap` on the PATH). A missing one panics with how to install it, unless
/// `SPLAT_SKIP_COLMAP=1`, when a SKIPPED line is printed and the test is told to skip (`None`).
pub fn colmap_for_tests() -> Option<String> {
    let exe = std::env::var("SPLAT_COLMAP").unwrap_or_else(|_| "colmap".into());
    match std::process::Command::new(&exe).arg("help").output() {
        Ok(o) if o.status.success() => Some(exe),
        _ if std::env::var("SPLAT_SKIP_COLMAP").as_deref() == Ok("1") => {
            scene::report_skipped_test("COLMAP is not installed (SPLAT_SKIP_COLMAP=1)");
            None
        }
        _ => panic!(
            "COLMAP 3.8 is needed for this test: `apt-get install colmap` (Debian 12), SPLAT_COLMAP=/path/to/colmap, or SPLAT_SKIP_COLMAP=1 to skip"
        ),
    }
}

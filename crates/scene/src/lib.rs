//! The data that flows between splat's stages and the files it lives in: camera models and
//! projection, COLMAP sparse models (binary and text), the Inria 3DGS PLY, Blender/nerfstudio
//! `transforms*.json`, the image undistorter that turns any COLMAP workspace into a PINHOLE one,
//! and atomic file writes.

mod atomic;
mod bytes;
pub mod camera;
pub mod colmap;
pub mod dataset;
mod error;
pub mod images;
pub mod ply;
pub mod transforms;
pub mod undistort;

pub use atomic::{remove_stale_temporaries, write_atomic, write_atomic_bytes};
pub use camera::{Camera, CameraModel};
pub use colmap::{Image, Point2D, Point3D, Reconstruction, TrackElement};
pub use error::SceneError;
pub use ply::GaussianCloud;

pub type Result<T, E = SceneError> = std::result::Result<T, E>;

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

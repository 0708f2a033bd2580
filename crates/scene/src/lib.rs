//! The data that flows between splat's stages and the files it lives in: camera models and
//! projection, COLMAP sparse models (binary and text), the Inria 3DGS PLY, Blender/nerfstudio
//! `transforms*.json`, the image undistorter that turns any COLMAP workspace into a PINHOLE one,
//! and atomic file writes.

// Library code (not its tests) never unwraps, expects or panics on what a user can influence;
// where an invariant makes one impossible, the site says so with an `allow` and why.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod atomic;
mod bytes;
pub mod camera;
pub mod colmap;
pub mod dataset;
mod error;
pub mod formats;
pub mod images;
pub mod morton;
pub mod ply;
pub mod transforms;
pub mod undistort;

pub use atomic::{remove_stale_temporaries, write_atomic, write_atomic_bytes};
pub use camera::{Camera, CameraModel};
pub use colmap::{Image, Point2D, Point3D, Reconstruction, TrackElement};
pub use error::SceneError;
pub use ply::GaussianCloud;

pub type Result<T, E = SceneError> = std::result::Result<T, E>;

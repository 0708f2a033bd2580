//! Built-in scenes with exact cameras, made entirely by our own code: textured boxes, spheres
//! and a ground plane under a textured dome, rendered by a small CPU ray tracer from cameras
//! on two rings around the objects. Output is a COLMAP workspace (`images/`, exact
//! `sparse/0/*.bin` with surface points and their observations) plus `transforms_train.json`
//! / `transforms_test.json` (every 8th view held out), deterministic for a seed.

// Library code (not its tests) never unwraps, expects or panics on what a user can influence;
// where an invariant makes one impossible, the site says so with an `allow` and why.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod generate;
mod geometry;
mod texture;

pub use generate::{
    DatasetError, GeneratedScene, SceneSpec, build, generate, generate_with_progress, render_view,
    surface_cloud,
};
pub use geometry::{Hit, World};

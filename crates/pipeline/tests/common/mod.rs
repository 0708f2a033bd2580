//! Helpers shared by the binary's tests.
#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `splat` binary.
pub fn splat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_splat"))
        .args(args)
        .output()
        .expect("running splat")
}

/// Generates a small built-in scene into `dir/ws`.
pub fn built_in(dir: &Path, views: usize, width: u32, height: u32, points: usize) -> PathBuf {
    let ws = dir.join("ws");
    splat_datasets::generate(
        &splat_datasets::SceneSpec {
            views,
            width,
            height,
            points,
            ..Default::default()
        },
        &ws,
    )
    .expect("generating the built-in scene");
    ws
}

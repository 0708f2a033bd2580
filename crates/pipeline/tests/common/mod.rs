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

/// stdout then stderr of a finished command, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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

/// Starts `splat args…` (with `envs`), waits until `file` exists, then kills it with SIGKILL.
/// Fails when the command ends first or nothing appears in 10 minutes.
pub fn kill_when_written(args: &[String], envs: &[(&str, &Path)], file: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_splat"))
        .args(args)
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting splat");
    let t0 = std::time::Instant::now();
    while !file.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "splat ended before writing {}",
            file.display()
        );
        assert!(
            t0.elapsed().as_secs() < 600,
            "no {} after 10 minutes",
            file.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

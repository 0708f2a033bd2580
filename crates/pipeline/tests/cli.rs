//! The `splat` binary end to end: info, generate, undistort, and its errors.

use std::path::Path;
use std::process::{Command, Output};

fn splat(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_splat"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("running splat")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn info_lists_adapters_and_names_the_one_in_use() {
    let o = splat(&["info"], &[]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("splat will use: "), "{t}");
    assert!(
        t.contains("Vulkan") || t.contains("Metal") || t.contains("Dx12"),
        "{t}"
    );
    let o = splat(&["info", "--json"], &[]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let selected: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["selected"] == true)
        .collect();
    assert_eq!(selected.len(), 1, "{list}");
    assert!(
        selected[0]["max_storage_buffer_binding_size"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn info_fails_clearly_when_splat_adapter_matches_nothing() {
    let o = splat(&["info"], &[("SPLAT_ADAPTER", "no-such-gpu-xyz")]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("no-such-gpu-xyz") && t.contains("matches none"),
        "{t}"
    );
}

#[test]
fn generate_then_undistort_a_pinhole_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("scene");
    let o = splat(
        &[
            "generate",
            "-o",
            ws.to_str().unwrap(),
            "--views",
            "6",
            "--width",
            "64",
            "--height",
            "48",
            "--points",
            "200",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    for f in [
        "images/view_000.png",
        "images/view_005.png",
        "sparse/0/cameras.bin",
        "sparse/0/images.bin",
        "sparse/0/points3D.bin",
        "transforms_train.json",
        "transforms_test.json",
        "manifest.json",
    ] {
        assert!(ws.join(f).is_file(), "missing {f}");
    }
    let out = dir.path().join("und");
    let o = splat(
        &[
            "undistort",
            ws.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    // Pinhole input: images copied unchanged, model identical.
    assert_eq!(
        std::fs::read(ws.join("images/view_003.png")).unwrap(),
        std::fs::read(out.join("images/view_003.png")).unwrap()
    );
    let a = scene::colmap::read_model(&ws.join("sparse/0")).unwrap();
    let b = scene::colmap::read_model(&out.join("sparse/0")).unwrap();
    assert_eq!(a, b);
}

#[test]
fn errors_name_the_input_and_exit_non_zero() {
    let o = splat(&["undistort", "/nonexistent/ws", "-o", "/tmp/x"], &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("/nonexistent/ws"), "{t}");
    let dir = tempfile::tempdir().unwrap();
    let o = splat(
        &[
            "generate",
            "-o",
            dir.path().to_str().unwrap(),
            "--views",
            "1",
        ],
        &[],
    );
    assert!(
        !o.status.success() && text(&o).contains("at least 2 views"),
        "{}",
        text(&o)
    );
    assert!(!Path::new(dir.path()).join("images").exists());
}

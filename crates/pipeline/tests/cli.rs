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
    let a = splat_scene::colmap::read_model(&ws.join("sparse/0")).unwrap();
    let b = splat_scene::colmap::read_model(&out.join("sparse/0")).unwrap();
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

/// A Gaussian of the test below: (mean, DC colour, opacity logit, log-scales, quaternion).
type Row = ([f32; 3], [f32; 3], f32, [f32; 3], [f32; 4]);

/// Issue 24: a PLY the reader accepts may hold finite but absurd values (scales of 1e38,
/// opacities of ±1e30, positions of 1e30, a quaternion of 1e30 or of zeros); every stage that
/// takes a PLY handles it: rendering, evaluation, compression and its reading back end
/// normally, with finite results.
#[test]
fn absurd_but_finite_values_are_handled_by_every_stage_that_takes_a_ply() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene");
    let o = splat(
        &[
            "generate",
            "-o",
            scene.to_str().unwrap(),
            "--views",
            "8",
            "--width",
            "64",
            "--height",
            "48",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let mut cloud = splat_scene::GaussianCloud {
        sh_degree: 0,
        ..Default::default()
    };
    let rows: [Row; 4] = [
        ([0.0; 3], [0.5; 3], 1e30, [87.0; 3], [1.0, 0.0, 0.0, 0.0]),
        (
            [1e30, -1e30, 1e30],
            [1e30, -1e30, 1e30],
            -1e30,
            [-87.0; 3],
            [0.0; 4],
        ),
        (
            [0.1, 0.2, 0.3],
            [0.1; 3],
            2.0,
            [-3.0; 3],
            [1e30, 1e-30, 0.0, 0.0],
        ),
        (
            [0.1, 0.2, 0.3],
            [0.1; 3],
            2.0,
            [3e38, -3e38, 0.0],
            [1.0, 0.0, 0.0, 0.0],
        ),
    ];
    for (mean, dc, opacity, scale, rot) in rows {
        cloud.means.push(mean);
        cloud.sh_dc.push(dc);
        cloud.opacity.push(opacity);
        cloud.log_scales.push(scale);
        cloud.rotations.push(rot);
    }
    let ply = dir.path().join("absurd.ply");
    splat_scene::ply::write_ply(&ply, &cloud).unwrap();
    let (p, s) = (ply.to_str().unwrap(), scene.to_str().unwrap());
    let png = dir.path().join("view.png");
    let sog = dir.path().join("absurd.sog");
    let back = dir.path().join("back.ply");
    for args in [
        vec!["render", p, s, "--view", "0", "-o", png.to_str().unwrap()],
        vec!["eval", p, s, "--json"],
        vec!["compress", p, "-o", sog.to_str().unwrap()],
        vec![
            "decompress",
            sog.to_str().unwrap(),
            "-o",
            back.to_str().unwrap(),
        ],
    ] {
        let o = splat(&args, &[]);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    let eval: serde_json::Value =
        serde_json::from_slice(&splat(&["eval", p, s, "--json"], &[]).stdout).unwrap();
    assert!(eval["psnr"].as_f64().is_some_and(f64::is_finite), "{eval}");
    let img = image::open(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (64, 48));
    assert_eq!(splat_scene::ply::read_ply(&back).unwrap().len(), 4);
}

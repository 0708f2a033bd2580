//! `splat compress` / `splat decompress` end to end: a model through a `.sog` and back, the same
//! file from the CPU and GPU sorts, the report, and errors for bad input.

use std::path::Path;
use std::process::{Command, Output};

fn splat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_splat"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("running splat")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn compress_then_decompress_gives_the_model_back_and_devices_agree() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = splat_test_support::sog::synthetic_cloud(3000, 2, 5);
    let ply = dir.path().join("model.ply");
    splat_scene::ply::write_ply(&ply, &cloud).unwrap();

    let cpu = dir.path().join("cpu.sog");
    let report = dir.path().join("report.json");
    let o = splat(&[
        "compress",
        s(&ply),
        "-o",
        s(&cpu),
        "--device",
        "cpu",
        "--report",
        s(&report),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("3000 Gaussians")
            && t.contains("shN_centroids.webp")
            && t.contains("smaller than"),
        "{t}"
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["count"], 3000);
    assert_eq!(r["sh_bands"], 2);
    assert!(
        r["order"]["neighbour_distance"].as_f64().unwrap()
            < r["order"]["neighbour_distance_morton"].as_f64().unwrap()
    );
    assert_eq!(
        r["written_bytes"].as_u64().unwrap(),
        std::fs::metadata(&cpu).unwrap().len()
    );

    // The sort on the GPU (lavapipe here) writes the same file.
    let gpu = dir.path().join("gpu.sog");
    let o = splat(&["compress", s(&ply), "-o", s(&gpu), "--device", "gpu"]);
    assert!(o.status.success(), "{}", text(&o));
    let (meta_cpu, images_cpu) = splat_sogs::read_sog_images(&cpu).unwrap();
    let (meta_gpu, images_gpu) = splat_sogs::read_sog_images(&gpu).unwrap();
    assert_eq!(meta_cpu, meta_gpu);
    assert_eq!(images_cpu, images_gpu);

    let back = dir.path().join("back.ply");
    let o = splat(&["decompress", s(&cpu), "-o", s(&back)]);
    assert!(o.status.success(), "{}", text(&o));
    let decoded = splat_scene::ply::read_ply(&back).unwrap();
    assert_eq!(decoded.len(), 3000);
    assert_eq!(decoded.sh_degree, 2);

    // Fewer bands on request; the unbundled form into a folder.
    let folder = dir.path().join("unbundled");
    std::fs::create_dir_all(&folder).unwrap();
    let o = splat(&[
        "compress",
        s(&ply),
        "-o",
        s(&folder),
        "--sh-bands",
        "0",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(folder.join("meta.json").exists() && !folder.join("shN_labels.webp").exists());
    assert_eq!(splat_sogs::read_sog(&folder).unwrap().sh_degree, 0);
}

#[test]
fn bad_inputs_fail_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.ply");
    std::fs::write(
        &junk,
        b"ply\nformat binary_little_endian 1.0\nelement vertex 5\n",
    )
    .unwrap();
    let out = dir.path().join("out.sog");
    let o = splat(&["compress", s(&junk), "-o", s(&out), "--device", "cpu"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("junk.ply"), "{}", text(&o));
    assert!(!out.exists(), "a failed run left an output");

    let bad = dir.path().join("bad.sog");
    std::fs::write(&bad, b"PK\x03\x04 not really a zip").unwrap();
    let o = splat(&["decompress", s(&bad), "-o", s(&dir.path().join("x.ply"))]);
    assert!(!o.status.success());
    assert!(text(&o).contains("bad.sog"), "{}", text(&o));
}

#[test]
fn splat_export_to_sog_writes_what_splat_compress_writes_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.ply");
    splat_scene::ply::write_ply(
        &model,
        &splat_test_support::sog::synthetic_cloud(3000, 2, 4),
    )
    .unwrap();
    let (a, b) = (dir.path().join("a.sog"), dir.path().join("b.sog"));
    let o = splat(&[
        "compress",
        model.to_str().unwrap(),
        "-o",
        a.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = splat(&["export", model.to_str().unwrap(), "-o", b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

/// MODEL may be any form the other commands read: a run folder compresses its `point_cloud.ply`
/// (the same file), another format is read as such (the ratio is then against the same Gaussians
/// as a 3DGS PLY), and an output that is the folder's model is refused.
#[test]
fn a_run_folder_or_another_model_format_compresses_like_its_ply() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let ply = run.join("point_cloud.ply");
    splat_scene::ply::write_ply(&ply, &splat_test_support::sog::synthetic_cloud(2000, 1, 6))
        .unwrap();
    let (from_ply, from_run) = (dir.path().join("a.sog"), dir.path().join("b.sog"));
    let report = dir.path().join("report.json");
    let o = splat(&["compress", s(&ply), "-o", s(&from_ply), "--device", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = splat(&[
        "compress",
        s(&run),
        "-o",
        s(&from_run),
        "--device",
        "cpu",
        "--report",
        s(&report),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(&from_ply).unwrap(),
        std::fs::read(&from_run).unwrap()
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(
        r["ply_bytes"].as_u64(),
        Some(std::fs::metadata(&ply).unwrap().len())
    );

    // A .splat (SH degree 0): compressed from its own Gaussians; the ratio's PLY is those
    // Gaussians written as a 3DGS PLY.
    let splat_file = dir.path().join("m.splat");
    let o = splat(&["export", s(&ply), "-o", s(&splat_file)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = splat(&[
        "compress",
        s(&splat_file),
        "-o",
        s(&dir.path().join("c.sog")),
        "--device",
        "cpu",
        "--report",
        s(&report),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let decoded = splat_scene::formats::read_model(&splat_file).unwrap();
    let as_ply = dir.path().join("as.ply");
    splat_scene::ply::write_ply(&as_ply, &decoded).unwrap();
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["count"], 2000);
    assert_eq!(r["sh_bands"], 0);
    assert_eq!(
        r["ply_bytes"].as_u64(),
        Some(std::fs::metadata(&as_ply).unwrap().len())
    );

    let before = std::fs::read(&ply).unwrap();
    let o = splat(&["compress", s(&run), "-o", s(&ply), "--device", "cpu"]);
    assert!(
        !o.status.success() && text(&o).contains("would overwrite the input"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(&ply).unwrap(), before);
}

/// `--views`: the model is compacted on the training views before compression; the report says
/// what compaction did, the file holds the Gaussians it kept (also written with
/// `--compacted-ply`), `--no-compact` turns it off, and a bad `--views` or budget is a clear error
/// that leaves no output.
#[test]
fn compress_with_views_compacts_the_model_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene");
    let trained = dir.path().join("trained");
    let o = splat(&[
        "generate",
        "-o",
        s(&scene),
        "--views",
        "16",
        "--width",
        "64",
        "--height",
        "48",
        "--points",
        "1500",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = splat(&[
        "train",
        s(&scene),
        "-o",
        s(&trained),
        "--steps",
        "300",
        "--eval-every",
        "0",
        "--checkpoint-every",
        "0",
        "--resolution",
        "48",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let model = trained.join("point_cloud.ply");
    let given = splat_scene::ply::read_ply(&model).unwrap();

    let out = dir.path().join("small.sog");
    let report = dir.path().join("report.json");
    let compacted = dir.path().join("compacted.ply");
    let o = splat(&[
        "compress",
        s(&model),
        "-o",
        s(&out),
        "--views",
        s(&scene),
        "--fine-tune-steps",
        "60",
        "--report",
        s(&report),
        "--compacted-ply",
        s(&compacted),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("compaction:") && t.contains("training views"),
        "{t}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let c = &r["compaction"];
    assert_eq!(
        c["gaussians_before"].as_u64(),
        Some(given.len() as u64),
        "{c}"
    );
    // The resolution training used (eval.json beside the model), without being told.
    assert_eq!(c["resolution"], 48, "{c}");
    let kept = c["gaussians_after"].as_u64().unwrap() as usize;
    let sog = splat_sogs::read_sog(&out).unwrap();
    assert_eq!(sog.len(), kept);
    assert_eq!(r["count"].as_u64(), Some(kept as u64));
    let ply = splat_scene::ply::read_ply(&compacted).unwrap();
    assert_eq!(ply.len(), kept);
    assert_eq!(ply.sh_degree, sog.sh_degree);
    let drop = c["train_psnr_before"].as_f64().unwrap() - c["train_psnr_after"].as_f64().unwrap();
    if c["compacted"].as_bool().unwrap() {
        assert!(drop <= 0.3 + 1e-9, "{c}");
        assert!(kept < given.len(), "{c}");
    }

    let plain = dir.path().join("plain.sog");
    let o = splat(&[
        "compress",
        s(&model),
        "-o",
        s(&plain),
        "--views",
        s(&scene),
        "--no-compact",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(splat_sogs::read_sog(&plain).unwrap().len(), given.len());

    // Views in another frame than the model (here: every camera moved 1,000 units back, so
    // the model is behind them), as when --views names another capture: refused, not pruned.
    let elsewhere = dir.path().join("elsewhere");
    let mut rec = splat_scene::colmap::read_model(&scene.join("sparse/0")).unwrap();
    for im in rec.images.values_mut() {
        im.tvec[2] -= 1000.0;
    }
    std::fs::create_dir_all(elsewhere.join("sparse/0")).unwrap();
    splat_scene::colmap::write_binary(&elsewhere.join("sparse/0"), &rec).unwrap();
    std::fs::create_dir_all(elsewhere.join("images")).unwrap();
    for e in std::fs::read_dir(scene.join("images")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), elsewhere.join("images").join(e.file_name())).unwrap();
    }
    let never = dir.path().join("never.sog");
    let o = splat(&[
        "compress",
        s(&model),
        "-o",
        s(&never),
        "--views",
        s(&elsewhere),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("not the views it was trained on"),
        "{}",
        text(&o)
    );

    let o = splat(&[
        "compress",
        s(&model),
        "-o",
        s(&never),
        "--views",
        s(&dir.path().join("nowhere")),
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("nowhere"), "{}", text(&o));
    let o = splat(&[
        "compress",
        s(&model),
        "-o",
        s(&never),
        "--views",
        s(&scene),
        "--max-psnr-drop=-1",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("PSNR drop"), "{}", text(&o));
    assert!(!never.exists(), "a failed run left an output");
}

//! GPU failures at the command line (issue 24): no adapter, a buffer past what the device
//! allows, and a model that outgrows the device mid-run each end in one clear sentence and a
//! non-zero exit; training that stops keeps a checkpoint of its last completed step, from which
//! `--resume` finishes exactly as an untroubled run. (A lost device is tested in splat-train's
//! `lost_device`: only the library can destroy a device mid-run.)

mod common;

use common::{small_scene, text};
use std::path::Path;
use std::process::{Command, Output};

/// `splat train DATA -o OUT` with the test's options and extra environment.
fn train(data: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_splat"))
        .arg("train")
        .arg(data)
        .arg("-o")
        .arg(out)
        .args([
            "--steps",
            "40",
            "--sh-degree",
            "0",
            "--resolution",
            "80",
            "--eval-every",
            "0",
            "--densify-from",
            "10",
            "--densify-every",
            "10",
            "--densify-grad-threshold",
            "0.00002",
            // Densify at steps 10, 20 and 30, as the growth below needs (a 40-step run's
            // scaled window would end at step 20).
            "--paper-schedule",
        ])
        .args(extra)
        .envs(env.iter().copied())
        .output()
        .expect("running splat")
}

fn failed_clearly(o: &Output) -> String {
    let t = text(o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    let errors: Vec<&str> = t.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{t}");
    errors[0].to_string()
}

/// The bytes one training buffer of the first step needs, from the error the device's budget
/// gives ("… needs N bytes, …").
fn needed_bytes(line: &str) -> u64 {
    let at = line.find(" needs ").expect(line) + " needs ".len();
    line[at..].split(' ').next().unwrap().parse().expect(line)
}

#[test]
fn no_adapter_buffers_past_the_device_and_a_model_outgrowing_it_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let images = small_scene(dir.path());
    let data = images.parent().unwrap();

    // No Vulkan driver at all.
    let out = dir.path().join("none");
    let o = train(
        data,
        &out,
        &[],
        &[
            ("VK_ICD_FILENAMES", "/nonexistent.json"),
            ("VK_DRIVER_FILES", "/nonexistent.json"),
        ],
    );
    let e = failed_clearly(&o);
    assert!(
        e.contains("no GPU adapter was found") && e.contains("mesa-vulkan-drivers"),
        "{e}"
    );
    assert!(!out.join("point_cloud.ply").exists());

    // A device that allows 1 KiB per buffer: the model does not even upload.
    let out = dir.path().join("tiny");
    let o = train(data, &out, &[], &[(splat_gpu::BUFFER_BUDGET_VAR, "1024")]);
    let e = failed_clearly(&o);
    assert!(
        e.contains("more than this device allows in one buffer (1024 bytes)"),
        "{e}"
    );
    assert!(!out.join("point_cloud.ply").exists());

    // A budget the first steps fit in: what step 1's largest buffer needs (the frame's per-key
    // gradients, which grow as densification adds Gaussians), found by raising a 64 KiB budget
    // to each need its error names until that buffer is the one named.
    let mut first = 65536;
    for _ in 0..4 {
        let o = train(
            data,
            &dir.path().join("probe"),
            &[],
            &[(splat_gpu::BUFFER_BUDGET_VAR, first.to_string().as_str())],
        );
        let e = failed_clearly(&o);
        first = needed_bytes(&e);
        if e.contains("per-key gradients") {
            break;
        }
    }
    let budget = (first * 13 / 10).to_string();
    let out = dir.path().join("outgrown");
    let o = train(
        data,
        &out,
        &["--checkpoint-every", "1000"],
        &[(splat_gpu::BUFFER_BUDGET_VAR, budget.as_str())],
    );
    let e = failed_clearly(&o);
    assert!(e.contains("Gaussians do not fit on this GPU"), "{e}");
    assert!(e.contains("(the last completed) was written to"), "{e}");
    assert!(!out.join("point_cloud.ply").exists());

    // Resumed without the budget, it ends exactly where an untroubled run ends.
    let o = train(data, &out, &["--resume"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let reference = dir.path().join("reference");
    let o = train(data, &reference, &[], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        std::fs::read(out.join("point_cloud.ply")).unwrap()
            == std::fs::read(reference.join("point_cloud.ply")).unwrap(),
        "the resumed run's model differs from the untroubled run's"
    );
}

//! The web viewer in headless Chromium (WebGL2 on SwiftShader, this machine's CPU): for 100k and
//! 1M Gaussians (synthetic, trained-like, SH degree 3), the time to load (fetch + parse the PLY),
//! to upload (pack the per-Gaussian texture), to depth-sort (in the worker), and per frame (each
//! frame waited for); and the size of the page's JavaScript. Not criterion: one browser run per
//! size is minutes on a CPU renderer; the figures go to `benches/RESULTS.md` with the device.
//!
//! Run: `cargo bench -p splat-pipeline --bench viewer` (Chromium as for the tests:
//! `apt-get install chromium` or `SPLAT_CHROMIUM`). `SPLAT_VIEWER_SIZES=100000` picks sizes.

use serde_json::json;
use splat_test_support::browser::Browser;
use splat_test_support::sog::synthetic_cloud;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn main() {
    let sizes: Vec<usize> = std::env::var("SPLAT_VIEWER_SIZES").ok().map_or_else(
        || vec![100_000, 1_000_000],
        |s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect(),
    );
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/view/web");
    let js: u64 = ["loaders.js", "render.js", "viewer.js", "index.html"]
        .iter()
        .map(|f| std::fs::metadata(web.join(f)).map_or(0, |m| m.len()))
        .sum();
    println!("viewer page: {js} bytes of HTML and JavaScript (no WASM, no dependencies)");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut browser = Browser::launch().unwrap_or_else(|e| panic!("{e}"));
    browser
        .call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1280, "height": 720, "deviceScaleFactor": 1, "mobile": false }),
        )
        .expect("viewport");
    let renderer = browser
        .eval("(() => { const gl = document.createElement('canvas').getContext('webgl2'); const e = gl.getExtension('WEBGL_debug_renderer_info'); return e ? gl.getParameter(e.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER); })()")
        .expect("renderer");
    println!("WebGL renderer: {renderer}");
    println!(
        "| Gaussians | PLY MB | load (fetch + parse) ms | upload ms | sort ms | frame ms (1280×720) |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for n in sizes {
        let ply = dir.path().join(format!("bench-{n}.ply"));
        splat_scene::ply::write_ply(&ply, &synthetic_cloud(n, 3, 5)).expect("writing the PLY");
        let mb = std::fs::metadata(&ply).map_or(0, |m| m.len()) as f64 / 1e6;
        let mut server = Command::new(env!("CARGO_BIN_EXE_splat"))
            .args(["view", ply.to_str().unwrap_or_default(), "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting splat view");
        let mut url = String::new();
        BufReader::new(server.stdout.take().expect("stdout"))
            .read_line(&mut url)
            .expect("reading the URL");
        browser.navigate(url.trim()).expect("opening the viewer");
        browser
            .eval("window.splatViewer.ready.then(() => true)")
            .expect("loading the scene");
        let frames = if n > 300_000 { 5 } else { 20 };
        let r = browser
            .eval(&format!("window.splatViewer.benchmark({frames})"))
            .expect("benchmark");
        println!(
            "| {n} | {mb:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
            r["loadMs"].as_f64().unwrap_or(f64::NAN),
            r["uploadMs"].as_f64().unwrap_or(f64::NAN),
            r["sortMs"].as_f64().unwrap_or(f64::NAN),
            r["frameMs"].as_f64().unwrap_or(f64::NAN),
        );
        let _ = server.kill();
        let _ = server.wait();
    }
}

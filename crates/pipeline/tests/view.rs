//! `splat view` and `splat export … .html` in headless Chromium: the page's WebGL2 renderer, shown
//! a training camera, matches `splat render` (the WGSL rasterizer) of the same model and camera,
//! for a PLY, for its SOG (decoded in the browser) and for the one-file page; bad input is an
//! error on the terminal.

mod common;

use common::{built_in, splat, text};
use rand::{Rng, SeedableRng};
use splat_test_support::browser::Browser;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// PSNR (dB) of two same-size RGB images.
fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "image sizes differ");
    let se: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = se / a.as_raw().len() as f64 / 255.0 / 255.0;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        -10.0 * mse.log10()
    }
}

/// The largest per-channel difference (8-bit levels) and the share of pixels that differ at all.
fn differences(a: &image::RgbImage, b: &image::RgbImage) -> (u8, f64) {
    let mut max = 0;
    let mut differing = 0usize;
    for (p, q) in a.pixels().zip(b.pixels()) {
        let d = (0..3).map(|c| p[c].abs_diff(q[c])).max().unwrap_or(0);
        max = max.max(d);
        differing += usize::from(d > 0);
    }
    (max, differing as f64 / f64::from(a.width() * a.height()))
}

/// `splat view` running in the background; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_splat"))
            .arg("view")
            .args(args)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting splat view");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("reading the URL");
        assert!(
            line.starts_with("http://127.0.0.1:"),
            "splat view printed {line:?}"
        );
        Server {
            child,
            url: line.trim().to_string(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A trained model of the built-in scene with every SH band made to matter (the short run
/// leaves bands 1-3 at zero): its workspace and PLY.
fn trained_model(dir: &Path) -> (PathBuf, PathBuf) {
    let ws = built_in(dir, 12, 160, 120, 3000);
    let out = dir.join("train");
    let o = splat(&[
        "train",
        ws.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--steps",
        "300",
        "--eval-every",
        "0",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let mut cloud = splat_scene::ply::read_ply(&out.join("point_cloud.ply")).unwrap();
    assert_eq!(cloud.sh_degree, 3);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    for v in &mut cloud.sh_rest {
        *v += rng.random_range(-0.15..0.15);
    }
    enclose_first_camera(&ws, &mut cloud);
    let model = dir.join("model.ply");
    splat_scene::ply::write_ply(&model, &cloud).unwrap();
    (ws, model)
}

/// Adds a half-opaque magenta ball whose 3σ ellipsoid holds camera 0 (its mean a little in front
/// of it, past the near plane): both renderers must leave it out from there, and draw it from
/// the other cameras that see it.
fn enclose_first_camera(ws: &Path, cloud: &mut splat_scene::GaussianCloud) {
    let rec = splat_scene::colmap::read_model(&ws.join("sparse/0")).unwrap();
    let images = rec.images_by_name();
    let centre = images[0].center();
    let nearest = images[1..]
        .iter()
        .map(|im| (im.center() - centre).norm())
        .fold(f64::INFINITY, f64::min);
    let ahead = images[0].rotation().row(2).transpose();
    let sigma = 0.1 * nearest;
    let mean = centre + ahead * sigma;
    cloud.means.push(mean.map(|v| v as f32).into());
    cloud.log_scales.push([sigma.ln() as f32; 3]);
    cloud.rotations.push([1.0, 0.0, 0.0, 0.0]);
    cloud.opacity.push(0.0);
    cloud.sh_dc.push([1.5, -1.5, 1.5]);
    let k3 = 3 * splat_scene::ply::sh_rest_per_channel(cloud.sh_degree);
    cloud.sh_rest.extend(std::iter::repeat_n(0.0, k3));
}

/// `splat render` of `model` from camera `view` of `ws`.
fn reference(model: &Path, ws: &Path, view: usize, out: &Path) -> image::RgbImage {
    let o = splat(&[
        "render",
        model.to_str().unwrap(),
        ws.to_str().unwrap(),
        "--view",
        &view.to_string(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    image::open(out).unwrap().to_rgb8()
}

/// The page at `url` shown from training camera `view`: its canvas as an image.
fn viewer_shot(browser: &mut Browser, url: &str, view: usize, save: &Path) -> image::RgbImage {
    browser.navigate(url).unwrap();
    let cam = browser
        .eval(&format!("window.splatViewer.goToCamera({view})"))
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    eprintln!("{url}: camera {cam}");
    let shot = browser.eval("window.splatViewer.screenshot()").unwrap();
    let png = Browser::png_from_data_url(&shot).unwrap();
    std::fs::write(save, &png).unwrap();
    image::load_from_memory(&png).unwrap().to_rgb8()
}

#[test]
fn the_viewer_draws_what_splat_render_draws() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ws, model) = trained_model(d);
    let sog = d.join("model.sog");
    let o = splat(&[
        "compress",
        model.to_str().unwrap(),
        "-o",
        sog.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // The same SOG unbundled (a folder with meta.json), as some hosts serve it.
    let folder = d.join("sog-folder");
    std::fs::create_dir_all(&folder).unwrap();
    let o = splat(&[
        "compress",
        model.to_str().unwrap(),
        "-o",
        folder.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // The SOG's own reference: its decoded PLY, rendered.
    let sog_ply = d.join("sog.ply");
    let o = splat(&[
        "decompress",
        sog.to_str().unwrap(),
        "-o",
        sog_ply.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let page = d.join("scene.html");
    let o = splat(&[
        "export",
        model.to_str().unwrap(),
        "--cameras",
        ws.to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));

    let mut browser = Browser::launch().unwrap_or_else(|e| panic!("{e}"));
    let mut results = Vec::new();
    for view in [0usize, 5] {
        let want = reference(&model, &ws, view, &d.join(format!("render-{view}.png")));
        let want_sog = reference(
            &sog_ply,
            &ws,
            view,
            &d.join(format!("render-sog-{view}.png")),
        );
        {
            let s = Server::start(&[model.to_str().unwrap(), "--cameras", ws.to_str().unwrap()]);
            let got = viewer_shot(
                &mut browser,
                &s.url,
                view,
                &d.join(format!("view-ply-{view}.png")),
            );
            let (max, share) = differences(&got, &want);
            eprintln!(
                "PLY, camera {view}: at most {max} level(s) apart, on {:.1} % of the pixels",
                100.0 * share
            );
            results.push((format!("PLY, camera {view}"), psnr(&got, &want)));
            let n = browser.eval("window.splatViewer.stats.gaussians").unwrap();
            assert_eq!(
                n.as_u64(),
                Some(splat_scene::ply::read_ply(&model).unwrap().len() as u64)
            );
        }
        {
            let s = Server::start(&[sog.to_str().unwrap(), "--cameras", ws.to_str().unwrap()]);
            let got = viewer_shot(
                &mut browser,
                &s.url,
                view,
                &d.join(format!("view-sog-{view}.png")),
            );
            results.push((format!("SOG, camera {view}"), psnr(&got, &want_sog)));
        }
        {
            let s = Server::start(&[folder.to_str().unwrap(), "--cameras", ws.to_str().unwrap()]);
            let got = viewer_shot(
                &mut browser,
                &s.url,
                view,
                &d.join(format!("view-sog-folder-{view}.png")),
            );
            results.push((format!("SOG folder, camera {view}"), psnr(&got, &want_sog)));
        }
        let url = format!("file://{}", page.display());
        let got = viewer_shot(
            &mut browser,
            &url,
            view,
            &d.join(format!("view-html-{view}.png")),
        );
        results.push((format!("exported page, camera {view}"), psnr(&got, &want)));
    }
    // Every other format splat reads is shown too (converted to a PLY by the server).
    for ext in ["spz", "splat", "compressed.ply"] {
        let m = d.join(format!("model.{ext}"));
        let o = splat(&["export", model.to_str().unwrap(), "-o", m.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        let s = Server::start(&[m.to_str().unwrap(), "--cameras", ws.to_str().unwrap()]);
        let got = viewer_shot(&mut browser, &s.url, 0, &d.join(format!("view-{ext}.png")));
        let want = reference(&model, &ws, 0, &d.join("render-0.png"));
        eprintln!(
            "{ext}, camera 0: PSNR {:.2} dB against splat render of the PLY",
            psnr(&got, &want)
        );
        // Quantised formats: the picture stays close (spz and compressed PLY keep the SH).
        assert!(
            psnr(&got, &want) >= 25.0,
            ".{ext}: {:.2} dB",
            psnr(&got, &want)
        );
    }
    for (what, p) in &results {
        eprintln!("{what}: PSNR {p:.2} dB against splat render");
    }
    if std::env::var_os("SPLAT_KEEP_VIEW_TEST").is_some() {
        let keep = dir.keep();
        eprintln!("kept {}", keep.display());
    }
    // The bar is 30 dB; the two renderers agree to within one 8-bit level almost
    // everywhere (about 60 dB here), so anything under 45 dB is a real difference (leaving out
    // the SH bands entirely gives 29-31 dB on this model).
    for (what, p) in &results {
        assert!(
            *p >= 45.0,
            "{what}: PSNR {p:.2} dB < 45 dB against splat render"
        );
    }
}

#[test]
fn bad_input_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.ply");
    std::fs::write(
        &bad,
        b"ply\nformat binary_little_endian 1.0\nelement vertex 10\nproperty float x\nend_header\n",
    )
    .unwrap();
    let o = splat(&["view", bad.to_str().unwrap(), "--port", "0"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("broken.ply"), "{}", text(&o));
    let o = splat(&["view", dir.path().to_str().unwrap(), "--port", "0"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("point_cloud.ply"), "{}", text(&o));
    let o = splat(&[
        "export",
        bad.to_str().unwrap(),
        "-o",
        dir.path().join("x.html").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("broken.ply"), "{}", text(&o));
    assert!(!dir.path().join("x.html").exists());
}

#[test]
fn a_model_gone_after_the_server_started_is_shown_on_the_page_and_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("moved.ply");
    splat_scene::ply::write_ply(&model, &splat_test_support::sog::synthetic_cloud(50, 1, 3))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_splat"))
        .args(["view", model.to_str().unwrap(), "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    std::fs::remove_file(&model).unwrap();
    let mut browser = Browser::launch().unwrap_or_else(|e| panic!("{e}"));
    browser.navigate(url.trim()).unwrap();
    let failed = browser
        .eval("window.splatViewer.ready.then(() => 'loaded', (e) => 'failed: ' + e.message)")
        .unwrap();
    assert!(
        failed.as_str().unwrap_or_default().starts_with("failed"),
        "{failed}"
    );
    let shown = browser.eval("document.getElementById('error').hidden ? '' : document.getElementById('error').textContent").unwrap();
    let shown = shown.as_str().unwrap_or_default().to_string();
    assert!(shown.contains("moved.ply"), "the page shows {shown:?}");
    // The server printed it too (its own line, and the page's report). The page posts its report
    // without waiting for it, so the server may print it a moment after the page shows the error:
    // read the terminal as it comes, and stop the server once the report is there (or after 60 s).
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut terminal = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !terminal.contains("in the browser") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                terminal.push_str(&line);
                terminal.push('\n');
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        terminal.contains("moved.ply") && terminal.contains("in the browser"),
        "{terminal}"
    );
}

#[test]
fn dragging_turns_the_view_and_the_hud_counts_the_gaussians() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("cloud.ply");
    splat_scene::ply::write_ply(
        &model,
        &splat_test_support::sog::synthetic_cloud(2000, 2, 9),
    )
    .unwrap();
    let s = Server::start(&[model.to_str().unwrap()]);
    let mut browser = Browser::launch().unwrap_or_else(|e| panic!("{e}"));
    browser.navigate(&s.url).unwrap();
    browser
        .eval("window.splatViewer.ready.then(() => true)")
        .unwrap();
    let hud = browser
        .eval("document.getElementById('count').textContent")
        .unwrap();
    assert_eq!(hud.as_str(), Some("2,000 Gaussians"));
    let before =
        Browser::png_from_data_url(&browser.eval("window.splatViewer.screenshot()").unwrap())
            .unwrap();
    let pose = |b: &mut Browser| {
        b.eval("JSON.stringify(window.splatViewer.viewer.pose.R)")
            .unwrap()
    };
    let r0 = pose(&mut browser);
    for (kind, x) in [
        ("mousePressed", 300),
        ("mouseMoved", 360),
        ("mouseMoved", 420),
        ("mouseReleased", 420),
    ] {
        browser
            .call(
                "Input.dispatchMouseEvent",
                serde_json::json!({ "type": kind, "x": x, "y": 200, "button": "left", "buttons": 1, "clickCount": 1 }),
            )
            .unwrap();
    }
    assert_ne!(pose(&mut browser), r0, "dragging did not turn the camera");
    browser
        .eval("window.splatViewer.viewer.refresh().then(() => true)")
        .unwrap();
    let after =
        Browser::png_from_data_url(&browser.eval("window.splatViewer.screenshot()").unwrap())
            .unwrap();
    let (a, b) = (
        image::load_from_memory(&before).unwrap().to_rgb8(),
        image::load_from_memory(&after).unwrap().to_rgb8(),
    );
    assert!(
        psnr(&a, &b) < 30.0,
        "the picture did not change after turning ({:.1} dB)",
        psnr(&a, &b)
    );
}

/// Waits (up to 60 s) until the page's Gaussian count reads `want`.
fn wait_for_count(browser: &mut Browser, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now = browser
            .eval("document.getElementById('count').textContent")
            .unwrap();
        if now.as_str() == Some(want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page still shows {now} after 60 s, not {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// The page seen from a fixed pose and near plane, as a PNG.
fn shot_from(browser: &mut Browser, pose: &str, near: f64) -> Vec<u8> {
    let shot = browser
        .eval(&format!(
            "(async () => {{ const v = await window.splatViewer.ready; v.pose = {pose}; v.near = {near}; \
             v.changed(); await v.refresh(); return window.splatViewer.screenshot(); }})()"
        ))
        .unwrap();
    Browser::png_from_data_url(&shot).unwrap()
}

/// `splat view RUN` on a run still training shows its newest checkpoint, picks up each newer
/// one (and then the final model) without a reload of the page, keeps the user's camera, and
/// draws the new model exactly as a fresh page on it does.
#[test]
fn a_run_in_progress_is_followed_checkpoint_by_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    common::write_checkpoint(
        &run,
        10,
        &splat_test_support::sog::synthetic_cloud(2000, 2, 9),
    );
    let s = Server::start(&[run.to_str().unwrap()]);
    let mut browser = Browser::launch().unwrap_or_else(|e| panic!("{e}"));
    browser.navigate(&s.url).unwrap();
    browser
        .eval("window.splatViewer.ready.then(() => true)")
        .unwrap();
    let hud = |b: &mut Browser, id: &str| {
        b.eval(&format!("document.getElementById('{id}').textContent"))
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(hud(&mut browser, "count"), "2,000 Gaussians");
    assert_eq!(hud(&mut browser, "step"), "training: step 10");
    // The user turns the view; the pose is kept over every model that follows.
    for (kind, x) in [
        ("mousePressed", 300),
        ("mouseMoved", 350),
        ("mouseReleased", 350),
    ] {
        browser
            .call(
                "Input.dispatchMouseEvent",
                serde_json::json!({ "type": kind, "x": x, "y": 200, "button": "left", "buttons": 1, "clickCount": 1 }),
            )
            .unwrap();
    }
    let pose_of = |b: &mut Browser| {
        b.eval("JSON.stringify(window.splatViewer.viewer.pose)")
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    };
    let pose = pose_of(&mut browser);

    common::write_checkpoint(
        &run,
        20,
        &splat_test_support::sog::synthetic_cloud(3000, 2, 11),
    );
    wait_for_count(&mut browser, "3,000 Gaussians");
    assert_eq!(hud(&mut browser, "step"), "training: step 20");
    assert_eq!(pose_of(&mut browser), pose, "the camera moved on a reload");

    // The run ends: its point_cloud.ply, newer than every checkpoint, is the model now.
    let last = splat_test_support::sog::synthetic_cloud(2500, 2, 13);
    splat_scene::ply::write_ply(&run.join("point_cloud.ply"), &last).unwrap();
    wait_for_count(&mut browser, "2,500 Gaussians");
    assert_eq!(hud(&mut browser, "step"), "training finished");
    assert!(
        hud(&mut browser, "title").ends_with("point_cloud.ply"),
        "{}",
        hud(&mut browser, "title")
    );
    assert_eq!(pose_of(&mut browser), pose);
    let reloads = browser.eval("window.splatViewer.stats.reloads").unwrap();
    assert_eq!(reloads, 2, "one reload per new model");
    let near = 0.05;
    let followed = shot_from(&mut browser, &pose, near);

    // A fresh page on the final model, from the same pose: the same picture, pixel for pixel
    // (nothing of the earlier models is left in the followed page).
    let model = dir.path().join("last.ply");
    splat_scene::ply::write_ply(&model, &last).unwrap();
    let fresh_server = Server::start(&[model.to_str().unwrap()]);
    browser.navigate(&fresh_server.url).unwrap();
    let fresh = shot_from(&mut browser, &pose, near);
    let (a, b) = (
        image::load_from_memory(&followed).unwrap().to_rgb8(),
        image::load_from_memory(&fresh).unwrap().to_rgb8(),
    );
    assert_eq!(differences(&a, &b), (0, 0.0));
    assert!(
        a.pixels().any(|p| p.0 != [0, 0, 0]),
        "the picture is empty: the pose sees nothing"
    );
}

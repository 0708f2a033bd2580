//! The front end on the built-in scene, whose cameras are exact: verified inliers lie on the
//! true epipolar lines, the focal is found without EXIF, and COLMAP 3.8's own mapper
//! reconstructs from the database we write.

use nalgebra::{Matrix3, Vector2};
use splat_sfm::front_end::{self, FrontEndOptions, Matcher, Silent};
use splat_sfm::geometry::skew;
use splat_sfm::input::FocalSource;
mod support;
use std::path::Path;
use std::process::Command;

/// Renders the first `count` views of the 48-view orbit (7.5° apart, alternating heights) and
/// returns the scene.
fn render(dir: &Path, count: usize) -> splat_datasets::GeneratedScene {
    let scene = support::orbit(480, 360);
    support::render_views(&scene, dir, count);
    scene
}

/// Ten rendered views run through the front end (sequential matching, overlap 4): the temporary
/// folder (images/, database.db), the scene and the report.
fn front_end_on_ten_views() -> (
    tempfile::TempDir,
    splat_datasets::GeneratedScene,
    front_end::MatchReport,
) {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let scene = render(&images, 10);
    let opts = FrontEndOptions {
        matcher: Matcher::Sequential { overlap: 4 },
        ..FrontEndOptions::default()
    };
    let report = front_end::run(&images, &tmp.path().join("database.db"), &opts, &Silent).unwrap();
    (tmp, scene, report)
}

/// The generator's exact camera of an image.
fn true_image<'a>(scene: &'a splat_datasets::GeneratedScene, name: &str) -> &'a splat_scene::Image {
    scene
        .reconstruction
        .images
        .values()
        .find(|i| i.name == name)
        .unwrap()
}

#[test]
fn verified_inliers_lie_on_the_exact_epipolar_lines() {
    let (tmp, scene, report) = front_end_on_ten_views();
    let db_path = tmp.path().join("database.db");
    let db = splat_sfm::database::read(&db_path).unwrap();

    // No EXIF, and every camera fixates the same point, so their optical axes meet: the one
    // configuration where fundamental matrices cannot give the focal. The estimate must
    // notice and keep the 1.2·max(w, h) guess rather than report a wrong focal.
    let cam = &scene.reconstruction.cameras[&1];
    assert!(
        report
            .images
            .iter()
            .all(|i| i.focal_source == FocalSource::Default && i.focal_prior == 1.2 * 480.0)
    );
    let k = Matrix3::new(
        cam.params[0],
        0.0,
        cam.params[2],
        0.0,
        cam.params[1],
        cam.params[3],
        0.0,
        0.0,
        1.0,
    );
    let ki = k.try_inverse().unwrap();
    let by_name = |name: &str| true_image(&scene, name);
    let mut errors = Vec::new();
    let (mut matches, mut inliers) = (0, 0);
    for p in &report.pairs {
        matches += p.matches;
        inliers += p.inliers;
    }
    for tv in db.two_view.iter().filter(|t| t.is_verified()) {
        let (a, b) = (
            &db.images[tv.image1 as usize - 1],
            &db.images[tv.image2 as usize - 1],
        );
        let (ga, gb) = (by_name(&a.name), by_name(&b.name));
        let r = gb.rotation() * ga.rotation().transpose();
        let t = gb.translation() - r * ga.translation();
        let f = ki.transpose() * skew(&t) * r * ki;
        for m in &tv.inliers {
            let pa = a.keypoints[m[0] as usize];
            let pb = b.keypoints[m[1] as usize];
            let d = splat_sfm::geometry::sampson_sq(
                &f,
                &Vector2::new(f64::from(pa[0]), f64::from(pa[1])),
                &Vector2::new(f64::from(pb[0]), f64::from(pb[1])),
            );
            errors.push(d.sqrt());
        }
    }
    let verified = report.verified_pairs;
    errors.sort_by(f64::total_cmp);
    let n = errors.len();
    let under_1px = errors.iter().filter(|&&e| e < 1.0).count() as f64 / n as f64;
    let mean = errors.iter().sum::<f64>() / n as f64;
    eprintln!(
        "{verified} of {} pairs verified; inliers {inliers} of {matches} matches ({:.1} %); true epipolar error of inliers: mean {mean:.3} px, median {:.3} px, 95th percentile {:.3} px, {:.1} % under 1 px",
        report.pairs.len(),
        100.0 * inliers as f64 / matches as f64,
        errors[n / 2],
        errors[n * 95 / 100],
        100.0 * under_1px
    );
    assert!(verified >= 20, "too few verified pairs");
    assert!(mean < 1.0);
    assert!(errors[n / 2] < 0.3);
    assert!(under_1px > 0.8);
}

#[test]
fn colmap_mapper_reconstructs_from_our_database() {
    let Some(exe) = splat_test_support::colmap_for_tests() else {
        return;
    };
    let (tmp, scene, _) = front_end_on_ten_views();
    let (images, db) = (tmp.path().join("images"), tmp.path().join("database.db"));
    let sparse = tmp.path().join("sparse");
    std::fs::create_dir(&sparse).unwrap();
    let out = Command::new(&exe)
        .env("QT_QPA_PLATFORM", "offscreen")
        .args(["mapper", "--database_path"])
        .arg(&db)
        .arg("--image_path")
        .arg(&images)
        .arg("--output_path")
        .arg(&sparse)
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "colmap mapper failed:\n{log}");
    let model = splat_scene::colmap::read_model(&sparse.join("0"))
        .unwrap_or_else(|e| panic!("no model: {e}\n{log}"));
    let points = model.points3d.len();
    let mean_error = model.points3d.values().map(|p| p.error).sum::<f64>() / points.max(1) as f64;
    eprintln!(
        "COLMAP's mapper on our database: {} of 10 images registered, {points} points, mean reprojection error {mean_error:.3} px",
        model.images.len()
    );
    assert_eq!(model.images.len(), 10, "every image registered");
    assert!(points > 300);
    assert!(mean_error < 1.0);
    // Up to a similarity, the cameras are the true ones: compare relative rotations.
    let truth = |name: &str| true_image(&scene, name).rotation();
    let ims: Vec<_> = model.images.values().collect();
    let mut worst: f64 = 0.0;
    for a in &ims {
        for b in &ims {
            let est = b.rotation() * a.rotation().transpose();
            let gt = truth(&b.name) * truth(&a.name).transpose();
            let c = (((est.transpose() * gt).trace() - 1.0) / 2.0).clamp(-1.0, 1.0);
            worst = worst.max(c.acos().to_degrees());
        }
    }
    let focal = model.cameras.values().next().unwrap().params[0];
    eprintln!(
        "largest relative rotation error {worst:.3}°; focal {focal:.1} px (true {:.1})",
        scene.reconstruction.cameras[&1].params[0]
    );
    assert!(worst < 2.0);
}

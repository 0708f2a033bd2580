//! The front end on real photos from `../shared/datasets` (fountain-P11 and sceaux-castle at
//! 1024 px, as COLMAP's reference figures): every pair COLMAP verifies is verified, and on
//! fountain-P11 the verified geometry gives relative rotations that agree with the ground truth.
//! The mapper then reconstructs both from our database: fountain-P11's cameras against the
//! ground truth beat COLMAP 3.8's published figures, sceaux-castle gets more points than COLMAP.
//! These tests fail when the datasets are missing, unless SPLAT_SKIP_SHARED=1 says to skip them.

use nalgebra::{Matrix3, Vector2, Vector3};
use splat_sfm::evaluate;
use splat_sfm::front_end::{self, FrontEndOptions, Silent};
use splat_sfm::geometry::skew;
use splat_sfm::geometry::two_view::{self, Intrinsics, TwoViewOptions};
use splat_sfm::mapper::{MapperOptions, export, reconstruct};
use std::path::{Path, PathBuf};

fn shared(rel: &str) -> Option<PathBuf> {
    splat_test_support::shared_dataset_for_tests(&PathBuf::from(env!("CARGO_MANIFEST_DIR")), rel)
}

fn run(
    images: &Path,
    dir: &Path,
) -> (
    front_end::MatchReport,
    splat_sfm::database::DatabaseContents,
) {
    let opts = FrontEndOptions {
        max_image_size: 1024,
        ..FrontEndOptions::default()
    };
    let db = dir.join("database.db");
    let report = front_end::run(images, &db, &opts, &Silent).expect("front end");
    let contents = splat_sfm::database::read(&db).expect("database reads back");
    (report, contents)
}

/// A Strecha `.camera` file: K, a zero row, R (camera → world), the centre C, the size.
/// Returns K, the world → camera rotation (made exactly orthonormal: the file has six digits)
/// and the centre.
fn strecha(path: &Path) -> (Matrix3<f64>, Matrix3<f64>, Vector3<f64>) {
    let text = std::fs::read_to_string(path).unwrap();
    let v: Vec<f64> = text
        .split_whitespace()
        .map(|t| t.parse().unwrap())
        .collect();
    let k = Matrix3::from_row_slice(&v[0..9]);
    let r_cam_to_world = Matrix3::from_row_slice(&v[12..21]);
    let r = *splat_sfm::linalg::nearest_rotation(&r_cam_to_world.transpose())
        .expect("a finite rotation")
        .matrix();
    (k, r, Vector3::new(v[21], v[22], v[23]))
}

fn angle_deg(r: &Matrix3<f64>) -> f64 {
    ((r.trace() - 1.0) / 2.0)
        .clamp(-1.0, 1.0)
        .acos()
        .to_degrees()
}

#[test]
fn fountain_p11_pairs_are_verified_and_their_rotations_match_the_ground_truth() {
    let Some(root) = shared("fountain-P11") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (report, db) = run(&root.join("images"), tmp.path());
    assert_eq!(report.images.len(), 11);
    // COLMAP 3.8 (1024 px, exhaustive, CPU SIFT, run on this machine) verifies 54 of the 55
    // pairs: not 0000–0010, the two ends of the sequence (39 matches here, about 9 of them right).
    for p in &report.pairs {
        if (p.image1.as_str(), p.image2.as_str()) != ("0000.jpg", "0010.jpg") {
            assert!(
                p.config.is_verified(),
                "{} – {} is not verified: {p:?}",
                p.image1,
                p.image2
            );
        }
    }
    assert!(report.verified_pairs >= 54);
    // No EXIF: the focal is estimated from the verified pairs (true: 2759.5 / 2764.2 px).
    let focal = report.images[0].focal_prior;
    eprintln!(
        "estimated focal {focal:.1} px ({:?})",
        report.images[0].focal_source
    );
    assert_eq!(
        report.images[0].focal_source,
        splat_sfm::input::FocalSource::SelfCalibrated
    );
    assert!((focal - 2762.0).abs() < 0.05 * 2762.0);
    let mut errors = Vec::new();
    let (mut wrong, mut total) = (0, 0);
    for tv in db.two_view.iter().filter(|t| t.is_verified()) {
        let im1 = db.images.iter().find(|i| i.id == tv.image1).unwrap();
        let im2 = db.images.iter().find(|i| i.id == tv.image2).unwrap();
        let gt = |name: &str| {
            strecha(
                &root
                    .join("gt/gt_dense_cameras")
                    .join(format!("{name}.camera")),
            )
        };
        let ((k1, r1, c1), (k2, r2, c2)) = (gt(&im1.name), gt(&im2.name));
        let truth = r2 * r1.transpose();
        let t_rel = -r2 * c2 + truth * (r1 * c1);
        let f_gt = k2.try_inverse().unwrap().transpose()
            * skew(&t_rel)
            * truth
            * k1.try_inverse().unwrap();
        let px = |p: [f32; 2]| Vector2::new(f64::from(p[0]), f64::from(p[1]));
        let gt_err: Vec<f64> = tv
            .inliers
            .iter()
            .map(|m| {
                splat_sfm::geometry::sampson_sq(
                    &f_gt,
                    &px(im1.keypoints[m[0] as usize]),
                    &px(im2.keypoints[m[1] as usize]),
                )
                .sqrt()
            })
            .collect();
        wrong += gt_err.iter().filter(|&&e| e > 4.0).count();
        total += gt_err.len();
        // The relative pose the verified inliers give when the intrinsics are known: the same
        // verification, run on the inliers alone with the true cameras.
        let intr = |k: &Matrix3<f64>| Intrinsics {
            focal: 0.5 * (k[(0, 0)] + k[(1, 1)]),
            cx: k[(0, 2)] + 0.5,
            cy: k[(1, 2)] + 0.5,
            known_focal: true,
        };
        let a: Vec<_> = tv
            .inliers
            .iter()
            .map(|m| px(im1.keypoints[m[0] as usize]))
            .collect();
        let b: Vec<_> = tv
            .inliers
            .iter()
            .map(|m| px(im2.keypoints[m[1] as usize]))
            .collect();
        let g = two_view::verify(
            &intr(&k1),
            &intr(&k2),
            &a,
            &b,
            &TwoViewOptions::default(),
            1,
        )
        .expect("within the time limit");
        let rotation = g
            .rotation
            .expect("the inliers fit an essential matrix with the true focal");
        let err = angle_deg(&(rotation.to_rotation_matrix().matrix().transpose() * truth));
        eprintln!(
            "{} – {}: {} inliers, rotation error {err:.3}°",
            im1.name,
            im2.name,
            tv.inliers.len()
        );
        errors.push(err);
    }
    errors.sort_by(f64::total_cmp);
    let median = errors[errors.len() / 2];
    let max = errors[errors.len() - 1];
    eprintln!(
        "relative rotation error over {} pairs: median {median:.3}°, max {max:.3}°",
        errors.len()
    );
    let wrong_share = wrong as f64 / total as f64;
    eprintln!(
        "{wrong} of {total} inliers ({:.2} %) are more than 4 px from the true epipolar line",
        100.0 * wrong_share
    );
    assert!(wrong_share < 0.01, "too many wrong inliers");
    assert!(median < 0.3, "median {median}°");
    assert!(max < 1.0, "max {max}°");

    // The mapper on the same database, against the ground truth (COLMAP 3.8: RRE 0.23°, RTE
    // 0.32°, centres within 0.11 % of the spread, 0.231 px at 1024 px).
    let models = reconstruct(&db, &MapperOptions::default(), &mut |_, _| {});
    let (model, stats) = &models[0];
    let rec = export::to_reconstruction(model, &[(3072, 2048)], &|_, _| None);
    let gt = evaluate::read_strecha(&root.join("gt/gt_dense_cameras")).unwrap();
    let e = evaluate::compare(&evaluate::from_reconstruction(&rec), &gt).unwrap();
    // Our keypoints are in the 3072-px originals; COLMAP's figure is in 1024-px images.
    let error_1024 = model.mean_reprojection_error() * 1024.0 / 3072.0;
    eprintln!(
        "fountain-P11 mapper: {} of 11 registered, {} points, reprojection error {error_1024:.3} px at 1024 px; {e:?}",
        model.num_registered(),
        model.num_points()
    );
    assert_eq!(model.num_registered(), 11);
    assert!(e.rre_deg.median <= 0.23 && e.rte_deg.median <= 0.32);
    assert!(e.center_error_pct.max <= 0.11);
    assert!(error_1024 <= 0.35);
    // The true principal point is ~16 px off the centre: `--principal-point auto` finds it to a
    // few pixels, says how precisely, and keeps it.
    let [test] = stats.principal_point.as_slice() else {
        panic!("one camera, one test: {:?}", stats.principal_point);
    };
    let (k, _, _) = strecha(&root.join("gt/gt_dense_cameras/0000.jpg.camera"));
    let truth = [k[(0, 2)] + 0.5, k[(1, 2)] + 0.5];
    let off = |p: [f64; 2]| (p[0] - truth[0]).hypot(p[1] - truth[1]);
    eprintln!("principal point {test:?}, truth {truth:?}");
    assert!(test.determined && test.kept, "{test:?}");
    assert!(
        off(test.refined_px) < 5.0 && off(test.prior_px) > 15.0,
        "{test:?}"
    );
    assert!(
        test.sigma_px.iter().all(|s| s.is_some_and(|s| s < 2.0)),
        "{test:?}"
    );
    // Later rounds of the final refinement go on refining it; the model's stays as close.
    let cam = &model.cameras[0];
    assert!(off([cam.cx, cam.cy]) < 5.0, "{cam:?}");
}

#[test]
fn sceaux_castle_pairs_are_all_verified() {
    let Some(root) = shared("sceaux-castle") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (report, db) = run(&root.join("images"), tmp.path());
    assert_eq!(report.verified_pairs, 55, "COLMAP verifies all 55 pairs");
    // The EXIF focal (35 mm equivalent) is the prior, and every image shares one camera.
    assert_eq!(db.cameras.len(), 1);
    assert!(db.cameras[0].prior_focal);
    let inliers: Vec<usize> = report.pairs.iter().map(|p| p.inliers).collect();
    eprintln!("inliers per pair: {inliers:?}");
    assert!(inliers.iter().all(|&n| n >= 15));

    let models = reconstruct(&db, &MapperOptions::default(), &mut |_, _| {});
    let (model, _) = &models[0];
    eprintln!(
        "sceaux-castle: {} of 11 registered, {} points, mean reprojection error {:.3} px",
        model.num_registered(),
        model.num_points(),
        model.mean_reprojection_error()
    );
    assert_eq!(model.num_registered(), 11);
    assert!(model.num_points() >= 5162, "COLMAP 3.8 makes 5162 points");
}

//! The COLMAP database: what we write reads back, and damaged files are clear errors.

use splat_sfm::database::{DatabaseWriter, image_ids, pair_id, read};
use splat_sfm::features::Keypoint;
use splat_sfm::geometry::two_view::{Config, TwoViewGeometry};

fn keypoint(x: f32, y: f32) -> Keypoint {
    Keypoint {
        x,
        y,
        scale: 2.0,
        orientation: 0.5,
        response: 0.1,
    }
}

/// Two images (2 and 1 keypoints) and one pair with `matches`, the second of them an inlier.
fn write_pair(path: &std::path::Path, matches: &[[u32; 2]]) -> (u32, u32) {
    let db = DatabaseWriter::create(path).unwrap();
    let cam = db
        .add_camera(
            splat_scene::CameraModel::SimpleRadial,
            640,
            480,
            &[500.0, 320.0, 240.0, 0.0],
            true,
        )
        .unwrap();
    let a = db.add_image("a.png", cam).unwrap();
    let b = db.add_image("sub/b.png", cam).unwrap();
    db.add_features(
        a,
        &[keypoint(1.5, 2.5), keypoint(3.0, 4.0)],
        &[[7; 128], [9; 128]],
    )
    .unwrap();
    db.add_features(b, &[keypoint(5.5, 6.5)], &[[1; 128]])
        .unwrap();
    let g = TwoViewGeometry {
        config: Config::Uncalibrated,
        inliers: vec![1],
        f: nalgebra::Matrix3::new(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0),
        e: nalgebra::Matrix3::zeros(),
        h: nalgebra::Matrix3::identity(),
        rotation: None,
        translation: None,
        e_inliers: 0,
        f_inliers: 1,
        h_inliers: 0,
    };
    db.add_matches(a, b, matches).unwrap();
    db.add_two_view_geometry(a, b, &g, matches).unwrap();
    assert!(!path.exists(), "the database appears only when finished");
    db.finish().unwrap();
    (a, b)
}

#[test]
fn written_rows_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("database.db");
    let (a, b) = write_pair(&path, &[[0, 0], [1, 0]]);
    let back = read(&path).unwrap();
    assert_eq!(back.cameras.len(), 1);
    assert_eq!(back.cameras[0].params, vec![500.0, 320.0, 240.0, 0.0]);
    assert!(back.cameras[0].prior_focal);
    assert_eq!(back.images[1].name, "sub/b.png");
    assert_eq!(back.images[0].keypoints, vec![[1.5, 2.5], [3.0, 4.0]]);
    let tv = &back.two_view[0];
    assert_eq!((tv.image1, tv.image2), (a, b));
    assert_eq!(tv.inliers, vec![[1, 0]]);
    assert_eq!(
        tv.f,
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        "row-major"
    );
    assert_eq!(tv.config, 3);
    assert_eq!(image_ids(pair_id(b, a)), (a, b));
    assert_eq!(pair_id(1, 2), 2_147_483_649);
}

#[test]
fn damaged_databases_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.db");
    assert!(read(&missing).unwrap_err().to_string().contains("none.db"));
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x5a; 4096]).unwrap();
    let err = read(&junk).unwrap_err().to_string();
    assert!(err.contains("junk.db"), "{err}");
    // A real database cut in half.
    let good = dir.path().join("good.db");
    let db = DatabaseWriter::create(&good).unwrap();
    let cam = db
        .add_camera(
            splat_scene::CameraModel::SimplePinhole,
            64,
            48,
            &[50.0, 32.0, 24.0],
            false,
        )
        .unwrap();
    for i in 0..50 {
        let id = db.add_image(&format!("{i}.png"), cam).unwrap();
        db.add_features(id, &vec![keypoint(1.0, 1.0); 200], &vec![[3; 128]; 200])
            .unwrap();
    }
    db.finish().unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.db");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = read(&cut).unwrap_err().to_string();
    assert!(err.contains("cut.db"), "{err}");
}

/// Found by fuzzing (issue 24): a database whose inlier index points past an image's keypoints
/// (one all-ones word in a blob) was read, and the mapper would have indexed past them.
#[test]
fn inliers_past_the_keypoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("database.db");
    write_pair(&path, &[[0, 0], [1, u32::MAX]]);
    let e = read(&path).unwrap_err().to_string();
    assert!(
        e.contains("database.db") && e.contains("past the images' 2 and 1 keypoints"),
        "{e}"
    );
}

//! SfM's inputs besides photos: the COLMAP `database.db` (`--reuse-matches`) and Strecha
//! `.camera` ground truth (`splat sfm-eval`).

use crate::{Outcome, Seed, cases, fuzz, named};
use splat_sfm::database::{DatabaseWriter, read};
use splat_sfm::features::Keypoint;
use splat_sfm::geometry::two_view::{Config, TwoViewGeometry};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn keypoint(i: usize) -> Keypoint {
    Keypoint {
        x: 3.0 + i as f32 * 7.5,
        y: 40.0 - i as f32,
        scale: 2.0,
        orientation: 0.5,
        response: 0.1,
    }
}

fn database() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("database.db");
    let db = DatabaseWriter::create(&path).unwrap();
    let cam = db
        .add_camera(
            splat_scene::CameraModel::SimpleRadial,
            64,
            48,
            &[60.0, 32.0, 24.0, 0.0],
            true,
        )
        .unwrap();
    let ids: Vec<u32> = ["a.png", "b.png", "c.png"]
        .iter()
        .map(|n| db.add_image(n, cam).unwrap())
        .collect();
    for (k, &id) in ids.iter().enumerate() {
        let kps: Vec<Keypoint> = (0..6 + k).map(keypoint).collect();
        let desc: Vec<[u8; 128]> = (0..kps.len()).map(|i| [(i * 40 + k) as u8; 128]).collect();
        db.add_features(id, &kps, &desc).unwrap();
    }
    let matches = [[0, 1], [2, 2], [3, 5], [4, 4], [5, 0]];
    let g = TwoViewGeometry {
        config: Config::Calibrated,
        inliers: vec![0, 1, 3, 4],
        f: nalgebra::Matrix3::new(0.0, -1.0, 0.2, 1.0, 0.0, -0.3, -0.2, 0.3, 0.0),
        e: nalgebra::Matrix3::new(0.0, -1.0, 0.2, 1.0, 0.0, -0.3, -0.2, 0.3, 0.0),
        h: nalgebra::Matrix3::identity(),
        rotation: None,
        translation: None,
        e_inliers: 4,
        f_inliers: 4,
        h_inliers: 0,
    };
    for (a, b) in [(0, 1), (1, 2), (0, 2)] {
        db.add_matches(ids[a], ids[b], &matches).unwrap();
        db.add_two_view_geometry(ids[a], ids[b], &g, &matches)
            .unwrap();
    }
    db.finish().unwrap();
    std::fs::read(path).unwrap()
}

/// Read; every reference must then hold: images' cameras exist, keypoints are finite, inlier
/// indices are within both images' keypoints, camera parameters match their model.
fn check_database(dir: &Path) -> Result<Outcome, String> {
    let path = dir.join("database.db");
    let db = match read(&path) {
        Ok(d) => d,
        Err(e) => return named(&e.to_string(), &["database.db"]),
    };
    for c in &db.cameras {
        if c.params.len() != c.model.num_params() || c.params.iter().any(|p| !p.is_finite()) {
            return Err(format!(
                "read camera {} with parameters {:?}",
                c.id, c.params
            ));
        }
    }
    let mut keypoints = std::collections::HashMap::new();
    for im in &db.images {
        if !db.cameras.iter().any(|c| c.id == im.camera_id) {
            return Err(format!("read image {} of a missing camera", im.id));
        }
        if im.keypoints.iter().flatten().any(|v| !v.is_finite()) {
            return Err(format!("read image {} with a non-finite keypoint", im.id));
        }
        keypoints.insert(im.id, im.keypoints.len());
    }
    for t in &db.two_view {
        let (Some(&n1), Some(&n2)) = (keypoints.get(&t.image1), keypoints.get(&t.image2)) else {
            return Err(format!(
                "read a pair of missing images {} {}",
                t.image1, t.image2
            ));
        };
        if t.inliers
            .iter()
            .any(|&[a, b]| a as usize >= n1 || b as usize >= n2)
        {
            return Err(format!(
                "read pair {}-{} with an inlier past the keypoints",
                t.image1, t.image2
            ));
        }
    }
    Ok(Outcome::Accepted)
}

#[test]
fn colmap_database() {
    let seed = Seed::all(vec![(PathBuf::from("database.db"), database())]);
    fuzz(
        "database.db",
        vec![seed],
        cases(2000),
        Arc::new(check_database),
    );
}

fn strecha_seed() -> Seed {
    let files = (0..3)
        .map(|i| {
            let a = 0.1 * f64::from(i);
            let (c, s) = (a.cos(), a.sin());
            let text = format!(
                "2759.48 0 1520.69\n0 2764.16 1006.81\n0 0 1\n0 0 0\n{c} 0 {s}\n0 1 0\n{} 0 {c}\n{} 0.5 -3.2\n3072 2048\n",
                -s,
                0.4 * f64::from(i)
            );
            (PathBuf::from(format!("000{i}.png.camera")), text.into_bytes())
        })
        .collect();
    Seed::all(files)
}

fn check_strecha(dir: &Path) -> Result<Outcome, String> {
    match splat_sfm::evaluate::read_strecha(dir) {
        Ok(poses) => {
            for p in &poses {
                let finite = p
                    .rotation
                    .iter()
                    .chain(p.center.iter())
                    .all(|v| v.is_finite());
                let focal_ok = p.focal.is_finite() && p.focal > 0.0;
                if !(finite && focal_ok) {
                    return Err(format!("read {}: {p:?}", p.name));
                }
            }
            Ok(Outcome::Accepted)
        }
        Err(e) => named(&e.to_string(), &[".camera"]),
    }
}

#[test]
fn strecha_cameras() {
    fuzz(
        "Strecha .camera",
        vec![strecha_seed()],
        cases(2000),
        Arc::new(check_strecha),
    );
}

#[test]
#[ignore = "the long run: 100,000 cases per reader"]
fn sfm_files_long_run() {
    let n = cases(crate::LONG_RUN_CASES);
    let seed = Seed::all(vec![(PathBuf::from("database.db"), database())]);
    fuzz(
        "database.db (long)",
        vec![seed],
        n,
        Arc::new(check_database),
    );
    fuzz(
        "Strecha .camera (long)",
        vec![strecha_seed()],
        n,
        Arc::new(check_strecha),
    );
}

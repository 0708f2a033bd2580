//! COLMAP models, binary and text (cameras, images, points3D), and `transforms*.json`: what the
//! readers take validates, and the training data set built on it loads.

use crate::{Outcome, Seed, cases, fuzz, named};
use splat_scene::colmap::{Image, Point2D, Point3D, Reconstruction, TrackElement, read_model};
use splat_scene::{Camera, CameraModel};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Two cameras (one distorted), three posed images with keypoints, four points seen by two or
/// three of them.
fn model() -> Reconstruction {
    let mut rec = Reconstruction::default();
    rec.cameras
        .insert(1, Camera::pinhole(1, 64, 48, 60.0, 61.0, 32.0, 24.0));
    rec.cameras.insert(
        2,
        Camera {
            id: 2,
            model: CameraModel::SimpleRadial,
            width: 64,
            height: 48,
            params: vec![58.0, 31.5, 23.5, -0.02],
        },
    );
    for id in 1..=3u32 {
        let points2d = (0..4)
            .map(|k| Point2D {
                xy: [10.0 + 9.0 * f64::from(k), 20.0 + f64::from(id)],
                point3d_id: (k != 3 || id != 2).then_some(k as u64 + 1),
            })
            .collect();
        rec.images.insert(
            id,
            Image {
                id,
                qvec: [0.99, 0.01 * f64::from(id), -0.05, 0.1],
                tvec: [0.1 * f64::from(id), -0.2, 3.0],
                camera_id: if id == 3 { 2 } else { 1 },
                name: format!("view_{id}.png"),
                points2d,
            },
        );
    }
    for k in 0..4u32 {
        let track = (1..=3u32)
            .filter(|&id| k != 3 || id != 2)
            .map(|image_id| TrackElement {
                image_id,
                point2d_idx: k,
            })
            .collect();
        rec.points3d.insert(
            u64::from(k) + 1,
            Point3D {
                id: u64::from(k) + 1,
                xyz: [0.1 * f64::from(k), -0.3, 0.5],
                rgb: [200, 100, k as u8],
                error: 0.5,
                track,
            },
        );
    }
    rec
}

fn files_of(dir: &Path, prefix: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let rel = Path::new(prefix).join(p.file_name().unwrap());
            (rel, std::fs::read(p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn model_seed(binary: bool) -> Vec<Seed> {
    let dir = tempfile::tempdir().unwrap();
    if binary {
        splat_scene::colmap::write_binary(dir.path(), &model()).unwrap();
    } else {
        splat_scene::colmap::write_text(dir.path(), &model()).unwrap();
    }
    vec![Seed::all(files_of(dir.path(), "sparse/0"))]
}

/// Read; then the model's own validation and a binary copy that reads back identical.
fn check_model(dir: &Path) -> Result<Outcome, String> {
    let model_dir = dir.join("sparse/0");
    let rec = match read_model(&model_dir) {
        Ok(r) => r,
        Err(e) => {
            return named(
                &e.to_string(),
                &["cameras.", "images.", "points3D.", "sparse/0"],
            );
        }
    };
    let f = |n: &str| model_dir.join(n);
    rec.validate(&f("cameras.bin"), &f("images.bin"), &f("points3D.bin"))
        .map_err(|e| format!("read, but fails validation: {e}"))?;
    let copy = dir.join("copy");
    std::fs::create_dir_all(&copy).map_err(|e| e.to_string())?;
    splat_scene::colmap::write_binary(&copy, &rec).map_err(|e| format!("not written: {e}"))?;
    let back = read_model(&copy).map_err(|e| format!("our copy is not read: {e}"))?;
    if back != rec {
        return Err("the written copy reads back different".into());
    }
    Ok(Outcome::Accepted)
}

#[test]
fn colmap_binary_model() {
    fuzz(
        "COLMAP binary model",
        model_seed(true),
        cases(2000),
        Arc::new(check_model),
    );
}

#[test]
fn colmap_text_model() {
    fuzz(
        "COLMAP text model",
        model_seed(false),
        cases(2000),
        Arc::new(check_model),
    );
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(8, 6, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A Blender-style train/test pair and a nerfstudio-style file with intrinsics and distortion;
/// only the JSON files are mutated.
fn transforms_seeds() -> Vec<Seed> {
    let frame = |i: usize, ext: &str| {
        let (c, s) = ((0.3 * i as f64).cos(), (0.3 * i as f64).sin());
        format!(
            r#"{{"file_path": "./train/r_{i}{ext}", "rotation": 0.012,
  "transform_matrix": [[{c}, {}, 0.0, -0.2], [{s}, {c}, 0.0, 0.8], [0.0, 0.0, 1.0, 4.0], [0.0, 0.0, 0.0, 1.0]]}}"#,
            -s
        )
    };
    let images: Vec<(PathBuf, Vec<u8>)> = (0..3)
        .map(|i| (PathBuf::from(format!("train/r_{i}.png")), png()))
        .collect();
    let blender_train = format!(
        "{{\"camera_angle_x\": 0.69,\n\"frames\": [{}, {}]}}",
        frame(0, ""),
        frame(1, "")
    );
    let blender_test = format!(
        "{{\"camera_angle_x\": 0.69, \"frames\": [{}]}}",
        frame(2, "")
    );
    let nerfstudio = format!(
        "{{\"fl_x\": 7.5, \"fl_y\": 7.4, \"cx\": 4.0, \"cy\": 3.0, \"w\": 8, \"h\": 6, \"k1\": 0.01, \"k2\": -0.002, \"p1\": 0.0, \"p2\": 0.001,\n\"frames\": [{}, {}, {}]}}",
        frame(0, ".png"),
        frame(1, ".png"),
        frame(2, ".png")
    );
    let mut blender = images.clone();
    blender.push(("transforms_train.json".into(), blender_train.into_bytes()));
    blender.push(("transforms_test.json".into(), blender_test.into_bytes()));
    let mut ns = images;
    ns.push(("transforms.json".into(), nerfstudio.into_bytes()));
    vec![
        Seed {
            files: blender,
            targets: vec![3, 4],
        },
        Seed {
            files: ns,
            targets: vec![3],
        },
    ]
}

/// The data set loads (as `splat train` loads it) or the error names a JSON file.
fn check_transforms(dir: &Path) -> Result<Outcome, String> {
    match splat_scene::dataset::Dataset::load(dir) {
        Ok(d) => {
            let f = dir.join("transforms.json");
            d.model
                .validate(&f, &f, &f)
                .map_err(|e| format!("loaded, but fails validation: {e}"))?;
            if d.model.images.is_empty() {
                return Err("loaded with no images".into());
            }
            Ok(Outcome::Accepted)
        }
        Err(e) => named(&e.to_string(), &["transforms"]),
    }
}

#[test]
fn transforms_json() {
    fuzz(
        "transforms*.json",
        transforms_seeds(),
        cases(2000),
        Arc::new(check_transforms),
    );
}

#[test]
#[ignore = "the long run: 100,000 cases per form"]
fn colmap_and_transforms_long_run() {
    let n = cases(crate::LONG_RUN_CASES);
    fuzz(
        "COLMAP binary model (long)",
        model_seed(true),
        n,
        Arc::new(check_model),
    );
    fuzz(
        "COLMAP text model (long)",
        model_seed(false),
        n,
        Arc::new(check_model),
    );
    fuzz(
        "transforms*.json (long)",
        transforms_seeds(),
        n,
        Arc::new(check_transforms),
    );
}

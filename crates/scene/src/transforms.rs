//! Blender / nerfstudio `transforms_*.json` import.
//!
//! Frames hold a camera → world matrix in OpenGL axes (x right, y up, looking down −z); we
//! convert to COLMAP/OpenCV axes (x right, y down, looking down +z) by negating the y and z
//! camera axes, and invert to world → camera. Intrinsics come from `camera_angle_x` (Blender)
//! or `fl_x`/`fl_y`/`cx`/`cy`/`w`/`h` (nerfstudio, top level or per frame), with OPENCV or
//! OPENCV_FISHEYE distortion when `k1…`/`p1…` are given. The result is a `Reconstruction`
//! whose image names are paths relative to the JSON file's folder.

use crate::colmap::{Image, Reconstruction};
use crate::{Camera, CameraModel, Result, SceneError, images};
use nalgebra::{Matrix3, Matrix4, Vector3};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Extensions tried when `file_path` has none (Blender's files omit it).
const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "exr"];

fn number(obj: &Value, key: &str) -> Option<f64> {
    obj.get(key).and_then(Value::as_f64)
}

/// Resolves a frame's `file_path` against the JSON's folder, adding an extension if needed.
fn resolve_image(root: &Path, file_path: &str) -> Option<PathBuf> {
    let p = root.join(file_path);
    if p.is_file() {
        return Some(p);
    }
    EXTENSIONS
        .iter()
        .map(|e| root.join(format!("{file_path}.{e}")))
        .find(|c| c.is_file())
}

/// Reads a `transforms*.json` into cameras and posed images.
pub fn read_transforms(path: &Path) -> Result<Reconstruction> {
    let text = std::fs::read_to_string(path).map_err(|e| SceneError::io(path, e))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| SceneError::text(path, e.line(), format!("invalid JSON: {e}")))?;
    let root = path.parent().unwrap_or(Path::new("."));
    let frames = json
        .get("frames")
        .and_then(Value::as_array)
        .ok_or_else(|| SceneError::invalid(path, "no 'frames' array"))?;
    let mut rec = Reconstruction::default();
    for (i, frame) in frames.iter().enumerate() {
        let fp = frame
            .get("file_path")
            .and_then(Value::as_str)
            .ok_or_else(|| SceneError::invalid(path, format!("frame {i} has no 'file_path'")))?;
        let image_path = resolve_image(root, fp).ok_or_else(|| {
            SceneError::invalid(
                path,
                format!("frame {i}: image '{fp}' not found in {}", root.display()),
            )
        })?;
        let camera = intrinsics(path, &json, frame, i, &image_path)?;
        let c2w = matrix(path, frame, i)?;
        let id = i as u32 + 1;
        let name = image_path
            .strip_prefix(root)
            .unwrap_or(&image_path)
            .to_string_lossy()
            .replace('\\', "/");
        let name = name.strip_prefix("./").unwrap_or(&name).to_string();
        let mut image = Image {
            id,
            qvec: [1.0, 0.0, 0.0, 0.0],
            tvec: [0.0; 3],
            camera_id: id,
            name,
            points2d: Vec::new(),
        };
        let (r, t) = opengl_c2w_to_opencv_w2c(&c2w);
        image.set_pose(&r, &t);
        rec.cameras.insert(id, Camera { id, ..camera });
        rec.images.insert(id, image);
    }
    rec.validate(path, path, path)?;
    Ok(rec)
}

/// World → camera (OpenCV axes) from a camera → world matrix in OpenGL axes.
pub fn opengl_c2w_to_opencv_w2c(c2w: &Matrix4<f64>) -> (Matrix3<f64>, Vector3<f64>) {
    let mut r_c2w: Matrix3<f64> = c2w.fixed_view::<3, 3>(0, 0).into_owned();
    // Flip the camera's y and z axes (columns of the camera → world rotation).
    r_c2w.column_mut(1).neg_mut();
    r_c2w.column_mut(2).neg_mut();
    let centre: Vector3<f64> = c2w.fixed_view::<3, 1>(0, 3).into_owned();
    let r = r_c2w.transpose();
    let t = -(r * centre);
    (r, t)
}

fn matrix(path: &Path, frame: &Value, i: usize) -> Result<Matrix4<f64>> {
    let bad = || {
        SceneError::invalid(
            path,
            format!("frame {i}: 'transform_matrix' must be 4 rows of 4 numbers"),
        )
    };
    let rows = frame
        .get("transform_matrix")
        .and_then(Value::as_array)
        .ok_or_else(bad)?;
    if rows.len() != 4 {
        return Err(bad());
    }
    let mut m = Matrix4::zeros();
    for (r, row) in rows.iter().enumerate() {
        let row = row.as_array().filter(|a| a.len() == 4).ok_or_else(bad)?;
        for (c, v) in row.iter().enumerate() {
            m[(r, c)] = v.as_f64().filter(|x| x.is_finite()).ok_or_else(bad)?;
        }
    }
    let rot: Matrix3<f64> = m.fixed_view::<3, 3>(0, 0).into_owned();
    let det = rot.determinant();
    if (det.abs() - 1.0).abs() > 1e-3 {
        return Err(SceneError::invalid(
            path,
            format!(
                "frame {i}: the rotation part of 'transform_matrix' has determinant {det:.4}, not ±1"
            ),
        ));
    }
    Ok(m)
}

fn intrinsics(path: &Path, json: &Value, frame: &Value, i: usize, image: &Path) -> Result<Camera> {
    let get = |k: &str| number(frame, k).or_else(|| number(json, k));
    let (w, h) = match (get("w"), get("h")) {
        (Some(w), Some(h)) => (w as u64, h as u64),
        _ => {
            let (w, h) = images::dimensions(image)?;
            (u64::from(w), u64::from(h))
        }
    };
    let (fx, fy) = match (
        get("fl_x"),
        get("fl_y"),
        get("camera_angle_x"),
        get("camera_angle_y"),
    ) {
        (Some(fx), fy, _, _) => (fx, fy.unwrap_or(fx)),
        (None, Some(fy), _, _) => (fy, fy),
        (None, None, Some(ax), ay) => {
            let fx = 0.5 * w as f64 / (0.5 * ax).tan();
            (fx, ay.map_or(fx, |ay| 0.5 * h as f64 / (0.5 * ay).tan()))
        }
        _ => {
            return Err(SceneError::invalid(
                path,
                format!("frame {i}: no focal length (fl_x, fl_y or camera_angle_x)"),
            ));
        }
    };
    if !(fx.is_finite() && fy.is_finite() && fx > 0.0 && fy > 0.0) {
        return Err(SceneError::invalid(
            path,
            format!("frame {i}: focal length ({fx}, {fy}) is not positive"),
        ));
    }
    let cx = get("cx").unwrap_or(w as f64 / 2.0);
    let cy = get("cy").unwrap_or(h as f64 / 2.0);
    let k = |n: &str| get(n).unwrap_or(0.0);
    let fisheye = json.get("camera_model").and_then(Value::as_str) == Some("OPENCV_FISHEYE");
    let (model, params) = if fisheye {
        (
            CameraModel::OpenCvFisheye,
            vec![fx, fy, cx, cy, k("k1"), k("k2"), k("k3"), k("k4")],
        )
    } else if ["k1", "k2", "p1", "p2"].iter().any(|n| k(n) != 0.0) {
        (
            CameraModel::OpenCv,
            vec![fx, fy, cx, cy, k("k1"), k("k2"), k("p1"), k("p2")],
        )
    } else {
        (CameraModel::Pinhole, vec![fx, fy, cx, cy])
    };
    Ok(Camera {
        id: 0,
        model,
        width: w,
        height: h,
        params,
    })
}

//! COLMAP sparse models: `cameras`, `images` and `points3D`, in the binary (`.bin`) and text
//! (`.txt`) forms COLMAP writes. Values are kept exactly as stored (quaternions are not
//! renormalised) so a model read and written again is identical.

mod binary;
mod text;

use crate::{Camera, Result, SceneError};
use nalgebra::{Matrix3, Quaternion, Rotation3, UnitQuaternion, Vector3};
use std::collections::BTreeMap;
use std::path::Path;

pub use binary::{read_binary, write_binary};
pub use text::{read_text, write_text};

/// A keypoint of an image and the 3D point it observes, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point2D {
    pub xy: [f64; 2],
    pub point3d_id: Option<u64>,
}

/// A registered image: pose (world → camera), camera, file name and keypoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub id: u32,
    /// Rotation world → camera as a Hamilton quaternion (w, x, y, z).
    pub qvec: [f64; 4],
    /// Translation world → camera.
    pub tvec: [f64; 3],
    pub camera_id: u32,
    pub name: String,
    pub points2d: Vec<Point2D>,
}

impl Image {
    /// The world → camera rotation (the quaternion normalised).
    pub fn rotation(&self) -> Matrix3<f64> {
        let [w, x, y, z] = self.qvec;
        UnitQuaternion::from_quaternion(Quaternion::new(w, x, y, z))
            .to_rotation_matrix()
            .into_inner()
    }

    pub fn translation(&self) -> Vector3<f64> {
        Vector3::from(self.tvec)
    }

    /// Camera centre in world coordinates, −Rᵀt.
    pub fn center(&self) -> Vector3<f64> {
        -(self.rotation().transpose() * self.translation())
    }

    /// A world point in this image's camera coordinates.
    pub fn world_to_camera(&self, p: &Vector3<f64>) -> Vector3<f64> {
        self.rotation() * p + self.translation()
    }

    /// Sets the pose from a world → camera rotation matrix (orthonormal, det +1) and translation.
    pub fn set_pose(&mut self, r: &Matrix3<f64>, t: &Vector3<f64>) {
        // Closed form (not `UnitQuaternion::from_matrix`, whose iteration from the identity can
        // stall on rotations near 180°).
        let q = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(*r));
        self.qvec = [q.w, q.i, q.j, q.k];
        self.tvec = [t.x, t.y, t.z];
    }
}

/// One observation of a 3D point: image id and keypoint index in that image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackElement {
    pub image_id: u32,
    pub point2d_idx: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Point3D {
    pub id: u64,
    pub xyz: [f64; 3],
    pub rgb: [u8; 3],
    /// Mean reprojection error in pixels.
    pub error: f64,
    pub track: Vec<TrackElement>,
}

/// The largest image side a camera may declare (COLMAP's readers take any; no sensor comes
/// near it, and a model past it is a damaged file).
pub const MAX_IMAGE_SIDE: u64 = 1 << 20;

/// A sparse model: cameras, registered images and 3D points, keyed by their ids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconstruction {
    pub cameras: BTreeMap<u32, Camera>,
    pub images: BTreeMap<u32, Image>,
    pub points3d: BTreeMap<u64, Point3D>,
}

impl Reconstruction {
    /// Images in name order, the order `--view N` counts in.
    pub fn images_by_name(&self) -> Vec<&Image> {
        let mut v: Vec<&Image> = self.images.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Checks every value a later stage divides by or projects with, and the references between
    /// the three tables: each camera has a size, its model's parameter count, finite parameters
    /// and a positive focal length (else the error names `cameras_file`); each image a finite,
    /// non-zero rotation, a finite translation and an existing camera (`images_file`); each point
    /// a finite position and a track of existing images and keypoints (`points_file`).
    pub fn validate(
        &self,
        cameras_file: &Path,
        images_file: &Path,
        points_file: &Path,
    ) -> Result<()> {
        for cam in self.cameras.values() {
            let problem = if cam.width == 0 || cam.height == 0 {
                Some(format!("is {}×{} pixels", cam.width, cam.height))
            } else if cam.width > MAX_IMAGE_SIDE || cam.height > MAX_IMAGE_SIDE {
                Some(format!(
                    "is {}×{} pixels, more than {MAX_IMAGE_SIDE} on a side",
                    cam.width, cam.height
                ))
            } else if cam.params.len() != cam.model.num_params() {
                Some(format!(
                    "has {} parameters, a {} camera has {}",
                    cam.params.len(),
                    cam.model.name(),
                    cam.model.num_params()
                ))
            } else if cam.params.iter().any(|p| !p.is_finite()) {
                Some("has a NaN or infinite parameter".to_string())
            } else {
                let (fx, fy) = cam.focal();
                (fx <= 0.0 || fy <= 0.0).then(|| format!("has focal length {fx}, {fy}"))
            };
            if let Some(problem) = problem {
                return Err(SceneError::invalid(
                    cameras_file,
                    format!("camera {} {problem}", cam.id),
                ));
            }
        }
        for img in self.images.values() {
            let q = img.qvec;
            let finite = q.iter().chain(&img.tvec).all(|v| v.is_finite());
            let norm = q.iter().map(|v| v * v).sum::<f64>().sqrt();
            if img.name.is_empty() || img.name.contains(['\0', '\n', '\r']) {
                return Err(SceneError::invalid(
                    images_file,
                    format!("image {} has the name {:?}", img.id, img.name),
                ));
            }
            if let Some(k) = img
                .points2d
                .iter()
                .position(|p| !p.xy.iter().all(|v| v.is_finite()))
            {
                return Err(SceneError::invalid(
                    images_file,
                    format!(
                        "image {} ('{}'): keypoint {k} is not finite",
                        img.id, img.name
                    ),
                ));
            }
            if !finite || !(1e-6..=1e6).contains(&norm) {
                return Err(SceneError::invalid(
                    images_file,
                    format!(
                        "image {} ('{}') has pose q = {q:?}, t = {:?}: not a rotation and a finite translation",
                        img.id, img.name, img.tvec
                    ),
                ));
            }
            if !self.cameras.contains_key(&img.camera_id) {
                return Err(SceneError::invalid(
                    images_file,
                    format!(
                        "image {} ('{}') uses camera {}, which is not in the model",
                        img.id, img.name, img.camera_id
                    ),
                ));
            }
        }
        for p in self.points3d.values() {
            if !p.xyz.iter().all(|v| v.is_finite()) || !p.error.is_finite() {
                return Err(SceneError::invalid(
                    points_file,
                    format!(
                        "point {} has position {:?} and error {}",
                        p.id, p.xyz, p.error
                    ),
                ));
            }
            for t in &p.track {
                let Some(img) = self.images.get(&t.image_id) else {
                    return Err(SceneError::invalid(
                        points_file,
                        format!(
                            "point {} observes image {}, which is not in the model",
                            p.id, t.image_id
                        ),
                    ));
                };
                if t.point2d_idx as usize >= img.points2d.len() {
                    return Err(SceneError::invalid(
                        points_file,
                        format!(
                            "point {} observes keypoint {} of image {}, which has only {}",
                            p.id,
                            t.point2d_idx,
                            t.image_id,
                            img.points2d.len()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Reads a model folder: the binary files if `cameras.bin` is there, else the text files.
pub fn read_model(dir: &Path) -> Result<Reconstruction> {
    if dir.join("cameras.bin").exists() {
        read_binary(dir)
    } else if dir.join("cameras.txt").exists() {
        read_text(dir)
    } else {
        Err(SceneError::invalid(
            dir,
            "no COLMAP model here: neither cameras.bin nor cameras.txt exists",
        ))
    }
}

/// Finds the model folder of a COLMAP workspace: `sparse/0`, `sparse`, or the folder itself.
pub fn find_model_dir(workspace: &Path) -> Option<std::path::PathBuf> {
    [
        workspace.join("sparse/0"),
        workspace.join("sparse"),
        workspace.to_path_buf(),
    ]
    .into_iter()
    .find(|d| d.join("cameras.bin").exists() || d.join("cameras.txt").exists())
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| SceneError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_pose_keeps_half_turns() {
        // A half turn about y: the case an iterative matrix-to-quaternion fit gets wrong.
        let r = Matrix3::new(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0);
        let mut im = Image {
            id: 1,
            qvec: [1.0, 0.0, 0.0, 0.0],
            tvec: [0.0; 3],
            camera_id: 1,
            name: "a".into(),
            points2d: vec![],
        };
        im.set_pose(&r, &Vector3::new(1.0, 2.0, 3.0));
        assert!((im.rotation() - r).norm() < 1e-12);
        assert!((im.center() - Vector3::new(1.0, -2.0, 3.0)).norm() < 1e-12);
    }
}

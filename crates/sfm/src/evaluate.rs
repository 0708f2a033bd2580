//! Camera poses against a ground truth: relative rotation errors (RRE) and relative
//! translation-direction errors (RTE) over every pair of images both have, camera centres after
//! a 7-DoF similarity alignment (Umeyama), as a share of the cameras' spread (the largest
//! distance between two true centres), and the focal length error.
//!
//! The rotations are compared twice: as the models give them (each camera's optical axis through
//! its principal point), and turned so that each camera's axis goes through the middle of its
//! photo. Two models that place every pixel's ray alike can still differ in the first by the
//! angle between the principal point and the photo's middle (a model that holds the principal
//! point at the centre, as COLMAP does by default, folds that angle into the rotation); the
//! second compares where the photos look, whichever convention each model keeps.

use crate::SfmError;
use nalgebra::{Matrix3, UnitQuaternion, Vector2, Vector3};
use std::path::Path;

/// One camera as evaluated: world → camera rotation, centre, focal (pixels), and the direction,
/// in the camera's frame, of the ray through the middle of its photo (+z when the principal
/// point is the photo's centre).
#[derive(Debug, Clone, PartialEq)]
pub struct CameraPose {
    pub name: String,
    pub rotation: Matrix3<f64>,
    pub center: Vector3<f64>,
    pub focal: f64,
    pub middle_ray: Vector3<f64>,
}

impl CameraPose {
    /// World → camera rotation of the frame turned (the least turn) so that its +z is the ray
    /// through the middle of the photo.
    pub fn middle_frame_rotation(&self) -> Matrix3<f64> {
        let turn = UnitQuaternion::rotation_between(&self.middle_ray, &Vector3::z())
            .unwrap_or_else(UnitQuaternion::identity);
        turn.to_rotation_matrix().matrix() * self.rotation
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stats {
    pub median: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PoseErrors {
    /// Images in the ground truth, and those of them the estimate has.
    pub ground_truth_images: usize,
    pub compared_images: usize,
    pub pairs: usize,
    /// Degrees, the models' own camera frames.
    pub rre_deg: Stats,
    pub rte_deg: Stats,
    /// Degrees, each camera turned to look through the middle of its photo
    /// (`CameraPose::middle_frame_rotation`).
    pub rre_middle_deg: Stats,
    pub rte_middle_deg: Stats,
    /// Percent of the spread.
    pub center_error_pct: Stats,
    /// Percent of the true focal.
    pub focal_error_pct: Stats,
    /// Scale of the similarity from the estimate to the ground truth.
    pub scale: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return Stats {
            median: f64::NAN,
            max: f64::NAN,
        };
    }
    Stats {
        median: v[v.len() / 2],
        max: v[v.len() - 1],
    }
}

fn angle_deg(c: f64) -> f64 {
    c.clamp(-1.0, 1.0).acos().to_degrees()
}

/// s, R, t minimising Σ|s·R·a + t − b|² (Umeyama 1991).
pub fn similarity(
    a: &[Vector3<f64>],
    b: &[Vector3<f64>],
) -> Option<(f64, Matrix3<f64>, Vector3<f64>)> {
    let n = a.len() as f64;
    if a.len() < 3 {
        return None;
    }
    let (ma, mb) = (
        a.iter().sum::<Vector3<f64>>() / n,
        b.iter().sum::<Vector3<f64>>() / n,
    );
    let var_a = a.iter().map(|x| (x - ma).norm_squared()).sum::<f64>() / n;
    let mut cov = Matrix3::zeros();
    for (x, y) in a.iter().zip(b) {
        cov += (y - mb) * (x - ma).transpose() / n;
    }
    let svd = crate::linalg::svd(cov, true, true)?;
    let (u, vt) = (svd.u?, svd.v_t?);
    let mut d = Matrix3::identity();
    if (u * vt).determinant() < 0.0 {
        d[(2, 2)] = -1.0;
    }
    let r = u * d * vt;
    let s = (svd.singular_values.component_mul(&d.diagonal())).sum() / var_a;
    Some((s, r, mb - s * r * ma))
}

/// Relative rotation and translation-direction errors (degrees) over every pair of matched
/// cameras (estimate, truth), with each camera's world → camera rotation given by `frame`.
fn relative_errors(
    matched: &[(&CameraPose, &CameraPose)],
    frame: impl Fn(&CameraPose) -> Matrix3<f64>,
) -> (Vec<f64>, Vec<f64>) {
    let rotations: Vec<(Matrix3<f64>, Matrix3<f64>)> =
        matched.iter().map(|(e, t)| (frame(e), frame(t))).collect();
    let (mut rre, mut rte) = (Vec::new(), Vec::new());
    for (i, ((ei, ti), (rei, rti))) in matched.iter().zip(&rotations).enumerate() {
        for ((ej, tj), (rej, rtj)) in matched.iter().zip(&rotations).skip(i + 1) {
            let re = rej * rei.transpose();
            let rt = rtj * rti.transpose();
            rre.push(angle_deg(((re.transpose() * rt).trace() - 1.0) / 2.0));
            let de = (rej * (ei.center - ej.center)).normalize();
            let dt = (rtj * (ti.center - tj.center)).normalize();
            rte.push(angle_deg(de.dot(&dt)));
        }
    }
    (rre, rte)
}

/// Compares an estimate with the ground truth, by image name.
pub fn compare(estimate: &[CameraPose], truth: &[CameraPose]) -> Option<PoseErrors> {
    let matched: Vec<(&CameraPose, &CameraPose)> = truth
        .iter()
        .filter_map(|t| estimate.iter().find(|e| e.name == t.name).map(|e| (e, t)))
        .collect();
    let own = |c: &CameraPose| c.rotation;
    let (rre, rte) = relative_errors(&matched, own);
    let (rre_middle, rte_middle) = relative_errors(&matched, CameraPose::middle_frame_rotation);
    let a: Vec<Vector3<f64>> = matched.iter().map(|(e, _)| e.center).collect();
    let b: Vec<Vector3<f64>> = matched.iter().map(|(_, t)| t.center).collect();
    let (s, r, t) = similarity(&a, &b)?;
    let mut spread: f64 = 0.0;
    for x in &b {
        for y in &b {
            spread = spread.max((x - y).norm());
        }
    }
    let centers = a
        .iter()
        .zip(&b)
        .map(|(x, y)| 100.0 * (s * r * x + t - y).norm() / spread)
        .collect();
    let focal = matched
        .iter()
        .map(|(e, t)| 100.0 * (e.focal - t.focal).abs() / t.focal)
        .collect();
    Some(PoseErrors {
        ground_truth_images: truth.len(),
        compared_images: matched.len(),
        pairs: rre.len(),
        rre_deg: stats(rre),
        rte_deg: stats(rte),
        rre_middle_deg: stats(rre_middle),
        rte_middle_deg: stats(rte_middle),
        center_error_pct: stats(centers),
        focal_error_pct: stats(focal),
        scale: s,
    })
}

/// Renames ground-truth images to the estimate's names where they differ only by leading
/// folders (`train/r_0.png` in a `transforms_train.json` against `r_0.png` from the photo
/// folder, or the other way round): a truth image not named in the estimate takes the name of
/// the one estimate image whose path is a suffix of its own (or the reverse) on a `/` boundary,
/// when no other truth image claims the same one. Returns how many were renamed.
pub fn match_names_by_suffix(estimate: &[CameraPose], truth: &mut [CameraPose]) -> usize {
    use std::collections::{HashMap, HashSet};
    let taken: HashSet<&str> = truth.iter().map(|t| t.name.as_str()).collect();
    let free: Vec<&str> = estimate
        .iter()
        .map(|e| e.name.as_str())
        .filter(|n| !taken.contains(n))
        .collect();
    let is_suffix = |long: &str, short: &str| {
        long.len() > short.len()
            && long.ends_with(short)
            && long.as_bytes()[long.len() - short.len() - 1] == b'/'
    };
    let pick = |t: &str| -> Option<String> {
        let mut hits = free.iter().filter(|e| is_suffix(t, e) || is_suffix(e, t));
        let first = hits.next()?;
        hits.next().is_none().then(|| first.to_string())
    };
    let picks: Vec<Option<String>> = truth
        .iter()
        .map(|t| {
            if estimate.iter().any(|e| e.name == t.name) {
                None
            } else {
                pick(&t.name)
            }
        })
        .collect();
    let mut claims: HashMap<&str, usize> = HashMap::new();
    for p in picks.iter().flatten() {
        *claims.entry(p.as_str()).or_default() += 1;
    }
    let mut renamed = 0;
    for (t, p) in truth.iter_mut().zip(&picks) {
        if let Some(p) = p.as_deref().filter(|p| claims[p] == 1) {
            t.name = p.to_string();
            renamed += 1;
        }
    }
    renamed
}

/// The cameras of a COLMAP reconstruction.
pub fn from_reconstruction(rec: &splat_scene::Reconstruction) -> Vec<CameraPose> {
    rec.images
        .values()
        .map(|im| {
            let camera = rec.cameras.get(&im.camera_id);
            let focal = camera.map_or(f64::NAN, |c| {
                let (fx, fy) = c.focal();
                0.5 * (fx + fy)
            });
            let middle_ray = camera.map_or(Vector3::z(), |c| {
                let middle = Vector2::new(c.width as f64 / 2.0, c.height as f64 / 2.0);
                c.unproject(&middle).push(1.0).normalize()
            });
            CameraPose {
                name: im.name.clone(),
                rotation: im.rotation(),
                center: im.center(),
                focal,
                middle_ray,
            }
        })
        .collect()
}

/// The ray through the middle of a Strecha camera's photo, from K (numbers 1-9, row by row)
/// and the size (numbers 25-26; +z when the file leaves the size out).
fn strecha_middle_ray(v: &[f64]) -> Vector3<f64> {
    let (Some(&w), Some(&h)) = (v.get(24), v.get(25)) else {
        return Vector3::z();
    };
    let k = Matrix3::from_row_slice(&v[0..9]);
    k.try_inverse()
        .map(|inv| (inv * Vector3::new(w / 2.0, h / 2.0, 1.0)).normalize())
        .filter(|r| r.iter().all(|x| x.is_finite()) && r.z > 0.0)
        .unwrap_or_else(Vector3::z)
}

/// A folder of Strecha `.camera` files (`<image name>.camera`: K, a zero row, R camera → world,
/// the centre, the size).
pub fn read_strecha(dir: &Path) -> Result<Vec<CameraPose>, SfmError> {
    let bad = |path: &Path, message: String| SfmError::BadCameraFile {
        path: path.to_path_buf(),
        message,
    };
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|source| SfmError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "camera"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| SfmError::Io {
            path: path.clone(),
            source,
        })?;
        let v: Vec<f64> = text
            .split_whitespace()
            .map(str::parse::<f64>)
            .collect::<Result<_, _>>()
            .map_err(|e| bad(&path, e.to_string()))?;
        if v.len() < 24 {
            return Err(bad(
                &path,
                format!("{} numbers, a camera file has 26", v.len()),
            ));
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(bad(&path, format!("number {} is {}", i + 1, v[i])));
        }
        if v[0] <= 0.0 || v[4] <= 0.0 {
            return Err(bad(
                &path,
                format!("focal lengths {} and {} are not positive", v[0], v[4]),
            ));
        }
        let r_c2w = Matrix3::from_row_slice(&v[12..21]);
        let off = (r_c2w.transpose() * r_c2w - Matrix3::identity()).amax();
        if off > 1e-3 || r_c2w.determinant() < 0.0 {
            return Err(bad(
                &path,
                format!(
                    "numbers 13-21 are not a rotation (RᵀR is {off:.2e} from the identity, det {:.3})",
                    r_c2w.determinant()
                ),
            ));
        }
        let rotation = *crate::linalg::nearest_rotation(&r_c2w.transpose())
            .ok_or_else(|| bad(&path, "the rotation is not finite".to_string()))?
            .matrix();
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        out.push(CameraPose {
            name,
            rotation,
            center: Vector3::new(v[21], v[22], v[23]),
            focal: 0.5 * (v[0] + v[4]),
            middle_ray: strecha_middle_ray(&v),
        });
    }
    if out.is_empty() {
        return Err(bad(dir, "no .camera files".to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Rotation3;

    /// Cameras on a circle looking at the origin, their principal points at the photos' middle.
    fn ring() -> Vec<CameraPose> {
        (0..8)
            .map(|i| {
                let a = f64::from(i) * 0.4;
                let center = Vector3::new(5.0 * a.cos(), 0.3 * f64::from(i), 5.0 * a.sin());
                let look = Rotation3::face_towards(&-center, &Vector3::y());
                CameraPose {
                    name: format!("{i}.jpg"),
                    rotation: look.inverse().into_inner(),
                    center,
                    focal: 600.0,
                    middle_ray: Vector3::z(),
                }
            })
            .collect()
    }

    #[test]
    fn a_principal_point_off_the_middle_differs_only_in_the_models_own_frames() {
        let truth = ring();
        // The same photos, modelled with the principal point 7 px below the middle and the
        // cameras tilted so that the middle pixel's ray stays where it was.
        let middle_ray = Vector3::new(0.0, -7.0 / 600.0, 1.0).normalize();
        let tilt = UnitQuaternion::rotation_between(&Vector3::z(), &middle_ray).unwrap();
        let estimate: Vec<CameraPose> = truth
            .iter()
            .map(|t| CameraPose {
                rotation: tilt.to_rotation_matrix().matrix() * t.rotation,
                middle_ray,
                ..t.clone()
            })
            .collect();
        let e = compare(&estimate, &truth).unwrap();
        assert!(e.rre_deg.median > 0.05, "{e:?}");
        assert!(e.rre_middle_deg.max < 1e-5, "{e:?}");
        assert!(e.rte_middle_deg.max < 1e-5, "{e:?}");
        // A real rotation error shows in both (acos near 1 leaves ~1e-6° of round-off above).
        let mut wrong = estimate.clone();
        wrong[3].rotation =
            Rotation3::from_euler_angles(0.0, 0.01, 0.0).matrix() * wrong[3].rotation;
        let e = compare(&wrong, &truth).unwrap();
        assert!(e.rre_middle_deg.max > 0.5, "{e:?}");
    }

    #[test]
    fn a_strecha_camera_looks_through_the_middle_of_its_photo() {
        // fx, s, cx / 0, fy, cy / 0 0 1, a zero row, R, C, then the size.
        let mut v = vec![
            1000.0, 0.0, 1530.0, 0.0, 1000.0, 1014.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0,
        ];
        v.extend([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
        v.extend([3072.0, 2048.0]);
        let ray = strecha_middle_ray(&v);
        let expected = Vector3::new(6.0, 10.0, 1000.0).normalize();
        assert!((ray - expected).norm() < 1e-12, "{ray:?}");
        assert_eq!(strecha_middle_ray(&v[..24]), Vector3::z());
    }

    #[test]
    fn truth_names_with_a_leading_folder_match_the_photo_folders_names() {
        let named = |names: &[&str]| -> Vec<CameraPose> {
            ring()
                .into_iter()
                .zip(names)
                .map(|(c, n)| CameraPose {
                    name: n.to_string(),
                    ..c
                })
                .collect()
        };
        let estimate = named(&["r_0.png", "r_1.png", "r_2.png", "b/r_3.png", "x.png"]);
        // train/r_2.png and val/r_2.png both end in r_2.png: neither is renamed; the estimate's
        // longer b/r_3.png matches the truth's r_3.png; x.png is named as it is.
        let mut truth = named(&[
            "train/r_0.png",
            "train/r_1.png",
            "train/r_2.png",
            "val/r_2.png",
            "r_3.png",
            "x.png",
            "trainr_1.png",
        ]);
        assert_eq!(match_names_by_suffix(&estimate, &mut truth), 3);
        let names: Vec<&str> = truth.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "r_0.png",
                "r_1.png",
                "train/r_2.png",
                "val/r_2.png",
                "b/r_3.png",
                "x.png",
                "trainr_1.png"
            ]
        );
    }
}

//! Camera poses against a ground truth: relative rotation errors (RRE) and relative
//! translation-direction errors (RTE) over every pair of images both have, camera centres after
//! a 7-DoF similarity alignment (Umeyama), as a share of the cameras' spread (the largest
//! distance between two true centres), and the focal length error.

use crate::SfmError;
use nalgebra::{Matrix3, Vector3};
use std::path::Path;

/// One camera as evaluated: world → camera rotation, centre, focal (pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct CameraPose {
    pub name: String,
    pub rotation: Matrix3<f64>,
    pub center: Vector3<f64>,
    pub focal: f64,
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
    /// Degrees.
    pub rre_deg: Stats,
    pub rte_deg: Stats,
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

/// Compares an estimate with the ground truth, by image name.
pub fn compare(estimate: &[CameraPose], truth: &[CameraPose]) -> Option<PoseErrors> {
    let matched: Vec<(&CameraPose, &CameraPose)> = truth
        .iter()
        .filter_map(|t| estimate.iter().find(|e| e.name == t.name).map(|e| (e, t)))
        .collect();
    let (mut rre, mut rte) = (Vec::new(), Vec::new());
    for (i, (ei, ti)) in matched.iter().enumerate() {
        for (ej, tj) in matched.iter().skip(i + 1) {
            let re = ej.rotation * ei.rotation.transpose();
            let rt = tj.rotation * ti.rotation.transpose();
            rre.push(angle_deg(((re.transpose() * rt).trace() - 1.0) / 2.0));
            let de = (ej.rotation * (ei.center - ej.center)).normalize();
            let dt = (tj.rotation * (ti.center - tj.center)).normalize();
            rte.push(angle_deg(de.dot(&dt)));
        }
    }
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
        center_error_pct: stats(centers),
        focal_error_pct: stats(focal),
        scale: s,
    })
}

/// The cameras of a COLMAP reconstruction.
pub fn from_reconstruction(rec: &splat_scene::Reconstruction) -> Vec<CameraPose> {
    rec.images
        .values()
        .map(|im| {
            let focal = rec.cameras.get(&im.camera_id).map_or(f64::NAN, |c| {
                let (fx, fy) = c.focal();
                0.5 * (fx + fy)
            });
            CameraPose {
                name: im.name.clone(),
                rotation: im.rotation(),
                center: im.center(),
                focal,
            }
        })
        .collect()
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
        });
    }
    if out.is_empty() {
        return Err(bad(dir, "no .camera files".to_string()));
    }
    Ok(out)
}

//! Multi-view triangulation: the linear (DLT) point from every view, then checks that keep it
//! only where it is in front of the cameras, reprojects within the threshold in at least two
//! views, and is seen under a large enough angle.

use nalgebra::{Matrix3, Matrix4, Vector3};

/// A view of a point: the camera's pose (x_cam = R·X + t), centre, and the unit bearing.
#[derive(Debug, Clone, Copy)]
pub struct Ray {
    pub rotation: Matrix3<f64>,
    pub translation: Vector3<f64>,
    pub center: Vector3<f64>,
    pub bearing: Vector3<f64>,
}

/// The DLT point of two or more rays (normalised coordinates from the bearings).
pub fn dlt(rays: &[Ray]) -> Option<Vector3<f64>> {
    let mut ata = Matrix4::zeros();
    for r in rays {
        let (u, v) = (r.bearing.x / r.bearing.z, r.bearing.y / r.bearing.z);
        let row = |i: usize| {
            nalgebra::RowVector4::new(
                r.rotation[(i, 0)],
                r.rotation[(i, 1)],
                r.rotation[(i, 2)],
                r.translation[i],
            )
        };
        for eq in [row(2) * u - row(0), row(2) * v - row(1)] {
            ata += eq.transpose() * eq;
        }
    }
    let eig = crate::linalg::symmetric_eigen(ata)?;
    let (i, _) = eig.eigenvalues.argmin();
    let x = eig.eigenvectors.column(i);
    (x[3].abs() > 1e-12).then(|| Vector3::new(x[0] / x[3], x[1] / x[3], x[2] / x[3]))
}

/// The largest angle (radians) between the rays from the point to the camera centres.
pub fn max_angle(x: &Vector3<f64>, rays: &[Ray]) -> f64 {
    let dirs: Vec<Vector3<f64>> = rays.iter().map(|r| (r.center - x).normalize()).collect();
    let mut best: f64 = 0.0;
    for i in 0..dirs.len() {
        for j in i + 1..dirs.len() {
            best = best.max(dirs[i].dot(&dirs[j]).clamp(-1.0, 1.0).acos());
        }
    }
    best
}

/// Angle (radians) between a ray's bearing and the direction to `x` seen from its camera, or
/// `None` when `x` is behind it.
pub fn angular_error(x: &Vector3<f64>, r: &Ray) -> Option<f64> {
    let xc = r.rotation * x + r.translation;
    (xc.z > 0.0).then(|| xc.normalize().dot(&r.bearing).clamp(-1.0, 1.0).acos())
}

//! COLMAP's camera models (ids 0–10, parameters in COLMAP's order) with projection from camera
//! coordinates to pixels, lifting of pixels to normalized rays, and iterative undistortion.
//!
//! Conventions: camera looks down +z, x right, y down; pixel (0.5, 0.5) is the centre of the
//! top-left pixel; `x = fx·u' + cx` where `(u', v')` are the distorted normalized coordinates.

use nalgebra::{Vector2, Vector3};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CameraModel {
    SimplePinhole,
    Pinhole,
    SimpleRadial,
    Radial,
    OpenCv,
    OpenCvFisheye,
    FullOpenCv,
    Fov,
    SimpleRadialFisheye,
    RadialFisheye,
    ThinPrismFisheye,
}

impl CameraModel {
    pub const ALL: [CameraModel; 11] = [
        Self::SimplePinhole,
        Self::Pinhole,
        Self::SimpleRadial,
        Self::Radial,
        Self::OpenCv,
        Self::OpenCvFisheye,
        Self::FullOpenCv,
        Self::Fov,
        Self::SimpleRadialFisheye,
        Self::RadialFisheye,
        Self::ThinPrismFisheye,
    ];

    /// COLMAP's numeric id.
    pub fn id(self) -> i32 {
        self as i32
    }

    pub fn from_id(id: i32) -> Option<Self> {
        usize::try_from(id)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// COLMAP's name, as in `cameras.txt`.
    pub fn name(self) -> &'static str {
        match self {
            Self::SimplePinhole => "SIMPLE_PINHOLE",
            Self::Pinhole => "PINHOLE",
            Self::SimpleRadial => "SIMPLE_RADIAL",
            Self::Radial => "RADIAL",
            Self::OpenCv => "OPENCV",
            Self::OpenCvFisheye => "OPENCV_FISHEYE",
            Self::FullOpenCv => "FULL_OPENCV",
            Self::Fov => "FOV",
            Self::SimpleRadialFisheye => "SIMPLE_RADIAL_FISHEYE",
            Self::RadialFisheye => "RADIAL_FISHEYE",
            Self::ThinPrismFisheye => "THIN_PRISM_FISHEYE",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// Number of parameters COLMAP stores for this model.
    pub fn num_params(self) -> usize {
        match self {
            Self::SimplePinhole => 3,
            Self::Pinhole => 4,
            Self::SimpleRadial => 4,
            Self::Radial => 5,
            Self::OpenCv => 8,
            Self::OpenCvFisheye => 8,
            Self::FullOpenCv => 12,
            Self::Fov => 5,
            Self::SimpleRadialFisheye => 4,
            Self::RadialFisheye => 5,
            Self::ThinPrismFisheye => 12,
        }
    }

    /// Models with one focal length (f, cx, cy, …); the rest store fx, fy, cx, cy, ….
    pub fn single_focal(self) -> bool {
        matches!(
            self,
            Self::SimplePinhole
                | Self::SimpleRadial
                | Self::Radial
                | Self::SimpleRadialFisheye
                | Self::RadialFisheye
        )
    }

    /// Whether the model has no distortion.
    pub fn is_pinhole(self) -> bool {
        matches!(self, Self::SimplePinhole | Self::Pinhole)
    }
}

impl fmt::Display for CameraModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One camera: model, image size in pixels and parameters in COLMAP's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    pub id: u32,
    pub model: CameraModel,
    pub width: u64,
    pub height: u64,
    pub params: Vec<f64>,
}

impl Camera {
    /// A PINHOLE camera.
    pub fn pinhole(id: u32, width: u64, height: u64, fx: f64, fy: f64, cx: f64, cy: f64) -> Self {
        Self {
            id,
            model: CameraModel::Pinhole,
            width,
            height,
            params: vec![fx, fy, cx, cy],
        }
    }

    /// (fx, fy).
    pub fn focal(&self) -> (f64, f64) {
        if self.model.single_focal() || self.model == CameraModel::SimplePinhole {
            (self.params[0], self.params[0])
        } else {
            (self.params[0], self.params[1])
        }
    }

    /// (cx, cy).
    pub fn principal_point(&self) -> (f64, f64) {
        if self.model.single_focal() || self.model == CameraModel::SimplePinhole {
            (self.params[1], self.params[2])
        } else {
            (self.params[2], self.params[3])
        }
    }

    /// The distortion parameters after focal length and principal point.
    pub fn extra_params(&self) -> &[f64] {
        let skip = if self.model.single_focal() || self.model == CameraModel::SimplePinhole {
            3
        } else {
            4
        };
        &self.params[skip..]
    }

    /// Pixel of a point in camera coordinates; `None` behind the camera (z ≤ 0).
    pub fn project(&self, p: &Vector3<f64>) -> Option<Vector2<f64>> {
        if p.z <= 0.0 {
            return None;
        }
        let (u, v) = self.distort(p.x / p.z, p.y / p.z);
        let (fx, fy) = self.focal();
        let (cx, cy) = self.principal_point();
        Some(Vector2::new(fx * u + cx, fy * v + cy))
    }

    /// Normalized undistorted coordinates (u, v) of a pixel: the ray is (u, v, 1).
    pub fn unproject(&self, xy: &Vector2<f64>) -> Vector2<f64> {
        let (fx, fy) = self.focal();
        let (cx, cy) = self.principal_point();
        let (u, v) = self.undistort((xy.x - cx) / fx, (xy.y - cy) / fy);
        Vector2::new(u, v)
    }

    /// Maps undistorted normalized coordinates to distorted normalized coordinates.
    pub fn distort(&self, u: f64, v: f64) -> (f64, f64) {
        distort(self.model, self.extra_params(), u, v)
    }

    /// Inverse of `distort`: closed form where one exists, Newton iterations otherwise.
    pub fn undistort(&self, ud: f64, vd: f64) -> (f64, f64) {
        let e = self.extra_params();
        match self.model {
            CameraModel::SimplePinhole | CameraModel::Pinhole => (ud, vd),
            CameraModel::Fov => fov_undistort(e[0], ud, vd),
            CameraModel::ThinPrismFisheye => {
                // Invert the polynomial on the equidistant plane, then the equidistant mapping.
                let (a, b) = newton_invert(|x, y| thin_prism_poly(e, x, y), ud, vd);
                let theta = (a * a + b * b).sqrt();
                if theta > f64::EPSILON && theta < std::f64::consts::FRAC_PI_2 {
                    let s = theta.tan() / theta;
                    (a * s, b * s)
                } else {
                    (a, b)
                }
            }
            m => newton_invert(|x, y| distort(m, e, x, y), ud, vd),
        }
    }
}

fn radial_poly(u: f64, v: f64, k: &[f64]) -> (f64, f64) {
    let r2 = u * u + v * v;
    let mut radial = 0.0;
    let mut rp = r2;
    for &ki in k {
        radial += ki * rp;
        rp *= r2;
    }
    (u + u * radial, v + v * radial)
}

/// Equidistant fisheye: scales (u, v) so its length becomes θ·(1 + k1θ² + k2θ⁴ + …), θ = atan r.
fn fisheye(u: f64, v: f64, k: &[f64]) -> (f64, f64) {
    let r = (u * u + v * v).sqrt();
    if r <= f64::EPSILON {
        return (u, v);
    }
    let theta = r.atan();
    let t2 = theta * theta;
    let mut poly = 1.0;
    let mut tp = t2;
    for &ki in k {
        poly += ki * tp;
        tp *= t2;
    }
    let s = theta * poly / r;
    (u * s, v * s)
}

fn opencv_tangential(u: f64, v: f64, radial: f64, p1: f64, p2: f64) -> (f64, f64) {
    let (u2, v2, uv) = (u * u, v * v, u * v);
    let r2 = u2 + v2;
    (
        u * radial + 2.0 * p1 * uv + p2 * (r2 + 2.0 * u2),
        v * radial + 2.0 * p2 * uv + p1 * (r2 + 2.0 * v2),
    )
}

fn thin_prism_poly(e: &[f64], u: f64, v: f64) -> (f64, f64) {
    let (k1, k2, p1, p2, k3, k4, sx1, sy1) = (e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]);
    let r2 = u * u + v * v;
    let radial = k1 * r2 + k2 * r2 * r2 + k3 * r2.powi(3) + k4 * r2.powi(4);
    let (du, dv) = opencv_tangential(u, v, radial, p1, p2);
    (u + du + sx1 * r2, v + dv + sy1 * r2)
}

fn fov_factor_distort(omega: f64, r2: f64) -> f64 {
    let w2 = omega * omega;
    if w2 < 1e-4 {
        w2 * r2 / 3.0 - w2 / 12.0 + 1.0
    } else if r2 < 1e-4 {
        let t = (omega / 2.0).tan();
        -2.0 * t * (4.0 * r2 * t * t - 3.0) / (3.0 * omega)
    } else {
        let r = r2.sqrt();
        (r * 2.0 * (omega / 2.0).tan()).atan() / (r * omega)
    }
}

fn fov_undistort(omega: f64, u: f64, v: f64) -> (f64, f64) {
    let r2 = u * u + v * v;
    let w2 = omega * omega;
    let f = if w2 < 1e-4 {
        w2 * r2 / 3.0 - w2 / 12.0 + 1.0
    } else if r2 < 1e-4 {
        omega * (w2 * r2 + 3.0) / (6.0 * (omega / 2.0).tan())
    } else {
        let r = r2.sqrt();
        (r * omega).tan() / (r * 2.0 * (omega / 2.0).tan())
    };
    (u * f, v * f)
}

/// Undistorted → distorted normalized coordinates for `model` with distortion parameters `e`.
pub fn distort(model: CameraModel, e: &[f64], u: f64, v: f64) -> (f64, f64) {
    match model {
        CameraModel::SimplePinhole | CameraModel::Pinhole => (u, v),
        CameraModel::SimpleRadial => radial_poly(u, v, &e[..1]),
        CameraModel::Radial => radial_poly(u, v, &e[..2]),
        CameraModel::OpenCv => {
            let r2 = u * u + v * v;
            let radial = e[0] * r2 + e[1] * r2 * r2;
            let (du, dv) = opencv_tangential(u, v, radial, e[2], e[3]);
            (u + du, v + dv)
        }
        CameraModel::OpenCvFisheye => fisheye(u, v, &e[..4]),
        CameraModel::FullOpenCv => {
            let r2 = u * u + v * v;
            let (r4, r6) = (r2 * r2, r2 * r2 * r2);
            let radial = (1.0 + e[0] * r2 + e[1] * r4 + e[4] * r6)
                / (1.0 + e[5] * r2 + e[6] * r4 + e[7] * r6);
            opencv_tangential(u, v, radial, e[2], e[3])
        }
        CameraModel::Fov => {
            let f = fov_factor_distort(e[0], u * u + v * v);
            (u * f, v * f)
        }
        CameraModel::SimpleRadialFisheye => fisheye(u, v, &e[..1]),
        CameraModel::RadialFisheye => fisheye(u, v, &e[..2]),
        CameraModel::ThinPrismFisheye => {
            let (a, b) = fisheye(u, v, &[]);
            thin_prism_poly(e, a, b)
        }
    }
}

/// Solves `f(x, y) = (tx, ty)` by Newton's method with a central-difference Jacobian, starting
/// at the target (distortion is a small perturbation of the identity for every model).
fn newton_invert(f: impl Fn(f64, f64) -> (f64, f64), tx: f64, ty: f64) -> (f64, f64) {
    let (mut x, mut y) = (tx, ty);
    for _ in 0..100 {
        let (fx, fy) = f(x, y);
        let (rx, ry) = (fx - tx, fy - ty);
        if rx.abs() < 1e-15 && ry.abs() < 1e-15 {
            break;
        }
        let h = 1e-7 * (1.0 + x.abs().max(y.abs()));
        let (ax, ay) = f(x + h, y);
        let (bx, by) = f(x - h, y);
        let (cx, cy) = f(x, y + h);
        let (dx, dy) = f(x, y - h);
        let (j00, j10) = ((ax - bx) / (2.0 * h), (ay - by) / (2.0 * h));
        let (j01, j11) = ((cx - dx) / (2.0 * h), (cy - dy) / (2.0 * h));
        let det = j00 * j11 - j01 * j10;
        if det.abs() < 1e-300 || !det.is_finite() {
            break;
        }
        let sx = (j11 * rx - j01 * ry) / det;
        let sy = (-j10 * rx + j00 * ry) / det;
        x -= sx;
        y -= sy;
        if sx.abs() < 1e-14 && sy.abs() < 1e-14 {
            break;
        }
    }
    (x, y)
}

/// Sample cameras for tests across the crate.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// One camera of every model with moderate distortion.
    pub(crate) fn sample_cameras() -> Vec<Camera> {
        CameraModel::ALL
            .iter()
            .enumerate()
            .map(|(i, &model)| {
                let mut params = if model.single_focal() || model == CameraModel::SimplePinhole {
                    vec![500.0, 320.0, 240.0]
                } else {
                    vec![500.0, 520.0, 321.0, 239.0]
                };
                let extra: &[f64] = match model {
                    CameraModel::SimplePinhole | CameraModel::Pinhole => &[],
                    CameraModel::SimpleRadial => &[-0.08],
                    CameraModel::Radial => &[-0.1, 0.02],
                    CameraModel::OpenCv => &[-0.1, 0.02, 0.001, -0.002],
                    CameraModel::OpenCvFisheye => &[0.05, -0.01, 0.002, -0.001],
                    CameraModel::FullOpenCv => {
                        &[-0.1, 0.02, 0.001, -0.002, 0.003, 0.01, 0.002, 0.001]
                    }
                    CameraModel::Fov => &[0.9],
                    CameraModel::SimpleRadialFisheye => &[0.04],
                    CameraModel::RadialFisheye => &[0.04, -0.01],
                    CameraModel::ThinPrismFisheye => {
                        &[0.05, -0.01, 0.001, -0.001, 0.002, -0.001, 0.001, -0.002]
                    }
                };
                params.extend_from_slice(extra);
                assert_eq!(params.len(), model.num_params());
                Camera {
                    id: i as u32 + 1,
                    model,
                    width: 640,
                    height: 480,
                    params,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::sample_cameras;
    use super::*;

    #[test]
    fn ids_names_and_param_counts_follow_colmap() {
        let names = [
            "SIMPLE_PINHOLE",
            "PINHOLE",
            "SIMPLE_RADIAL",
            "RADIAL",
            "OPENCV",
            "OPENCV_FISHEYE",
            "FULL_OPENCV",
            "FOV",
            "SIMPLE_RADIAL_FISHEYE",
            "RADIAL_FISHEYE",
            "THIN_PRISM_FISHEYE",
        ];
        let counts = [3, 4, 4, 5, 8, 8, 12, 5, 4, 5, 12];
        for (id, (name, count)) in names.iter().zip(counts).enumerate() {
            let m = CameraModel::from_id(id as i32).unwrap();
            assert_eq!(m.name(), *name);
            assert_eq!(m.num_params(), count);
            assert_eq!(CameraModel::from_name(name), Some(m));
        }
        assert_eq!(CameraModel::from_id(11), None);
        assert_eq!(CameraModel::from_id(-1), None);
    }

    #[test]
    fn project_then_unproject_returns_the_ray_for_every_model() {
        for cam in sample_cameras() {
            for &(x, y) in &[(0.0, 0.0), (0.3, -0.2), (-0.5, 0.35), (0.55, 0.4)] {
                let p = Vector3::new(x * 2.0, y * 2.0, 2.0);
                let px = cam.project(&p).unwrap();
                let uv = cam.unproject(&px);
                assert!(
                    (uv.x - x).abs() < 1e-9 && (uv.y - y).abs() < 1e-9,
                    "{}: ({x},{y}) -> {px:?} -> {uv:?}",
                    cam.model
                );
            }
        }
    }

    #[test]
    fn distortion_matches_hand_computed_values() {
        // SIMPLE_RADIAL: u' = u(1 + k r²).
        let c = Camera {
            id: 1,
            model: CameraModel::SimpleRadial,
            width: 10,
            height: 10,
            params: vec![100.0, 5.0, 5.0, 0.1],
        };
        let px = c.project(&Vector3::new(0.5, 0.0, 1.0)).unwrap();
        assert!((px.x - (5.0 + 100.0 * 0.5 * (1.0 + 0.1 * 0.25))).abs() < 1e-12);
        // OPENCV_FISHEYE with k = 0 is the equidistant projection: r' = atan(r).
        let c = Camera {
            id: 1,
            model: CameraModel::OpenCvFisheye,
            width: 10,
            height: 10,
            params: vec![100.0, 100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        };
        let px = c.project(&Vector3::new(1.0, 0.0, 1.0)).unwrap();
        assert!((px.x - 100.0 * std::f64::consts::FRAC_PI_4).abs() < 1e-12);
        // Behind the camera.
        assert!(c.project(&Vector3::new(0.0, 0.0, -1.0)).is_none());
    }
}

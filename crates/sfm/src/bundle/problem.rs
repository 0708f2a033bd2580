//! The bundle-adjustment problem and its settings: cameras, poses, observations, the robust
//! loss, solver options, and what a solve reports.

use nalgebra::{Matrix3, Vector2, Vector3};

/// A SIMPLE_RADIAL camera: focal, principal point, one radial coefficient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraParams {
    pub focal: f64,
    pub cx: f64,
    pub cy: f64,
    pub k: f64,
}

impl CameraParams {
    /// Pixel position of a point in camera coordinates (`None` behind the camera).
    pub fn project(&self, xc: &Vector3<f64>) -> Option<Vector2<f64>> {
        if xc.z <= 1e-12 {
            return None;
        }
        let (u, v) = (xc.x / xc.z, xc.y / xc.z);
        let d = 1.0 + self.k * (u * u + v * v);
        Some(Vector2::new(
            self.focal * d * u + self.cx,
            self.focal * d * v + self.cy,
        ))
    }
}

/// A world → camera pose (x_cam = R·x + t) of an image seen through camera `camera`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    pub rotation: Matrix3<f64>,
    pub translation: Vector3<f64>,
    pub camera: usize,
}

/// One measured keypoint of a point in an image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub pose: usize,
    pub point: usize,
    pub xy: Vector2<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Problem {
    pub cameras: Vec<CameraParams>,
    pub poses: Vec<Pose>,
    pub points: Vec<Vector3<f64>>,
    pub observations: Vec<Observation>,
}

/// How residuals are weighted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// Plain least squares.
    Squared,
    /// ρ(s) = c²·ln(1 + s/c²) for a squared residual s (pixels²), scale c pixels.
    Cauchy(f64),
    /// ρ(s) = 2c²·(√(1 + s/c²) − 1).
    SoftL1(f64),
}

impl Loss {
    pub(super) fn rho(&self, s: f64) -> f64 {
        match *self {
            Loss::Squared => s,
            Loss::Cauchy(c) => c * c * (1.0 + s / (c * c)).ln(),
            Loss::SoftL1(c) => 2.0 * c * c * ((1.0 + s / (c * c)).sqrt() - 1.0),
        }
    }

    /// ρ'(s): the weight of the residual in the reweighted normal equations.
    pub(super) fn weight(&self, s: f64) -> f64 {
        match *self {
            Loss::Squared => 1.0,
            Loss::Cauchy(c) => 1.0 / (1.0 + s / (c * c)),
            Loss::SoftL1(c) => 1.0 / (1.0 + s / (c * c)).sqrt(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub max_iterations: usize,
    pub loss: Loss,
    pub refine_focal: bool,
    pub refine_distortion: bool,
    /// Refine the principal point too (off by default: it is weakly constrained unless many
    /// images with many points share the camera).
    pub refine_principal_point: bool,
    /// Poses held fixed (besides the gauge).
    pub fixed_poses: Vec<usize>,
    /// Points held fixed.
    pub fixed_points: Vec<usize>,
    /// Fix the gauge: the first free pose is held, and the largest component of the second's
    /// translation relative to it. Off when `fixed_poses` already pins the frame.
    pub fix_gauge: bool,
    /// Stop when the cost improves by less than this fraction.
    pub function_tolerance: f64,
    /// Report the intrinsics' standard deviations at the solution (with the solve's own method).
    pub compute_covariance: bool,
    pub solver: Solver,
    /// Stop (keeping the last accepted step) when this passes; `Report::timed_out` says so.
    pub deadline: crate::watchdog::Deadline,
}

/// How the reduced camera system is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solver {
    /// Dense Cholesky up to `DENSE_LIMIT` camera-side parameters; past it the sparse Cholesky
    /// where the reduced system's factor is sparse enough to pay (`SPARSE_WORK_RATIO`), else
    /// dense up to `ITERATIVE_LIMIT` and conjugate gradients past that.
    Auto,
    /// Dense Schur complement and Cholesky (exact; memory and time grow as n² and n³).
    Dense,
    /// Sparse Schur complement (blocks of poses and cameras that share points), ordered by
    /// minimum degree and Cholesky-factored: exact, memory and time near linear in the images
    /// where each sees a bounded neighbourhood.
    Sparse,
    /// Matrix-free conjugate gradients on the Schur complement with a block-Jacobi preconditioner (a block per pose and per camera):
    /// the camera block kept per pose, memory linear in the problem.
    Iterative,
}

/// Camera-side parameters (6 per image, 4 per camera) up to which `Auto` stays dense: about 80
/// images. Five iterations on the rings of `benches/sfm.rs` (each point seen by 8 neighbouring
/// cameras; both cores): 50 images, dense 96 ms against sparse 113 ms; 200 images, dense
/// 1.38 s against sparse 0.55 s (conjugate gradients 4.06 s; dense 0.88 s once its Cholesky
/// was blocked); 600 images, sparse 1.72 s.
pub const DENSE_LIMIT: usize = 500;

/// How many times fewer multiply-adds the sparse factorization must take than the dense one
/// for `Auto` to choose it: its scalar, indexed inner loop costs more per multiply-add than the
/// dense one's. On the built-in orbits, where every camera shares points with every other, the
/// factor is 97–100 % full and the sparse solver took 2–4× the dense one's time in the mapper.
pub const SPARSE_WORK_RATIO: f64 = 4.0;

/// Camera-side parameters past which `Auto`, where the sparse factor would not pay, uses
/// conjugate gradients rather than the dense Cholesky (whose memory grows as n², time as n³):
/// about 500 images. With the blocked Cholesky, 6,000 was tried on the built-in 600-view orbit:
/// mapping took 246 CPU-s and 1.49 GB against 216 CPU-s and 0.99 GB at 3,000.
pub const ITERATIVE_LIMIT: usize = 3000;

impl Default for Options {
    fn default() -> Self {
        Self {
            max_iterations: 100,
            loss: Loss::Squared,
            refine_focal: true,
            refine_distortion: true,
            refine_principal_point: false,
            fixed_poses: Vec::new(),
            fixed_points: Vec::new(),
            fix_gauge: true,
            function_tolerance: 1e-9,
            compute_covariance: false,
            solver: Solver::Auto,
            deadline: crate::watchdog::Deadline::none(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Robust cost (½Σρ) after each accepted step, the start first.
    pub costs: Vec<f64>,
    pub iterations: usize,
    /// Root mean square reprojection error (pixels) at the start and the end.
    pub initial_rms: f64,
    pub final_rms: f64,
    /// With `compute_covariance`: per camera, the standard deviation of focal, k, cx and cy
    /// (pixels, except k), `None` where held fixed or not determined.
    pub camera_sigmas: Vec<[Option<f64>; 4]>,
    /// Stopped at `Options::deadline` before converging.
    pub timed_out: bool,
    /// The reduced-system solver that ran (`Auto` resolved).
    pub solver: Solver,
    /// Where the sparse structure was analysed (`Sparse`, or `Auto` past `DENSE_LIMIT`): the
    /// multiply-adds of its sparse and of a dense factorization.
    pub reduced_work: Option<ReducedWork>,
}

/// The factorization work of a reduced camera system, sparse (in its minimum-degree order)
/// against dense: how sparse the system is, in the unit that decides between the solvers.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ReducedWork {
    pub camera_parameters: usize,
    pub sparse_flops: f64,
    pub dense_flops: f64,
}

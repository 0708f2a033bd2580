//! Where each free parameter sits (`Layout`), each observation's residual and analytic
//! Jacobian, and the costs.

use super::problem::*;
use nalgebra::{Matrix2x3, Matrix3, SMatrix, Vector2};
use rayon::prelude::*;

/// Column of each free parameter on the camera side: 6 per pose (rotation vector, translation),
/// 4 per camera (focal, k, cx, cy).
pub(super) struct Layout {
    pub(super) pose: Vec<[Option<usize>; 6]>,
    pub(super) camera: Vec<[Option<usize>; 4]>,
    pub(super) size: usize,
    pub(super) point_free: Vec<bool>,
}

pub(super) fn layout(p: &Problem, opts: &Options) -> Layout {
    let mut size = 0;
    let mut next = |free: bool| {
        free.then(|| {
            size += 1;
            size - 1
        })
    };
    let mut pose_fixed: Vec<[bool; 6]> = (0..p.poses.len())
        .map(|i| [opts.fixed_poses.contains(&i); 6])
        .collect();
    if opts.fix_gauge {
        let free: Vec<usize> = (0..p.poses.len())
            .filter(|i| !opts.fixed_poses.contains(i))
            .collect();
        if let Some(&first) = free.first() {
            pose_fixed[first] = [true; 6];
            if let Some(&second) = free.get(1) {
                // Scaling the scene about the first camera's centre moves the second's
                // translation along its translation relative to the first: hold that vector's
                // largest component.
                let (a, b) = (&p.poses[first], &p.poses[second]);
                let rel = b.translation - b.rotation * a.rotation.transpose() * a.translation;
                let (axis, _) = rel.abs().argmax();
                pose_fixed[second][3 + axis] = true;
            }
        }
    }
    let pose = pose_fixed
        .iter()
        .map(|f| f.map(|fixed| next(!fixed)))
        .collect();
    let pp = opts.refine_principal_point;
    let camera = (0..p.cameras.len())
        .map(|_| {
            [
                next(opts.refine_focal),
                next(opts.refine_distortion),
                next(pp),
                next(pp),
            ]
        })
        .collect();
    let point_free = (0..p.points.len())
        .map(|i| !opts.fixed_points.contains(&i))
        .collect();
    Layout {
        pose,
        camera,
        size,
        point_free,
    }
}

/// The camera-side columns grouped per pose and per camera, a group's columns consecutive: the
/// unit of the reduced camera system's blocks.
pub(super) struct Groups {
    /// First column of each group, then one past the last column.
    bounds: Vec<usize>,
    /// Group of each column.
    pub(super) group_of: Vec<usize>,
    /// Group of each pose and of each camera (`None` where all its parameters are held).
    pub(super) pose: Vec<Option<usize>>,
    pub(super) camera: Vec<Option<usize>>,
}

impl Groups {
    pub(super) fn new(l: &Layout) -> Self {
        let mut bounds = Vec::new();
        let mut group_of = vec![0; l.size];
        let mut add = |cols: &[Option<usize>]| {
            let cols: Vec<usize> = cols.iter().flatten().copied().collect();
            let first = *cols.first()?;
            debug_assert!(
                cols.windows(2).all(|w| w[1] == w[0] + 1),
                "a group's columns are consecutive"
            );
            for &c in &cols {
                group_of[c] = bounds.len();
            }
            bounds.push(first);
            Some(bounds.len() - 1)
        };
        let pose = l.pose.iter().map(|p| add(p)).collect();
        let camera = l.camera.iter().map(|c| add(c)).collect();
        bounds.push(l.size);
        Self {
            bounds,
            group_of,
            pose,
            camera,
        }
    }

    pub(super) fn count(&self) -> usize {
        self.bounds.len() - 1
    }

    /// The columns of group `g`.
    pub(super) fn cols(&self, g: usize) -> std::ops::Range<usize> {
        self.bounds[g]..self.bounds[g + 1]
    }

    pub(super) fn len(&self, g: usize) -> usize {
        self.bounds[g + 1] - self.bounds[g]
    }

    /// Where column `c` sits inside its group.
    pub(super) fn position(&self, c: usize) -> usize {
        c - self.bounds[self.group_of[c]]
    }
}

/// Residual and Jacobians of one observation: 2×10 on the camera side (pose 6, focal, k, cx,
/// cy) and 2×3 on the point.
pub(super) struct Linearised {
    pub(super) residual: Vector2<f64>,
    pub(super) jc: SMatrix<f64, 2, 10>,
    pub(super) jp: Matrix2x3<f64>,
}

pub(super) fn linearise(p: &Problem, o: &Observation) -> Option<Linearised> {
    let pose = &p.poses[o.pose];
    let cam = &p.cameras[pose.camera];
    let rx = pose.rotation * p.points[o.point];
    let xc = rx + pose.translation;
    if xc.z <= 1e-9 {
        return None;
    }
    let (iz, u, v) = (1.0 / xc.z, xc.x / xc.z, xc.y / xc.z);
    let r2 = u * u + v * v;
    let d = 1.0 + cam.k * r2;
    let residual = Vector2::new(
        cam.focal * d * u + cam.cx - o.xy.x,
        cam.focal * d * v + cam.cy - o.xy.y,
    );
    // d(pixel)/d(u, v), then d(u, v)/d(x_cam).
    let dpix = nalgebra::Matrix2::new(
        cam.focal * (d + 2.0 * cam.k * u * u),
        cam.focal * 2.0 * cam.k * u * v,
        cam.focal * 2.0 * cam.k * u * v,
        cam.focal * (d + 2.0 * cam.k * v * v),
    );
    let duv = Matrix2x3::new(iz, 0.0, -u * iz, 0.0, iz, -v * iz);
    let dxc = dpix * duv;
    // x_cam = exp([ω]ₓ)·R·X + t + δt: d/dω = −[R·X]ₓ, d/dδt = I.
    let skew = Matrix3::new(0.0, -rx.z, rx.y, rx.z, 0.0, -rx.x, -rx.y, rx.x, 0.0);
    let drot = dxc * (-skew);
    let mut jc = SMatrix::<f64, 2, 10>::zeros();
    jc.fixed_view_mut::<2, 3>(0, 0).copy_from(&drot);
    jc.fixed_view_mut::<2, 3>(0, 3).copy_from(&dxc);
    jc[(0, 6)] = d * u;
    jc[(1, 6)] = d * v;
    jc[(0, 7)] = cam.focal * r2 * u;
    jc[(1, 7)] = cam.focal * r2 * v;
    jc[(0, 8)] = 1.0;
    jc[(1, 9)] = 1.0;
    let jp = dxc * pose.rotation;
    Some(Linearised { residual, jc, jp })
}

/// Squared reprojection errors (pixels²); observations behind their camera count as `behind`.
pub(super) fn squared_errors(p: &Problem, behind: f64) -> Vec<f64> {
    p.observations
        .par_iter()
        .map(|o| {
            let pose = &p.poses[o.pose];
            let xc = pose.rotation * p.points[o.point] + pose.translation;
            p.cameras[pose.camera]
                .project(&xc)
                .map_or(behind, |x| (x - o.xy).norm_squared())
        })
        .collect()
}

pub(super) fn cost(p: &Problem, loss: Loss) -> f64 {
    0.5 * squared_errors(p, 1e6)
        .iter()
        .map(|&s| loss.rho(s))
        .sum::<f64>()
}

pub(super) fn rms(p: &Problem) -> f64 {
    let e = squared_errors(p, 1e6);
    (e.iter().sum::<f64>() / e.len().max(1) as f64).sqrt()
}

/// The camera-side columns of an observation (10 slots: pose 6, focal, k, cx, cy).
pub(super) fn slots(l: &Layout, p: &Problem, o: &Observation) -> [Option<usize>; 10] {
    let pi = l.pose[o.pose];
    let ci = l.camera[p.poses[o.pose].camera];
    [
        pi[0], pi[1], pi[2], pi[3], pi[4], pi[5], ci[0], ci[1], ci[2], ci[3],
    ]
}

pub(super) fn point_is_free(l: &Layout, by_point: &[Vec<usize>], j: usize) -> bool {
    l.point_free[j] && !by_point[j].is_empty()
}

/// The free points of chunk `c` with their inverted damped blocks.
pub(super) fn chunk_points<'a>(
    l: &'a Layout,
    by_point: &'a [Vec<usize>],
    v_inv: &'a [Matrix3<f64>],
    c: usize,
) -> impl Iterator<Item = (usize, &'a Matrix3<f64>)> + 'a {
    v_inv
        .iter()
        .enumerate()
        .skip(c * REDUCE_CHUNK)
        .take(REDUCE_CHUNK)
        .filter(move |(j, _)| point_is_free(l, by_point, *j))
}

/// Points per parallel chunk of the Schur complement (each chunk accumulates its own S).
pub(super) const REDUCE_CHUNK: usize = 2048;

//! Bundle adjustment: Levenberg–Marquardt over image poses, per-camera focal length and radial
//! distortion (SIMPLE_RADIAL, principal point fixed), and 3D points, with analytic Jacobians,
//! the Schur complement on the points (a dense reduced camera system, Cholesky-solved), an
//! optional robust loss, and the gauge fixed by holding one pose and one translation component
//! of a second.
//!
//! Written here rather than bound to Ceres: a Rust crate for sparse bundle adjustment with this
//! parameterisation does not exist, and the reduced system for the image counts splat targets
//! (hundreds) fits a dense Cholesky.

use nalgebra::{DMatrix, DVector, Matrix2x3, Matrix3, Rotation3, SMatrix, Vector2, Vector3};
use rayon::prelude::*;

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
    fn rho(&self, s: f64) -> f64 {
        match *self {
            Loss::Squared => s,
            Loss::Cauchy(c) => c * c * (1.0 + s / (c * c)).ln(),
            Loss::SoftL1(c) => 2.0 * c * c * ((1.0 + s / (c * c)).sqrt() - 1.0),
        }
    }

    /// ρ'(s): the weight of the residual in the reweighted normal equations.
    fn weight(&self, s: f64) -> f64 {
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
    /// Report the intrinsics' standard deviations at the solution.
    pub compute_covariance: bool,
}

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
}

/// Column of each free parameter on the camera side: 6 per pose (rotation vector, translation),
/// 4 per camera (focal, k, cx, cy).
struct Layout {
    pose: Vec<[Option<usize>; 6]>,
    camera: Vec<[Option<usize>; 4]>,
    size: usize,
    point_free: Vec<bool>,
}

fn layout(p: &Problem, opts: &Options) -> Layout {
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

/// Residual and Jacobians of one observation: 2×10 on the camera side (pose 6, focal, k, cx,
/// cy) and 2×3 on the point.
struct Linearised {
    residual: Vector2<f64>,
    jc: SMatrix<f64, 2, 10>,
    jp: Matrix2x3<f64>,
}

fn linearise(p: &Problem, o: &Observation) -> Option<Linearised> {
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
fn squared_errors(p: &Problem, behind: f64) -> Vec<f64> {
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

fn cost(p: &Problem, loss: Loss) -> f64 {
    0.5 * squared_errors(p, 1e6)
        .iter()
        .map(|&s| loss.rho(s))
        .sum::<f64>()
}

fn rms(p: &Problem) -> f64 {
    let e = squared_errors(p, 1e6);
    (e.iter().sum::<f64>() / e.len().max(1) as f64).sqrt()
}

/// The camera-side columns of an observation (10 slots: pose 6, focal, k, cx, cy).
fn slots(l: &Layout, p: &Problem, o: &Observation) -> [Option<usize>; 10] {
    let pi = l.pose[o.pose];
    let ci = l.camera[p.poses[o.pose].camera];
    [
        pi[0], pi[1], pi[2], pi[3], pi[4], pi[5], ci[0], ci[1], ci[2], ci[3],
    ]
}

/// Runs Levenberg–Marquardt from the problem's current values, which it updates.
pub fn solve(p: &mut Problem, opts: &Options) -> Report {
    let l = layout(p, opts);
    let mut by_point: Vec<Vec<usize>> = vec![Vec::new(); p.points.len()];
    for (k, o) in p.observations.iter().enumerate() {
        by_point[o.point].push(k);
    }
    let mut current = cost(p, opts.loss);
    let initial_rms = rms(p);
    let mut costs = vec![current];
    let mut lambda = 1e-4;
    let mut iterations = 0;
    for _ in 0..opts.max_iterations {
        iterations += 1;
        let lin: Vec<Option<Linearised>> =
            p.observations.par_iter().map(|o| linearise(p, o)).collect();
        let ne = normal_equations(p, &l, &lin, &by_point, opts.loss);
        let mut accepted = false;
        for _ in 0..12 {
            let Some((dc, dp)) = solve_damped(&l, &ne, &by_point, lambda) else {
                lambda *= 10.0;
                continue;
            };
            let mut trial = p.clone();
            apply(&mut trial, &l, &dc, &dp);
            let c = cost(&trial, opts.loss);
            if c.is_finite() && c < current {
                let improvement = (current - c) / current.max(f64::MIN_POSITIVE);
                *p = trial;
                current = c;
                costs.push(c);
                lambda = (lambda / 3.0).max(1e-12);
                accepted = improvement > opts.function_tolerance;
                break;
            }
            lambda *= 10.0;
        }
        if !accepted {
            break;
        }
    }
    let camera_sigmas = if opts.compute_covariance {
        camera_sigmas(p, &l, &by_point, opts.loss)
    } else {
        Vec::new()
    };
    Report {
        costs,
        iterations,
        initial_rms,
        final_rms: rms(p),
        camera_sigmas,
    }
}

/// JᵀWJ and JᵀW·r split into the camera block U, the point blocks V (3×3 each) and, per point,
/// the coupling W as (camera-side column, 3-vector) rows with one row per column.
struct Normal {
    u: DMatrix<f64>,
    g_c: DVector<f64>,
    v: Vec<Matrix3<f64>>,
    w: Vec<Vec<(usize, Vector3<f64>)>>,
    g_p: Vec<Vector3<f64>>,
}

/// One point's V block, gradient and merged coupling rows.
type PointBlock = (Matrix3<f64>, Vector3<f64>, Vec<(usize, Vector3<f64>)>);

fn normal_equations(
    p: &Problem,
    l: &Layout,
    lin: &[Option<Linearised>],
    by_point: &[Vec<usize>],
    loss: Loss,
) -> Normal {
    let n = l.size;
    // Chunks of points in parallel, each with its own U and g_c, added in chunk order.
    let chunks: Vec<(DMatrix<f64>, DVector<f64>, Vec<PointBlock>)> =
        (0..by_point.len().div_ceil(REDUCE_CHUNK))
            .into_par_iter()
            .map(|c| {
                let (mut u, mut g_c) = (DMatrix::<f64>::zeros(n, n), DVector::<f64>::zeros(n));
                let mut blocks = Vec::with_capacity(REDUCE_CHUNK);
                let mut rows: Vec<(usize, Vector3<f64>)> = Vec::new();
                for (j, obs) in by_point
                    .iter()
                    .enumerate()
                    .skip(c * REDUCE_CHUNK)
                    .take(REDUCE_CHUNK)
                {
                    let (mut v, mut g) = (Matrix3::zeros(), Vector3::zeros());
                    rows.clear();
                    for &k in obs {
                        let Some(li) = &lin[k] else { continue };
                        let wt = loss.weight(li.residual.norm_squared());
                        let idx = slots(l, p, &p.observations[k]);
                        let jtj = li.jc.transpose() * li.jc * wt;
                        let jtr = li.jc.transpose() * li.residual * wt;
                        for (a, ia) in idx.iter().enumerate() {
                            let Some(ia) = *ia else { continue };
                            g_c[ia] += jtr[a];
                            for (b, ib) in idx.iter().enumerate() {
                                if let Some(ib) = *ib {
                                    u[(ia, ib)] += jtj[(a, b)];
                                }
                            }
                        }
                        if l.point_free[j] {
                            v += li.jp.transpose() * li.jp * wt;
                            g += li.jp.transpose() * li.residual * wt;
                            let block = li.jc.transpose() * li.jp * wt;
                            for (slot, col) in idx.iter().enumerate() {
                                if let Some(col) = *col {
                                    rows.push((col, block.row(slot).transpose()));
                                }
                            }
                        }
                    }
                    // One row per camera-side column (the intrinsics repeat across observations).
                    rows.sort_unstable_by_key(|r| r.0);
                    let mut merged: Vec<(usize, Vector3<f64>)> = Vec::with_capacity(rows.len());
                    for &(col, r) in &rows {
                        match merged.last_mut() {
                            Some(last) if last.0 == col => last.1 += r,
                            _ => merged.push((col, r)),
                        }
                    }
                    blocks.push((v, g, merged));
                }
                (u, g_c, blocks)
            })
            .collect();
    let mut ne = Normal {
        u: DMatrix::zeros(n, n),
        g_c: DVector::zeros(n),
        v: Vec::with_capacity(by_point.len()),
        w: Vec::with_capacity(by_point.len()),
        g_p: Vec::with_capacity(by_point.len()),
    };
    for (u, g_c, blocks) in chunks {
        ne.u += u;
        ne.g_c += g_c;
        for (v, g, rows) in blocks {
            ne.v.push(v);
            ne.g_p.push(g);
            ne.w.push(rows);
        }
    }
    ne
}

/// The Schur complement on the points of the damped system: S, its right-hand side, and the
/// inverted damped point blocks.
struct Reduced {
    s: DMatrix<f64>,
    rhs: DVector<f64>,
    v_inv: Vec<Matrix3<f64>>,
}

fn point_is_free(l: &Layout, by_point: &[Vec<usize>], j: usize) -> bool {
    l.point_free[j] && !by_point[j].is_empty()
}

/// Points per parallel chunk of the Schur complement (each chunk accumulates its own S).
const REDUCE_CHUNK: usize = 2048;

fn reduce(l: &Layout, ne: &Normal, by_point: &[Vec<usize>], lambda: f64) -> Option<Reduced> {
    let n = l.size;
    let damp = |v: &Matrix3<f64>| {
        let mut v = *v;
        for d in 0..3 {
            v[(d, d)] += lambda * v[(d, d)].max(1e-9);
        }
        v
    };
    let v_inv: Vec<Matrix3<f64>> = (0..ne.v.len())
        .map(|j| {
            if point_is_free(l, by_point, j) {
                damp(&ne.v[j]).try_inverse()
            } else {
                Some(Matrix3::zeros())
            }
        })
        .collect::<Option<_>>()?;
    // S = U − Σⱼ Wⱼ·Vⱼ⁻¹·Wⱼᵀ and rhs = −g_c + Σⱼ Wⱼ·Vⱼ⁻¹·g_pⱼ, summed over chunks of points in
    // parallel; the chunks are added in order, so the result does not depend on the threads.
    let partial: Vec<(DMatrix<f64>, DVector<f64>)> = (0..ne.v.len().div_ceil(REDUCE_CHUNK))
        .into_par_iter()
        .map(|c| {
            let (mut s, mut rhs) = (DMatrix::<f64>::zeros(n, n), DVector::<f64>::zeros(n));
            for (j, vi) in v_inv
                .iter()
                .enumerate()
                .skip(c * REDUCE_CHUNK)
                .take(REDUCE_CHUNK)
            {
                if !point_is_free(l, by_point, j) {
                    continue;
                }
                let vg = vi * ne.g_p[j];
                let rows = &ne.w[j];
                for (a, wa) in rows {
                    rhs[*a] += wa.dot(&vg);
                    let wv = vi * wa;
                    for (b, wb) in rows {
                        s[(*a, *b)] += wb.dot(&wv);
                    }
                }
            }
            (s, rhs)
        })
        .collect();
    let mut s = ne.u.clone();
    for i in 0..n {
        s[(i, i)] += lambda * ne.u[(i, i)].max(1e-9);
    }
    let mut rhs = -ne.g_c.clone();
    for (ps, pr) in partial {
        s -= ps;
        rhs += pr;
    }
    Some(Reduced { s, rhs, v_inv })
}

/// Solves the damped system by the Schur complement on the points.
fn solve_damped(
    l: &Layout,
    ne: &Normal,
    by_point: &[Vec<usize>],
    lambda: f64,
) -> Option<(DVector<f64>, Vec<Vector3<f64>>)> {
    let r = reduce(l, ne, by_point, lambda)?;
    let dc = if l.size > 0 {
        r.s.cholesky()?.solve(&r.rhs)
    } else {
        DVector::zeros(0)
    };
    let dp = (0..ne.v.len())
        .map(|j| {
            if !point_is_free(l, by_point, j) {
                return Vector3::zeros();
            }
            let mut b = -ne.g_p[j];
            for (a, wa) in &ne.w[j] {
                b -= wa * dc[*a];
            }
            r.v_inv[j] * b
        })
        .collect();
    Some((dc, dp))
}

/// Standard deviations of each camera's (focal, k, cx, cy) at the solution, from the inverse of
/// the reduced camera system scaled by the residual variance (`None` for parameters held
/// fixed).
fn camera_sigmas(
    p: &Problem,
    l: &Layout,
    by_point: &[Vec<usize>],
    loss: Loss,
) -> Vec<[Option<f64>; 4]> {
    let lin: Vec<Option<Linearised>> = p.observations.par_iter().map(|o| linearise(p, o)).collect();
    let ne = normal_equations(p, l, &lin, by_point, loss);
    let free_points = (0..p.points.len())
        .filter(|&j| point_is_free(l, by_point, j))
        .count();
    let dof = (2 * p.observations.len())
        .saturating_sub(l.size + 3 * free_points)
        .max(1);
    let variance = squared_errors(p, 1e6).iter().sum::<f64>() / dof as f64;
    let inverse = reduce(l, &ne, by_point, 0.0)
        .and_then(|r| r.s.cholesky())
        .map(|c| c.inverse());
    l.camera
        .iter()
        .map(|idx| idx.map(|i| Some((inverse.as_ref()?[(i?, i?)] * variance).sqrt())))
        .collect()
}

fn apply(p: &mut Problem, l: &Layout, dc: &DVector<f64>, dp: &[Vector3<f64>]) {
    let get = |i: Option<usize>| i.map_or(0.0, |i| dc[i]);
    for (pose, idx) in p.poses.iter_mut().zip(&l.pose) {
        let w = Vector3::new(get(idx[0]), get(idx[1]), get(idx[2]));
        pose.rotation = Rotation3::new(w).matrix() * pose.rotation;
        pose.translation += Vector3::new(get(idx[3]), get(idx[4]), get(idx[5]));
    }
    for (cam, idx) in p.cameras.iter_mut().zip(&l.camera) {
        cam.focal += get(idx[0]);
        cam.k += get(idx[1]);
        cam.cx += get(idx[2]);
        cam.cy += get(idx[3]);
    }
    for (x, d) in p.points.iter_mut().zip(dp) {
        *x += d;
    }
}

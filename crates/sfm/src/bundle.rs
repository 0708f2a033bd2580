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
    /// Report the intrinsics' standard deviations at the solution (dense solver only).
    pub compute_covariance: bool,
    pub solver: Solver,
    /// Stop (keeping the last accepted step) when this passes; `Report::timed_out` says so.
    pub deadline: crate::watchdog::Deadline,
}

/// How the reduced camera system is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solver {
    /// Dense Cholesky up to `DENSE_LIMIT` camera-side parameters, conjugate gradients past it.
    Auto,
    /// Dense Schur complement and Cholesky (exact; memory and time grow as n² and n³).
    Dense,
    /// Matrix-free conjugate gradients on the Schur complement with a block-Jacobi preconditioner (a block per pose and per camera):
    /// the camera block kept per pose, memory linear in the problem.
    Iterative,
}

/// Camera-side parameters (6 per image, 4 per camera) past which `Auto` goes iterative: about
/// 500 images. Below it the dense Cholesky is faster (200 images: 0.19 s per iteration against
/// 1.3 s for conjugate gradients, `benches/sfm.rs`); past it the dense system's n² memory and
/// n³ time take over.
pub const DENSE_LIMIT: usize = 3000;

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
    let dense = match opts.solver {
        Solver::Dense => true,
        Solver::Iterative => false,
        Solver::Auto => l.size <= DENSE_LIMIT,
    };
    let mut current = cost(p, opts.loss);
    let initial_rms = rms(p);
    let mut costs = vec![current];
    let mut lambda = 1e-4;
    let mut iterations = 0;
    let mut timed_out = false;
    for _ in 0..opts.max_iterations {
        if opts.deadline.expired() {
            timed_out = true;
            break;
        }
        iterations += 1;
        let lin: Vec<Option<Linearised>> =
            p.observations.par_iter().map(|o| linearise(p, o)).collect();
        let ne = normal_equations(p, &l, &lin, &by_point, opts.loss, dense);
        let mut accepted = false;
        for _ in 0..12 {
            let Some((dc, dp)) = solve_damped(&l, &ne, &by_point, lambda) else {
                lambda *= 10.0;
                continue;
            };
            // Step in place; the observations never change, so only the parameters are kept
            // to undo a rejected step.
            let kept = (p.cameras.clone(), p.poses.clone(), p.points.clone());
            apply(p, &l, &dc, &dp);
            let c = cost(p, opts.loss);
            if c.is_finite() && c < current {
                let improvement = (current - c) / current.max(f64::MIN_POSITIVE);
                current = c;
                costs.push(c);
                lambda = (lambda / 3.0).max(1e-12);
                accepted = improvement > opts.function_tolerance;
                break;
            }
            (p.cameras, p.poses, p.points) = kept;
            lambda *= 10.0;
        }
        if !accepted {
            break;
        }
    }
    let camera_sigmas = if opts.compute_covariance && dense {
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
        timed_out,
    }
}

/// JᵀWJ and JᵀW·r split into the camera block U, the point blocks V (3×3 each) and, per point,
/// the coupling W as (camera-side column, 3-vector) rows with one row per column.
/// The camera block U: dense, or as one 10×10 block per pose over its slots (an observation
/// only couples its pose's and its camera's parameters).
enum CameraSystem {
    Dense(DMatrix<f64>),
    Blocks(Vec<([Option<usize>; 10], SMatrix<f64, 10, 10>)>),
}

struct Normal {
    u: CameraSystem,
    /// The diagonal of U.
    u_diag: DVector<f64>,
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
    dense: bool,
) -> Normal {
    let n = l.size;
    let un = if dense { n } else { 0 };
    // Chunks of points in parallel, each with its own U (dense solver) and g_c, added in order.
    let chunks: Vec<(DMatrix<f64>, DVector<f64>, Vec<PointBlock>)> =
        (0..by_point.len().div_ceil(REDUCE_CHUNK))
            .into_par_iter()
            .map(|c| {
                let (mut u, mut g_c) = (DMatrix::<f64>::zeros(un, un), DVector::<f64>::zeros(n));
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
                        let jtr = li.jc.transpose() * li.residual * wt;
                        for (a, ia) in idx.iter().enumerate() {
                            if let Some(ia) = *ia {
                                g_c[ia] += jtr[a];
                            }
                        }
                        if dense {
                            let jtj = li.jc.transpose() * li.jc * wt;
                            for (a, ia) in idx.iter().enumerate() {
                                let Some(ia) = *ia else { continue };
                                for (b, ib) in idx.iter().enumerate() {
                                    if let Some(ib) = *ib {
                                        u[(ia, ib)] += jtj[(a, b)];
                                    }
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
    let mut u_dense = DMatrix::zeros(un, un);
    let mut ne = Normal {
        u: CameraSystem::Blocks(Vec::new()),
        u_diag: DVector::zeros(n),
        g_c: DVector::zeros(n),
        v: Vec::with_capacity(by_point.len()),
        w: Vec::with_capacity(by_point.len()),
        g_p: Vec::with_capacity(by_point.len()),
    };
    for (u, g_c, blocks) in chunks {
        if dense {
            u_dense += u;
        }
        ne.g_c += g_c;
        for (v, g, rows) in blocks {
            ne.v.push(v);
            ne.g_p.push(g);
            ne.w.push(rows);
        }
    }
    if dense {
        ne.u_diag = u_dense.diagonal();
        ne.u = CameraSystem::Dense(u_dense);
    } else {
        let blocks = pose_blocks(p, l, lin, loss);
        for (idx, b) in &blocks {
            for (a, ia) in idx.iter().enumerate() {
                if let Some(ia) = *ia {
                    ne.u_diag[ia] += b[(a, a)];
                }
            }
        }
        ne.u = CameraSystem::Blocks(blocks);
    }
    ne
}

/// U as one 10×10 block per pose (its own and its camera's slots), summed over its observations.
fn pose_blocks(
    p: &Problem,
    l: &Layout,
    lin: &[Option<Linearised>],
    loss: Loss,
) -> Vec<([Option<usize>; 10], SMatrix<f64, 10, 10>)> {
    let mut by_pose: Vec<Vec<usize>> = vec![Vec::new(); p.poses.len()];
    for (k, o) in p.observations.iter().enumerate() {
        by_pose[o.pose].push(k);
    }
    by_pose
        .par_iter()
        .map(|obs| {
            let mut b = SMatrix::<f64, 10, 10>::zeros();
            let mut idx = [None; 10];
            for &k in obs {
                let Some(li) = &lin[k] else { continue };
                idx = slots(l, p, &p.observations[k]);
                b += li.jc.transpose() * li.jc * loss.weight(li.residual.norm_squared());
            }
            (idx, b)
        })
        .collect()
}

/// S·x for the damped Schur complement without forming S: (U + λ·diag U)·x − Σⱼ Wⱼ·Vⱼ⁻¹·Wⱼᵀ·x.
fn schur_product(
    l: &Layout,
    ne: &Normal,
    by_point: &[Vec<usize>],
    v_inv: &[Matrix3<f64>],
    lambda: f64,
    x: &DVector<f64>,
) -> DVector<f64> {
    let n = l.size;
    let mut y = match &ne.u {
        CameraSystem::Dense(u) => u * x,
        CameraSystem::Blocks(blocks) => {
            let mut y = DVector::zeros(n);
            for (idx, b) in blocks {
                let xs = SMatrix::<f64, 10, 1>::from_fn(|a, _| idx[a].map_or(0.0, |i| x[i]));
                let ys = b * xs;
                for (a, ia) in idx.iter().enumerate() {
                    if let Some(ia) = *ia {
                        y[ia] += ys[a];
                    }
                }
            }
            y
        }
    };
    for i in 0..n {
        y[i] += lambda * ne.u_diag[i].max(1e-9) * x[i];
    }
    let partial: Vec<DVector<f64>> = (0..ne.v.len().div_ceil(REDUCE_CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut acc = DVector::<f64>::zeros(n);
            for (j, vi) in chunk_points(l, by_point, v_inv, c) {
                let t: Vector3<f64> = ne.w[j].iter().map(|(col, r)| r * x[*col]).sum();
                let z = vi * t;
                for (col, r) in &ne.w[j] {
                    acc[*col] += r.dot(&z);
                }
            }
            acc
        })
        .collect();
    for pa in partial {
        y -= pa;
    }
    y
}

/// Preconditioned conjugate gradients (block-Jacobi: one block per pose and per camera) on the
/// reduced camera system.
fn solve_iterative(
    l: &Layout,
    ne: &Normal,
    by_point: &[Vec<usize>],
    v_inv: &[Matrix3<f64>],
    lambda: f64,
    rhs: &DVector<f64>,
) -> Option<DVector<f64>> {
    let n = l.size;
    // Block-Jacobi preconditioner: the diagonal blocks of S for each pose's and each camera's
    // columns, (U + λ·diag U)_GG − Σⱼ W_jG·Vⱼ⁻¹·W_jGᵀ, inverted.
    let mut group_of = vec![0usize; n];
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for cols in l
        .pose
        .iter()
        .map(|p| p.to_vec())
        .chain(l.camera.iter().map(|c| c.to_vec()))
    {
        let cols: Vec<usize> = cols.into_iter().flatten().collect();
        if cols.is_empty() {
            continue;
        }
        for &c in &cols {
            group_of[c] = groups.len();
        }
        groups.push(cols);
    }
    let position = |c: usize| {
        groups[group_of[c]]
            .iter()
            .position(|&x| x == c)
            .unwrap_or(0)
    };
    let mut blocks: Vec<DMatrix<f64>> = groups
        .iter()
        .map(|cols| {
            DMatrix::from_fn(cols.len(), cols.len(), |a, b| {
                let (ca, cb) = (cols[a], cols[b]);
                let u = match &ne.u {
                    CameraSystem::Dense(u) => u[(ca, cb)],
                    CameraSystem::Blocks(_) => 0.0,
                };
                u + if a == b {
                    lambda * ne.u_diag[ca].max(1e-9)
                } else {
                    0.0
                }
            })
        })
        .collect();
    if let CameraSystem::Blocks(pose_blocks) = &ne.u {
        for (idx, b) in pose_blocks {
            for (sa, ca) in idx.iter().enumerate() {
                let Some(ca) = *ca else { continue };
                for (sb, cb) in idx.iter().enumerate() {
                    let Some(cb) = *cb else { continue };
                    if group_of[ca] == group_of[cb] {
                        blocks[group_of[ca]][(position(ca), position(cb))] += b[(sa, sb)];
                    }
                }
            }
        }
    }
    for (j, vi) in v_inv.iter().enumerate() {
        if !point_is_free(l, by_point, j) {
            continue;
        }
        let rows = &ne.w[j];
        for (ca, ra) in rows {
            let wv = vi * ra;
            for (cb, rb) in rows {
                if group_of[*ca] == group_of[*cb] {
                    blocks[group_of[*ca]][(position(*ca), position(*cb))] -= rb.dot(&wv);
                }
            }
        }
    }
    let inverses: Vec<DMatrix<f64>> = blocks
        .into_iter()
        .map(|b| {
            let k = b.nrows();
            let diag = b.diagonal();
            b.cholesky().map_or_else(
                || {
                    DMatrix::from_fn(k, k, |a, c| {
                        if a == c && diag[a] > 1e-12 {
                            1.0 / diag[a]
                        } else {
                            0.0
                        }
                    })
                },
                |c| c.inverse(),
            )
        })
        .collect();
    let precondition = |r: &DVector<f64>| {
        let mut z = DVector::zeros(n);
        for (g, cols) in groups.iter().enumerate() {
            let rg = DVector::from_fn(cols.len(), |a, _| r[cols[a]]);
            let zg = &inverses[g] * rg;
            for (a, &c) in cols.iter().enumerate() {
                z[c] = zg[a];
            }
        }
        z
    };
    let mut x = DVector::zeros(n);
    let mut r = rhs.clone();
    let mut z = precondition(&r);
    let mut d = z.clone();
    let mut rz = r.dot(&z);
    // An inexact step (residual 1e-3 of the right-hand side) is all Levenberg–Marquardt needs.
    let target = 1e-6 * rhs.norm_squared();
    for _ in 0..n.clamp(50, 500) {
        if r.norm_squared() <= target {
            break;
        }
        let q = schur_product(l, ne, by_point, v_inv, lambda, &d);
        let dq = d.dot(&q);
        if dq <= 0.0 || !dq.is_finite() {
            break;
        }
        let alpha = rz / dq;
        x += &d * alpha;
        r -= &q * alpha;
        z = precondition(&r);
        let rz_new = r.dot(&z);
        d = &z + &d * (rz_new / rz);
        rz = rz_new;
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The Schur complement on the points of the damped system: S, its right-hand side, and the
/// inverted damped point blocks.
struct Reduced {
    /// S itself with the dense solver; `None` with the iterative one.
    s: Option<DMatrix<f64>>,
    rhs: DVector<f64>,
    v_inv: Vec<Matrix3<f64>>,
}

fn point_is_free(l: &Layout, by_point: &[Vec<usize>], j: usize) -> bool {
    l.point_free[j] && !by_point[j].is_empty()
}

/// The free points of chunk `c` with their inverted damped blocks.
fn chunk_points<'a>(
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
    let dense = matches!(ne.u, CameraSystem::Dense(_));
    let sn = if dense { n } else { 0 };
    let partial: Vec<(DMatrix<f64>, DVector<f64>)> = (0..ne.v.len().div_ceil(REDUCE_CHUNK))
        .into_par_iter()
        .map(|c| {
            let (mut s, mut rhs) = (DMatrix::<f64>::zeros(sn, sn), DVector::<f64>::zeros(n));
            for (j, vi) in chunk_points(l, by_point, &v_inv, c) {
                let vg = vi * ne.g_p[j];
                let rows = &ne.w[j];
                for (a, wa) in rows {
                    rhs[*a] += wa.dot(&vg);
                    if !dense {
                        continue;
                    }
                    let wv = vi * wa;
                    for (b, wb) in rows {
                        s[(*a, *b)] += wb.dot(&wv);
                    }
                }
            }
            (s, rhs)
        })
        .collect();
    let mut rhs = -ne.g_c.clone();
    let mut s = match &ne.u {
        CameraSystem::Dense(u) => {
            let mut s = u.clone();
            for i in 0..n {
                s[(i, i)] += lambda * ne.u_diag[i].max(1e-9);
            }
            Some(s)
        }
        CameraSystem::Blocks(_) => None,
    };
    for (ps, pr) in partial {
        if let Some(s) = s.as_mut() {
            *s -= ps;
        }
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
    let dc = if l.size == 0 {
        DVector::zeros(0)
    } else if let Some(s) = r.s {
        s.cholesky()?.solve(&r.rhs)
    } else {
        solve_iterative(l, ne, by_point, &r.v_inv, lambda, &r.rhs)?
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
    let ne = normal_equations(p, l, &lin, by_point, loss, true);
    let free_points = (0..p.points.len())
        .filter(|&j| point_is_free(l, by_point, j))
        .count();
    let dof = (2 * p.observations.len())
        .saturating_sub(l.size + 3 * free_points)
        .max(1);
    let variance = squared_errors(p, 1e6).iter().sum::<f64>() / dof as f64;
    let inverse = reduce(l, &ne, by_point, 0.0)
        .and_then(|r| r.s?.cholesky())
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

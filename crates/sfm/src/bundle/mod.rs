//! Bundle adjustment: Levenberg–Marquardt over image poses, per-camera focal length and radial
//! distortion (SIMPLE_RADIAL, principal point optional), and 3D points, with analytic
//! Jacobians, the Schur complement on the points (the reduced camera system, Cholesky-solved:
//! dense for small problems, sparse past them), an optional robust loss, and the gauge fixed by
//! holding one pose and one translation component of a second.
//!
//! Written here rather than bound to Ceres: a Rust crate for sparse bundle adjustment with this
//! parameterisation does not exist, and the reduced system for the image counts splat targets
//! (hundreds to a few thousand) fits a dense or a sparse Cholesky of the reduced system.
//!
//! Rooms: `problem` (the types and settings), `residuals` (layout, residuals, Jacobians, costs),
//! `normal` (the normal equations), `reduced` (the Schur complement), `cholesky` (its blocked
//! dense factorization),
//! `sparse` (the reduced system stored sparse, ordered and factored), `iterative` (conjugate
//! gradients, matrix-free); the Levenberg–Marquardt loop is here.

mod cholesky;
mod iterative;
mod normal;
mod problem;
mod reduced;
mod residuals;
mod sparse;

pub use problem::*;

use iterative::*;
use nalgebra::{DVector, Rotation3, Vector3};
use normal::*;
use rayon::prelude::*;
use reduced::*;
use residuals::*;
use sparse::{Plan, SparseSystem};

/// How this solve factors the reduced camera system.
enum Method {
    Dense,
    Sparse(Box<SparseSystem>),
    Iterative,
}

/// Runs Levenberg–Marquardt from the problem's current values, which it updates.
pub fn solve(p: &mut Problem, opts: &Options) -> Report {
    let l = layout(p, opts);
    let mut by_point: Vec<Vec<usize>> = vec![Vec::new(); p.points.len()];
    for (k, o) in p.observations.iter().enumerate() {
        by_point[o.point].push(k);
    }
    let plan = match opts.solver {
        Solver::Sparse => Some(Plan::new(p, &l, &by_point)),
        Solver::Auto if l.size > DENSE_LIMIT => Some(Plan::new(p, &l, &by_point)),
        _ => None,
    };
    let reduced_work = plan.as_ref().map(|plan| ReducedWork {
        camera_parameters: l.size,
        sparse_flops: plan.sparse_flops,
        dense_flops: Plan::dense_flops(l.size),
    });
    let mut method = match (opts.solver, plan) {
        (Solver::Sparse, Some(plan)) => sparse(plan, &l),
        (Solver::Auto, Some(plan)) => automatic(plan, &l),
        (Solver::Iterative, _) => Method::Iterative,
        _ => Method::Dense,
    };
    let dense = matches!(method, Method::Dense);
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
            let Some((dc, dp)) = solve_damped(&l, &ne, &by_point, lambda, &mut method) else {
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
    let camera_sigmas = if opts.compute_covariance {
        camera_sigmas(p, &l, &by_point, opts.loss, &mut method)
    } else {
        Vec::new()
    };
    Report {
        solver: match method {
            Method::Dense => Solver::Dense,
            Method::Sparse(_) => Solver::Sparse,
            Method::Iterative => Solver::Iterative,
        },
        reduced_work,
        costs,
        iterations,
        initial_rms,
        final_rms: rms(p),
        camera_sigmas,
        timed_out,
    }
}

/// `Solver::Auto` past `DENSE_LIMIT`: the sparse Cholesky where its factor is sparse enough to
/// pay (`SPARSE_WORK_RATIO`), else the dense one up to `ITERATIVE_LIMIT` and conjugate gradients
/// past it. Cameras that all share points with one another (a small object seen from every
/// side) make a dense reduced system; a walk along a building or a street, a sparse one.
fn automatic(plan: Plan, l: &Layout) -> Method {
    if plan.sparse_flops * SPARSE_WORK_RATIO < Plan::dense_flops(l.size) {
        sparse(plan, l)
    } else if l.size <= ITERATIVE_LIMIT {
        Method::Dense
    } else {
        Method::Iterative
    }
}

/// The sparse solver for `plan` (the dense one should its structure fail to build).
fn sparse(plan: Plan, l: &Layout) -> Method {
    SparseSystem::new(plan, l).map_or(Method::Dense, |s| Method::Sparse(Box::new(s)))
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

/// Solves the damped system by the Schur complement on the points.
fn solve_damped(
    l: &Layout,
    ne: &Normal,
    by_point: &[Vec<usize>],
    lambda: f64,
    method: &mut Method,
) -> Option<(DVector<f64>, Vec<Vector3<f64>>)> {
    let r = reduce(l, ne, by_point, lambda)?;
    let terms = Terms {
        l,
        ne,
        by_point,
        v_inv: &r.v_inv,
    };
    let dc = if l.size == 0 {
        DVector::zeros(0)
    } else {
        match (method, r.s) {
            (_, Some(s)) => cholesky::Factor::new(s)?.solve(&r.rhs),
            (Method::Sparse(system), None) => system.solve(&terms, lambda, &r.rhs)?,
            (_, None) => solve_iterative(terms, lambda, &r.rhs)?,
        }
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

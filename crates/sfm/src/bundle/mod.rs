//! Bundle adjustment: Levenberg–Marquardt over image poses, per-camera focal length and radial
//! distortion (SIMPLE_RADIAL, principal point fixed), and 3D points, with analytic Jacobians,
//! the Schur complement on the points (a dense reduced camera system, Cholesky-solved), an
//! optional robust loss, and the gauge fixed by holding one pose and one translation component
//! of a second.
//!
//! Written here rather than bound to Ceres: a Rust crate for sparse bundle adjustment with this
//! parameterisation does not exist, and the reduced system for the image counts splat targets
//! (hundreds) fits a dense Cholesky.
//!
//! Rooms: `problem` (the types and settings), `residuals` (layout, residuals, Jacobians, costs),
//! `normal` (the normal equations), `reduced` (the Schur complement and its dense solve),
//! `iterative` (conjugate gradients for large problems); the Levenberg–Marquardt loop is here.

mod iterative;
mod normal;
mod problem;
mod reduced;
mod residuals;

pub use problem::*;

use iterative::*;
use nalgebra::{DVector, Rotation3, Vector3};
use normal::*;
use rayon::prelude::*;
use reduced::*;
use residuals::*;

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

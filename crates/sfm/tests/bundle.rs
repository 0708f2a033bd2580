//! Bundle adjustment on synthetic problems with a known optimum: from a noisy start it
//! converges, the cost never rises, the reprojection RMS ends at the noise level, the cameras
//! and intrinsics come back, and a robust loss shrugs off gross outliers.

use nalgebra::{Matrix3, Rotation3, Vector2, Vector3};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use splat_sfm::bundle::{
    CameraParams, Loss, Observation, Options, Pose, Problem, Report, Solver, solve,
};

fn gaussian(rng: &mut Pcg64) -> f64 {
    let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// 12 cameras on an arc around 400 points in a 4×4×2 box, 1000×800 images, SIMPLE_RADIAL
/// f = 900, k = −0.05; observations with `noise` px Gaussian noise and a share of gross outliers.
fn truth(rng: &mut Pcg64, noise: f64, outliers: f64) -> Problem {
    let cam = CameraParams {
        focal: 900.0,
        cx: 500.0,
        cy: 400.0,
        k: -0.05,
    };
    let mut poses = Vec::new();
    for i in 0..12 {
        let a = -0.6 + 1.2 * f64::from(i) / 11.0;
        let c = Vector3::new(9.0 * a.sin(), 0.3 * f64::from(i % 3) - 0.3, -9.0 * a.cos());
        let forward = (-c).normalize();
        let right = Vector3::y().cross(&forward).normalize();
        let down = forward.cross(&right);
        let r = Matrix3::from_rows(&[right.transpose(), down.transpose(), forward.transpose()]);
        poses.push(Pose {
            rotation: r,
            translation: -(r * c),
            camera: 0,
        });
    }
    let points: Vec<Vector3<f64>> = (0..400)
        .map(|_| {
            Vector3::new(
                rng.random_range(-2.0..2.0),
                rng.random_range(-2.0..2.0),
                rng.random_range(-1.0..1.0),
            )
        })
        .collect();
    let mut observations = Vec::new();
    for (pi, pose) in poses.iter().enumerate() {
        for (j, x) in points.iter().enumerate() {
            let Some(px) = cam.project(&(pose.rotation * x + pose.translation)) else {
                continue;
            };
            if px.x < 0.0 || px.y < 0.0 || px.x > 1000.0 || px.y > 800.0 {
                continue;
            }
            let xy = if rng.random_bool(outliers) {
                Vector2::new(rng.random_range(0.0..1000.0), rng.random_range(0.0..800.0))
            } else {
                px + Vector2::new(gaussian(rng), gaussian(rng)) * noise
            };
            observations.push(Observation {
                pose: pi,
                point: j,
                xy,
            });
        }
    }
    Problem {
        cameras: vec![cam],
        poses,
        points,
        observations,
    }
}

/// Every pose but the first turned and moved, and every point moved, by Gaussian noise of
/// these standard deviations: `[rotation (rad), translation, point]`.
fn jitter(rng: &mut Pcg64, p: &mut Problem, [turn, shift, point]: [f64; 3]) {
    for pose in p.poses.iter_mut().skip(1) {
        let w = Vector3::new(gaussian(rng), gaussian(rng), gaussian(rng)) * turn;
        pose.rotation = Rotation3::new(w).matrix() * pose.rotation;
        pose.translation += Vector3::new(gaussian(rng), gaussian(rng), gaussian(rng)) * shift;
    }
    for x in &mut p.points {
        *x += Vector3::new(gaussian(rng), gaussian(rng), gaussian(rng)) * point;
    }
}

/// The true problem with every pose, point and the intrinsics moved.
fn perturbed(rng: &mut Pcg64, t: &Problem) -> Problem {
    let mut p = t.clone();
    jitter(rng, &mut p, [0.01, 0.1, 0.05]);
    p.cameras[0].focal *= 1.05;
    p.cameras[0].k = 0.0;
    p
}

/// Largest error of the relative rotations between all pairs of images, degrees (gauge-free).
fn worst_relative_rotation(a: &Problem, b: &Problem) -> f64 {
    let mut worst: f64 = 0.0;
    for i in 0..a.poses.len() {
        for j in 0..a.poses.len() {
            let ra = a.poses[j].rotation * a.poses[i].rotation.transpose();
            let rb = b.poses[j].rotation * b.poses[i].rotation.transpose();
            let c = (((ra.transpose() * rb).trace() - 1.0) / 2.0).clamp(-1.0, 1.0);
            worst = worst.max(c.acos().to_degrees());
        }
    }
    worst
}

#[test]
fn converges_to_the_noise_level_from_a_noisy_start() {
    let mut rng = Pcg64::seed_from_u64(1);
    let t = truth(&mut rng, 0.5, 0.0);
    let mut p = perturbed(&mut rng, &t);
    let start_rotation_error = worst_relative_rotation(&p, &t);
    let report = solve(&mut p, &Options::default());
    eprintln!(
        "{} observations; RMS {:.2} → {:.4} px in {} iterations; rotation error {start_rotation_error:.3}° → {:.4}°; focal {:.2} (true 900), k {:.5} (true −0.05)",
        t.observations.len(),
        report.initial_rms,
        report.final_rms,
        report.iterations,
        worst_relative_rotation(&p, &t),
        p.cameras[0].focal,
        p.cameras[0].k
    );
    assert!(
        report.costs.windows(2).all(|w| w[1] < w[0]),
        "the cost must fall at every accepted step"
    );
    assert!(report.initial_rms > 10.0);
    // RMS of the 2-D residuals at the optimum with σ = 0.5 px per coordinate:
    // σ·√2·√(1 − parameters/residuals), parameters = 11·6 + 2 + 3·400 − 1 (gauge).
    let residuals = 2.0 * t.observations.len() as f64;
    let expected = 0.5 * 2f64.sqrt() * (1.0 - (11.0 * 6.0 + 2.0 + 1200.0 - 1.0) / residuals).sqrt();
    assert!(
        (report.final_rms - expected).abs() < 0.02 * expected,
        "final RMS {} (expected {expected})",
        report.final_rms
    );
    // The same minimum as a solve started at the truth (the known optimum of this problem).
    let mut optimum = t.clone();
    solve(&mut optimum, &Options::default());
    assert!(worst_relative_rotation(&p, &optimum) < 1e-3);
    assert!((p.cameras[0].focal - optimum.cameras[0].focal).abs() < 1e-3);
    assert!(worst_relative_rotation(&p, &t) < 0.3);
    assert!((p.cameras[0].focal - 900.0).abs() < 2.0);
    assert!((p.cameras[0].k + 0.05).abs() < 0.01);
    // The gauge: the first pose did not move.
    assert_eq!(p.poses[0], t.poses[0]);
}

#[test]
fn a_robust_loss_ignores_gross_outliers() {
    let mut rng = Pcg64::seed_from_u64(2);
    let t = truth(&mut rng, 0.5, 0.05);
    let start = perturbed(&mut rng, &t);
    let mut robust = start.clone();
    solve(
        &mut robust,
        &Options {
            loss: Loss::Cauchy(2.0),
            ..Options::default()
        },
    );
    let mut plain = start.clone();
    solve(&mut plain, &Options::default());
    let (er, ep) = (
        worst_relative_rotation(&robust, &t),
        worst_relative_rotation(&plain, &t),
    );
    eprintln!(
        "5 % outliers: rotation error {er:.4}° with a Cauchy loss, {ep:.4}° without; focal {:.2} / {:.2}",
        robust.cameras[0].focal, plain.cameras[0].focal
    );
    let mut optimum = t.clone();
    solve(
        &mut optimum,
        &Options {
            loss: Loss::Cauchy(2.0),
            ..Options::default()
        },
    );
    assert!(worst_relative_rotation(&robust, &optimum) < 1e-3);
    assert!(er < 0.3);
    assert!(ep > 10.0 * er);
    assert!((robust.cameras[0].focal - 900.0).abs() < 3.0);
}

#[test]
fn fixed_points_and_poses_stay_put() {
    let mut rng = Pcg64::seed_from_u64(3);
    let t = truth(&mut rng, 0.3, 0.0);
    let mut p = perturbed(&mut rng, &t);
    let before = p.clone();
    let opts = Options {
        fixed_poses: vec![0, 5],
        fixed_points: vec![7, 8],
        fix_gauge: false,
        refine_distortion: false,
        ..Options::default()
    };
    solve(&mut p, &opts);
    assert_eq!(p.poses[5], before.poses[5]);
    assert_eq!(p.points[7], before.points[7]);
    assert_eq!(p.cameras[0].k, 0.0);
    assert_ne!(p.poses[3], before.poses[3]);
}

#[test]
fn the_iterative_solver_reaches_the_dense_optimum() {
    let mut rng = Pcg64::seed_from_u64(4);
    let t = truth(&mut rng, 0.5, 0.02);
    let start = perturbed(&mut rng, &t);
    let run = |solver| {
        let mut p = start.clone();
        let report = solve(
            &mut p,
            &Options {
                loss: Loss::Cauchy(2.0),
                solver,
                ..Options::default()
            },
        );
        (p, report)
    };
    let (dense, rd) = run(Solver::Dense);
    let (iterative, ri) = run(Solver::Iterative);
    eprintln!(
        "dense: {} iterations, RMS {:.4}; iterative: {} iterations, RMS {:.4}",
        rd.iterations, rd.final_rms, ri.iterations, ri.final_rms
    );
    assert!(ri.costs.windows(2).all(|w| w[1] < w[0]));
    assert!(worst_relative_rotation(&dense, &iterative) < 1e-3);
    assert!((dense.cameras[0].focal - iterative.cameras[0].focal).abs() < 0.01);
    let worst_point = dense
        .points
        .iter()
        .zip(&iterative.points)
        .map(|(a, b)| (a - b).norm())
        .fold(0.0, f64::max);
    assert!(worst_point < 1e-3, "{worst_point}");
}

#[test]
fn a_deadline_stops_the_adjustment_at_its_last_accepted_step() {
    let mut rng = Pcg64::seed_from_u64(3);
    let t = truth(&mut rng, 0.5, 0.0);
    let start = perturbed(&mut rng, &t);
    // Already passed: no iteration runs, nothing moves, and the report says why.
    let mut p = start.clone();
    let expired = splat_sfm::watchdog::TimeLimit {
        base_s: 0.0,
        per_item_s: 0.0,
    };
    let deadline = expired.start(p.observations.len());
    let report = solve(
        &mut p,
        &Options {
            deadline,
            ..Options::default()
        },
    );
    assert!(report.timed_out);
    assert_eq!((report.iterations, report.costs.len()), (0, 1));
    assert_eq!(p, start);
    // The default limit for this size is far away: the solve converges as usual.
    let mut q = start.clone();
    let limit = splat_sfm::watchdog::TimeLimit::BUNDLE;
    let deadline = limit.start(q.observations.len());
    let report = solve(
        &mut q,
        &Options {
            deadline,
            ..Options::default()
        },
    );
    assert!(!report.timed_out && report.iterations > 1);
    assert!(report.final_rms < 1.0);
}

/// `n` cameras on a circle around points each seen by the `seen_by` cameras nearest its
/// azimuth (so most pairs of cameras share no point, as along a real capture), the cameras
/// alternating between two sets of intrinsics; 0.5 px noise, then every pose and point moved.
fn ring(rng: &mut Pcg64, n: usize, seen_by: usize) -> Problem {
    let cameras = vec![
        CameraParams {
            focal: 800.0,
            cx: 400.0,
            cy: 300.0,
            k: -0.02,
        },
        CameraParams {
            focal: 950.0,
            cx: 410.0,
            cy: 295.0,
            k: 0.01,
        },
    ];
    let poses: Vec<Pose> = (0..n)
        .map(|i| {
            let a = std::f64::consts::TAU * i as f64 / n as f64;
            let c = Vector3::new(8.0 * a.cos(), 0.4 * (i % 3) as f64, 8.0 * a.sin());
            let forward = (-c).normalize();
            let right = Vector3::y().cross(&forward).normalize();
            let down = forward.cross(&right);
            let r = Matrix3::from_rows(&[right.transpose(), down.transpose(), forward.transpose()]);
            Pose {
                rotation: r,
                translation: -(r * c),
                camera: i % 2,
            }
        })
        .collect();
    let mut points = Vec::new();
    let mut observations = Vec::new();
    for j in 0..60 * n {
        let x: Vector3<f64> = Vector3::new(
            rng.random_range(-2.0..2.0),
            rng.random_range(-1.0..1.0),
            rng.random_range(-2.0..2.0),
        );
        let az = x.z.atan2(x.x).rem_euclid(std::f64::consts::TAU);
        let nearest = (az / std::f64::consts::TAU * n as f64) as usize;
        for d in 0..seen_by {
            let i = (nearest + n - seen_by / 2 + d) % n;
            let pose = &poses[i];
            let Some(px) = cameras[pose.camera].project(&(pose.rotation * x + pose.translation))
            else {
                continue;
            };
            observations.push(Observation {
                pose: i,
                point: j,
                xy: px + Vector2::new(gaussian(rng), gaussian(rng)) * 0.5,
            });
        }
        points.push(x);
    }
    let mut p = Problem {
        cameras,
        poses,
        points,
        observations,
    };
    jitter(rng, &mut p, [0.005, 0.05, 0.02]);
    p.cameras[1].focal *= 1.03;
    p
}

/// `start` adjusted with `opts` and `solver`, and the report.
fn solve_with(start: &Problem, opts: &Options, solver: Solver) -> (Problem, Report) {
    let mut p = start.clone();
    let report = solve(
        &mut p,
        &Options {
            solver,
            ..opts.clone()
        },
    );
    (p, report)
}

/// Two solves took the same steps: the same cost after every iteration (to 1e-7).
fn assert_same_costs(a: &Report, b: &Report, what: &str) {
    assert_eq!(a.costs.len(), b.costs.len(), "{what}");
    for (x, y) in a.costs.iter().zip(&b.costs) {
        assert!(
            (x - y).abs() <= 1e-7 * x,
            "{what}: costs {:?} / {:?}",
            a.costs,
            b.costs
        );
    }
}

/// The sparse Cholesky of the reduced camera system is exact: it takes the dense solver's
/// steps (the same costs at every iteration) and gives the same intrinsics' standard
/// deviations, with shared and separate intrinsics, held poses (whole and partly, for the
/// gauge) and held points.
#[test]
fn the_sparse_solver_takes_the_dense_solvers_steps() {
    let mut rng = Pcg64::seed_from_u64(11);
    let start = ring(&mut rng, 24, 4);
    let settings = [
        Options::default(),
        Options {
            loss: Loss::SoftL1(1.0),
            fixed_poses: vec![5, 6],
            fix_gauge: false,
            fixed_points: vec![0, 10, 20],
            refine_principal_point: true,
            compute_covariance: true,
            ..Options::default()
        },
        Options {
            refine_distortion: false,
            compute_covariance: true,
            max_iterations: 8,
            ..Options::default()
        },
    ];
    for (n, opts) in settings.into_iter().enumerate() {
        let (dense, rd) = solve_with(&start, &opts, Solver::Dense);
        let (sparse, rs) = solve_with(&start, &opts, Solver::Sparse);
        assert_eq!((rd.solver, rs.solver), (Solver::Dense, Solver::Sparse));
        eprintln!(
            "settings {n}: dense {} iterations, RMS {:.4} → {:.4}; sparse {} iterations, RMS {:.4}; sigmas {:?} / {:?}",
            rd.iterations,
            rd.initial_rms,
            rd.final_rms,
            rs.iterations,
            rs.final_rms,
            rd.camera_sigmas,
            rs.camera_sigmas
        );
        assert!(rd.final_rms < 0.6 * rd.initial_rms, "settings {n}: {rd:?}");
        assert_eq!(rd.iterations, rs.iterations, "settings {n}");
        assert_same_costs(&rd, &rs, &format!("settings {n}"));
        let rotation = worst_relative_rotation(&dense, &sparse);
        let focal = dense
            .cameras
            .iter()
            .zip(&sparse.cameras)
            .map(|(a, b)| (a.focal - b.focal).abs() / a.focal)
            .fold(0.0, f64::max);
        eprintln!("  rotations {rotation:e}°, focal {focal:e} apart");
        assert!(rotation < 1e-4, "settings {n}: {rotation}");
        assert!(focal < 1e-6, "settings {n}: {focal}");
        assert_eq!(
            rd.camera_sigmas.len(),
            rs.camera_sigmas.len(),
            "settings {n}"
        );
        if opts.compute_covariance {
            assert_eq!(rd.camera_sigmas.len(), 2, "settings {n}");
        }
        for (a, b) in rd.camera_sigmas.iter().zip(&rs.camera_sigmas) {
            for (x, y) in a.iter().zip(b) {
                assert_eq!(x.is_some(), y.is_some(), "settings {n}");
                if let (Some(x), Some(y)) = (x, y) {
                    assert!(
                        (x - y).abs() <= 1e-6 * x.abs().max(1e-12),
                        "settings {n}: {x} / {y}"
                    );
                }
            }
        }
    }
}

/// Past a thousand camera-side columns the dense solver sums S per pose and camera and factors
/// it in blocks (two code paths of their own): it still takes the sparse solver's steps, with
/// held poses and points and the principal point refined.
#[test]
fn the_dense_solver_on_a_large_system_takes_the_sparse_solvers_steps() {
    let mut rng = Pcg64::seed_from_u64(12);
    let start = ring(&mut rng, 190, 4);
    let opts = Options {
        fixed_poses: vec![3, 100],
        fixed_points: vec![0, 7, 300],
        refine_principal_point: true,
        max_iterations: 6,
        ..Options::default()
    };
    let (dense, rd) = solve_with(&start, &opts, Solver::Dense);
    let (sparse, rs) = solve_with(&start, &opts, Solver::Sparse);
    let size = rs.reduced_work.as_ref().map(|w| w.camera_parameters);
    assert!(size.is_some_and(|n| n > 1000), "{size:?} columns");
    assert!(rd.final_rms < 0.6 * rd.initial_rms, "{rd:?}");
    assert_same_costs(&rd, &rs, "a large system");
    let rotation = worst_relative_rotation(&dense, &sparse);
    assert!(rotation < 1e-4, "{rotation}");
}

/// `Solver::Auto` stays dense on small problems and on large ones whose cameras all share
/// points (the factor would be full), and goes sparse on a long ring of cameras.
#[test]
fn the_automatic_choice_follows_the_reduced_systems_sparsity() {
    let auto = |p: &Problem| {
        let mut p = p.clone();
        let report = solve(
            &mut p,
            &Options {
                max_iterations: 1,
                ..Options::default()
            },
        );
        (report.solver, report.reduced_work)
    };
    let mut rng = Pcg64::seed_from_u64(5);
    let (solver, work) = auto(&ring(&mut rng, 24, 4));
    assert_eq!(
        (solver, work),
        (Solver::Dense, None),
        "24 images: not analysed"
    );
    let (solver, work) = auto(&ring(&mut rng, 120, 4));
    let work = work.expect("analysed past DENSE_LIMIT");
    eprintln!("120 images, 4 per point: {work:?}");
    assert_eq!(solver, Solver::Sparse, "120 images, 4 per point");
    assert!(work.sparse_flops * 10.0 < work.dense_flops, "{work:?}");
    // Every point seen by every camera on the ring: every pair of cameras is coupled, and the
    // factor is full (its work that of the dense one, to the diagonal blocks).
    let (solver, work) = auto(&ring(&mut rng, 120, 120));
    let work = work.expect("analysed past DENSE_LIMIT");
    eprintln!("120 images, all per point: {work:?}");
    assert_eq!(solver, Solver::Dense, "120 images, all per point");
    assert!(work.sparse_flops > 0.9 * work.dense_flops, "{work:?}");
}

/// The intrinsics' standard deviations (what `--principal-point auto` decides by) come out of
/// conjugate gradients as out of the dense solver, so models past the dense solver's size get
/// them too.
#[test]
fn conjugate_gradients_give_the_dense_solvers_standard_deviations() {
    let mut rng = Pcg64::seed_from_u64(13);
    let start = ring(&mut rng, 30, 4);
    let refine = Options {
        refine_principal_point: true,
        ..Options::default()
    };
    let (solution, _) = solve_with(&start, &refine, Solver::Dense);
    // At the same point (no iteration): the deviations alone.
    let at_solution = Options {
        compute_covariance: true,
        max_iterations: 0,
        ..refine
    };
    let (_, rd) = solve_with(&solution, &at_solution, Solver::Dense);
    let (_, ri) = solve_with(&solution, &at_solution, Solver::Iterative);
    assert_eq!(ri.solver, Solver::Iterative);
    eprintln!(
        "dense {:?}\niterative {:?}",
        rd.camera_sigmas, ri.camera_sigmas
    );
    assert_eq!(rd.camera_sigmas.len(), 2);
    assert_eq!(ri.camera_sigmas.len(), 2);
    for (a, b) in rd.camera_sigmas.iter().zip(&ri.camera_sigmas) {
        for (x, y) in a.iter().zip(b) {
            let (Some(x), Some(y)) = (x, y) else {
                panic!("every parameter is refined: {a:?} / {b:?}");
            };
            assert!((x - y).abs() <= 1e-6 * x.abs(), "{x} / {y}");
        }
    }
}

//! Minimal and non-minimal solvers and LO-RANSAC on synthetic correspondences with known
//! geometry, noise and outliers.

use nalgebra::{Matrix3, Rotation3, Vector2, Vector3};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use splat_sfm::geometry::skew;
use splat_sfm::geometry::two_view::{self, Config, Intrinsics, TwoViewOptions};
use splat_sfm::geometry::{essential, fundamental, homography, pose, sampson_sq};

struct Pair {
    r: Matrix3<f64>,
    t: Vector3<f64>,
    /// Normalised coordinates in both views.
    n1: Vec<Vector2<f64>>,
    n2: Vec<Vector2<f64>>,
}

/// Two cameras looking at points 4–8 units in front of the first; `planar` puts every point on
/// one plane.
fn scene(rng: &mut Pcg64, count: usize, planar: bool) -> Pair {
    let r = *Rotation3::from_euler_angles(
        rng.random_range(-0.2..0.2),
        rng.random_range(-0.3..0.3),
        rng.random_range(-0.1..0.1),
    )
    .matrix();
    let t = Vector3::new(
        rng.random_range(-1.0..1.0),
        rng.random_range(-0.3..0.3),
        rng.random_range(-0.2..0.2),
    )
    .normalize();
    let normal = Vector3::new(0.1, -0.2, 1.0).normalize();
    let mut n1 = Vec::new();
    let mut n2 = Vec::new();
    while n1.len() < count {
        let ray = Vector3::new(
            rng.random_range(-0.5..0.5),
            rng.random_range(-0.4..0.4),
            1.0,
        );
        let depth = if planar {
            6.0 / normal.dot(&ray)
        } else {
            rng.random_range(4.0..8.0)
        };
        let x = ray * depth;
        let y = r * x + t;
        if y.z <= 0.1 {
            continue;
        }
        n1.push(Vector2::new(x.x / x.z, x.y / x.z));
        n2.push(Vector2::new(y.x / y.z, y.y / y.z));
    }
    Pair { r, t, n1, n2 }
}

fn same_up_to_scale(a: &Matrix3<f64>, b: &Matrix3<f64>) -> f64 {
    let (a, b) = (a / a.norm(), b / b.norm());
    (a - b).norm().min((a + b).norm())
}

const K: Intrinsics = Intrinsics {
    focal: 800.0,
    cx: 512.0,
    cy: 384.0,
    known_focal: true,
};

fn to_pixels(n: &[Vector2<f64>]) -> Vec<Vector2<f64>> {
    n.iter()
        .map(|p| Vector2::new(K.focal * p.x + K.cx, K.focal * p.y + K.cy))
        .collect()
}

#[test]
fn five_point_recovers_the_essential_matrix() {
    let mut rng = Pcg64::seed_from_u64(1);
    let mut worst: f64 = 0.0;
    for _ in 0..200 {
        let s = scene(&mut rng, 5, false);
        let truth = skew(&s.t) * s.r;
        let sols = essential::five_point(&s.n1, &s.n2);
        let best = sols
            .iter()
            .map(|e| same_up_to_scale(e, &truth))
            .fold(f64::MAX, f64::min);
        worst = worst.max(best);
        for e in &sols {
            for (a, b) in s.n1.iter().zip(&s.n2) {
                assert!(
                    sampson_sq(e, a, b) < 1e-16,
                    "every solution fits the five points"
                );
            }
        }
    }
    assert!(
        worst < 1e-6,
        "worst distance to the true E over 200 problems: {worst:e}"
    );
}

#[test]
fn seven_and_eight_point_recover_the_fundamental_matrix() {
    let mut rng = Pcg64::seed_from_u64(2);
    let k = K.matrix();
    let ki = k.try_inverse().unwrap();
    for _ in 0..100 {
        let s = scene(&mut rng, 40, false);
        let truth = ki.transpose() * skew(&s.t) * s.r * ki;
        let (p1, p2) = (to_pixels(&s.n1), to_pixels(&s.n2));
        let sols = fundamental::seven_point(&p1, &p2);
        let best = sols
            .iter()
            .map(|f| same_up_to_scale(f, &truth))
            .fold(f64::MAX, f64::min);
        assert!(best < 1e-6, "7-point: {best:e}");
        let f8 = fundamental::eight_point(&p1, &p2).unwrap();
        assert!(same_up_to_scale(&f8, &truth) < 1e-6);
        assert!(f8.determinant().abs() < 1e-12, "rank 2");
        let e8 = essential::linear(&s.n1, &s.n2).unwrap();
        assert!(same_up_to_scale(&e8, &(skew(&s.t) * s.r)) < 1e-6);
    }
}

#[test]
fn homography_from_a_plane() {
    let mut rng = Pcg64::seed_from_u64(3);
    for _ in 0..100 {
        let s = scene(&mut rng, 30, true);
        let (p1, p2) = (to_pixels(&s.n1), to_pixels(&s.n2));
        let h4 = homography::dlt(&p1[..4], &p2[..4]).unwrap();
        let hn = homography::dlt(&p1, &p2).unwrap();
        for (a, b) in p1.iter().zip(&p2) {
            let e = homography::transfer_sq(&h4, a, b);
            assert!(e < 1e-12, "{e:e}");
            assert!(homography::transfer_sq(&hn, a, b) < 1e-12);
        }
    }
}

#[test]
fn relative_pose_is_the_cheiral_decomposition() {
    let mut rng = Pcg64::seed_from_u64(4);
    for _ in 0..50 {
        let s = scene(&mut rng, 30, false);
        let e = skew(&s.t) * s.r * 3.7;
        let p = pose::relative_pose(&e, &s.n1, &s.n2).unwrap();
        assert_eq!(p.in_front, 30);
        assert!((p.rotation - s.r).norm() < 1e-9);
        assert!((p.translation - s.t).norm() < 1e-9);
    }
}

fn rotation_error_deg(a: &Matrix3<f64>, b: &Matrix3<f64>) -> f64 {
    let c = ((a.transpose() * b).trace() - 1.0) / 2.0;
    c.clamp(-1.0, 1.0).acos().to_degrees()
}

/// Pixel correspondences with 0.5 px noise, and `outliers` fraction of random pairs.
fn noisy(
    rng: &mut Pcg64,
    s: &Pair,
    outliers: f64,
) -> (Vec<Vector2<f64>>, Vec<Vector2<f64>>, Vec<bool>) {
    let (mut p1, mut p2) = (to_pixels(&s.n1), to_pixels(&s.n2));
    let mut good = Vec::new();
    for (a, b) in p1.iter_mut().zip(p2.iter_mut()) {
        let mut n = || Vector2::new(rng.random_range(-0.5..0.5), rng.random_range(-0.5..0.5));
        *a += n();
        *b += n();
        let out = rng.random_bool(outliers);
        if out {
            *b = Vector2::new(rng.random_range(0.0..1024.0), rng.random_range(0.0..768.0));
        }
        good.push(!out);
    }
    (p1, p2, good)
}

#[test]
fn verification_finds_the_inliers_and_the_pose_among_outliers() {
    let mut rng = Pcg64::seed_from_u64(5);
    for trial in 0..10 {
        let s = scene(&mut rng, 400, false);
        let (p1, p2, good) = noisy(&mut rng, &s, 0.4);
        let g = two_view::verify(&K, &K, &p1, &p2, &TwoViewOptions::default(), trial)
            .expect("within the time limit");
        assert_eq!(
            g.config,
            Config::Calibrated,
            "trial {trial}: E {} F {} H {}",
            g.e_inliers,
            g.f_inliers,
            g.h_inliers
        );
        let true_inliers = good.iter().filter(|&&b| b).count();
        let found_good = g.inliers.iter().filter(|&&i| good[i]).count();
        assert!(
            found_good as f64 >= 0.97 * true_inliers as f64,
            "trial {trial}: {found_good}/{true_inliers}"
        );
        // An outlier can fall near its epipolar line by chance; only a few may.
        assert!(
            g.inliers.len() - found_good <= true_inliers / 20,
            "trial {trial}: too many outliers kept"
        );
        let r = g.rotation.unwrap().to_rotation_matrix();
        let err = rotation_error_deg(r.matrix(), &s.r);
        eprintln!(
            "trial {trial}: rotation error {err:.3}°, t {:?}, inliers {}",
            s.t,
            g.inliers.len()
        );
        assert!(err < 0.2, "trial {trial}: rotation off by {err}°");
        let t = g.translation.unwrap();
        assert!(
            t.dot(&s.t).acos().to_degrees() < 3.0,
            "trial {trial}: translation direction"
        );
    }
}

#[test]
fn a_planar_scene_is_reported_planar_and_f_works_without_a_good_focal() {
    let mut rng = Pcg64::seed_from_u64(6);
    let s = scene(&mut rng, 300, true);
    let (p1, p2, _) = noisy(&mut rng, &s, 0.2);
    let g = two_view::verify(&K, &K, &p1, &p2, &TwoViewOptions::default(), 7)
        .expect("within the time limit");
    assert_eq!(g.config, Config::PlanarOrPanoramic);
    // A focal prior 40 % off: E explains far fewer matches than F, so the pair is uncalibrated.
    let s = scene(&mut rng, 400, false);
    let (p1, p2, good) = noisy(&mut rng, &s, 0.3);
    let wrong = Intrinsics {
        focal: 480.0,
        known_focal: false,
        ..K
    };
    let g = two_view::verify(&wrong, &wrong, &p1, &p2, &TwoViewOptions::default(), 8)
        .expect("within the time limit");
    assert_eq!(
        g.config,
        Config::Uncalibrated,
        "E {} F {}",
        g.e_inliers,
        g.f_inliers
    );
    let found_good = g.inliers.iter().filter(|&&i| good[i]).count();
    assert!(found_good as f64 >= 0.95 * good.iter().filter(|&&b| b).count() as f64);
}

#[test]
fn ransac_is_repeatable_for_a_seed() {
    let mut rng = Pcg64::seed_from_u64(9);
    let s = scene(&mut rng, 200, false);
    let (p1, p2, _) = noisy(&mut rng, &s, 0.5);
    let a = two_view::verify(&K, &K, &p1, &p2, &TwoViewOptions::default(), 11)
        .expect("within the time limit");
    let b = two_view::verify(&K, &K, &p1, &p2, &TwoViewOptions::default(), 11)
        .expect("within the time limit");
    assert_eq!(a, b);
}

//! Checks a minimal sample before its solver runs: non-finite coordinates, two points at one
//! place (SIFT keeps up to two orientations per location, so duplicate positions are common),
//! and points on one line where the solver needs them in general position. A sample that fails
//! is refused and counted (`linalg::Counts::degenerate_samples`), never solved: its model would
//! be arbitrary, and its matrices are the kind iterative decompositions stall on.

use crate::linalg;
use nalgebra::{Vector2, Vector3};

/// Relative size below which two points coincide, or a spread is flat.
const RELATIVE: f64 = 1e-9;

fn refuse() -> bool {
    linalg::record(|c| c.degenerate_samples += 1);
    true
}

fn scale2(points: &[Vector2<f64>]) -> f64 {
    points
        .iter()
        .fold(0f64, |m, p| m.max(p.x.abs()).max(p.y.abs()))
        .max(f64::MIN_POSITIVE)
}

fn coincident2(points: &[Vector2<f64>]) -> bool {
    let tol = RELATIVE * scale2(points);
    points
        .iter()
        .enumerate()
        .any(|(i, a)| points[i + 1..].iter().any(|b| (a - b).norm() <= tol))
}

/// Whether all the points lie on one line: the smaller eigenvalue of their 2×2 scatter is
/// (nearly) zero next to the larger.
fn collinear2(points: &[Vector2<f64>]) -> bool {
    let n = points.len() as f64;
    let mean = points.iter().sum::<Vector2<f64>>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for p in points {
        let d = p - mean;
        sxx += d.x * d.x;
        sxy += d.x * d.y;
        syy += d.y * d.y;
    }
    let half_trace = 0.5 * (sxx + syy);
    let root = (0.25 * (sxx - syy) * (sxx - syy) + sxy * sxy).sqrt();
    let (small, large) = (half_trace - root, half_trace + root);
    large <= 0.0 || small <= RELATIVE * RELATIVE * large
}

/// Whether any three of the points lie on one line (a homography needs four in general
/// position).
fn three_collinear2(points: &[Vector2<f64>]) -> bool {
    let n = points.len();
    for i in 0..n {
        for j in i + 1..n {
            for k in j + 1..n {
                let (u, v) = (points[j] - points[i], points[k] - points[i]);
                let cross = u.x * v.y - u.y * v.x;
                if cross.abs() <= RELATIVE * u.norm() * v.norm() {
                    return true;
                }
            }
        }
    }
    false
}

fn finite2(points: &[Vector2<f64>]) -> bool {
    points.iter().all(|p| p.x.is_finite() && p.y.is_finite())
}

/// An epipolar sample (5-point E, 7-point F): refused when a coordinate is not finite, two
/// points coincide in either image, or either image's points are collinear.
pub fn epipolar_sample(p1: &[Vector2<f64>], p2: &[Vector2<f64>]) -> bool {
    if !finite2(p1) || !finite2(p2) {
        return refuse();
    }
    if coincident2(p1) || coincident2(p2) || collinear2(p1) || collinear2(p2) {
        return refuse();
    }
    false
}

/// A four-point homography sample: refused as `epipolar_sample`, or when any three points
/// are collinear in either image.
pub fn homography_sample(p1: &[Vector2<f64>], p2: &[Vector2<f64>]) -> bool {
    if epipolar_sample(p1, p2) {
        return true;
    }
    if three_collinear2(p1) || three_collinear2(p2) {
        return refuse();
    }
    false
}

/// A P3P sample: refused when a value is not finite, two world points coincide, the three
/// are collinear, or two bearings are parallel.
pub fn p3p_sample(bearings: &[Vector3<f64>; 3], points: &[Vector3<f64>; 3]) -> bool {
    let finite = |v: &Vector3<f64>| v.iter().all(|x| x.is_finite());
    if !bearings.iter().all(finite) || !points.iter().all(finite) {
        return refuse();
    }
    let (u, v) = (points[1] - points[0], points[2] - points[0]);
    let w = points[2] - points[1];
    let longest = u.norm().max(v.norm()).max(w.norm());
    if longest == 0.0 || u.norm().min(v.norm()).min(w.norm()) <= RELATIVE * longest {
        return refuse();
    }
    if u.cross(&v).norm() <= RELATIVE * u.norm() * v.norm() {
        return refuse();
    }
    for i in 0..3 {
        for j in i + 1..3 {
            let (a, b) = (bearings[i], bearings[j]);
            if a.cross(&b).norm() <= RELATIVE * a.norm() * b.norm() {
                return refuse();
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(f64, f64)]) -> Vec<Vector2<f64>> {
        v.iter().map(|&(x, y)| Vector2::new(x, y)).collect()
    }

    #[test]
    fn refuses_what_it_should_and_nothing_else() {
        let good = pts(&[
            (0.1, 0.2),
            (-0.3, 0.5),
            (0.7, -0.1),
            (0.2, 0.9),
            (-0.6, -0.4),
        ]);
        assert!(!epipolar_sample(&good, &good));
        let mut dup = good.clone();
        dup[3] = dup[1];
        assert!(epipolar_sample(&good, &dup));
        let line = pts(&[(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (-1.0, -1.0), (0.5, 0.5)]);
        assert!(epipolar_sample(&line, &good));
        let mut nan = good.clone();
        nan[0].x = f64::NAN;
        assert!(epipolar_sample(&nan, &good));
        let square = pts(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]);
        assert!(!homography_sample(&square, &square));
        let three = pts(&[(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (0.0, 1.0)]);
        assert!(homography_sample(&square, &three));
        let x = [
            Vector3::new(0.0, 0.0, 5.0),
            Vector3::new(1.0, 0.0, 5.0),
            Vector3::new(0.0, 1.0, 5.0),
        ];
        let f = x.map(|p| p.normalize());
        assert!(!p3p_sample(&f, &x));
        let on_line = [x[0], x[1], Vector3::new(2.0, 0.0, 5.0)];
        assert!(p3p_sample(&f, &on_line));
        assert!(p3p_sample(&[f[0], f[0], f[2]], &x));
    }
}

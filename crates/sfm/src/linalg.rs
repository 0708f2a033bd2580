//! Bounded linear algebra for the solvers: nalgebra's iterative decompositions (SVD, symmetric
//! eigen, Schur, nearest rotation) run with an iteration cap and only on finite input, and the
//! real roots of polynomials and of small matrices found by bracketing, which always ends.
//!
//! nalgebra's convenience forms (`svd()`, `symmetric_eigen()`, `complex_eigenvalues()`,
//! `eigenvalues()`, `schur()`, `singular_values()`, `Rotation3::from_matrix`) iterate with no
//! limit, and the Francis step of its Schur decomposition has no exceptional shifts: on a NaN,
//! or on eigenvalues that come in ± pairs (a cyclic companion matrix, the action matrix of
//! some minimal samples), it never converges and the caller spins forever. The workspace's
//! `clippy.toml` forbids those forms; every decomposition goes through this module.
//!
//! Capped runs give bit-for-bit the result of the uncapped forms whenever those converge
//! within the cap (the same tolerance, the same arithmetic). What fails is counted per thread
//! (`counts`), so a caller can report how many samples a pair rejected.

use nalgebra::allocator::Allocator;
use nalgebra::{
    Complex, DMatrix, DefaultAllocator, Dim, DimDiff, DimMin, DimMinimum, DimSub, Hessenberg,
    Matrix3, OMatrix, OVector, Rotation3, SVD, Schur, SymmetricEigen, U1,
};
use std::cell::Cell;

/// Iterations allowed per row of the matrix, more than LAPACK allows its QR iterations (30 per
/// eigenvalue in `dhseqr`).
pub const ITERATIONS_PER_ROW: usize = 100;

/// The tolerances nalgebra's convenience forms use (`SVD::new` 5ε, the others ε), kept so that
/// results do not move.
const EPS: f64 = f64::EPSILON;
const SVD_EPS: f64 = 5.0 * f64::EPSILON;

/// Iterations allowed to the nearest-rotation fixed point (a matrix far from a rotation
/// converges slowly; each iteration costs a few dozen flops).
const ROTATION_ITERATIONS: usize = 10_000;

/// What went wrong in the solvers on this thread so far (see `counts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Decompositions refused because their input held a NaN or an infinity.
    pub non_finite: u64,
    /// Decompositions that reached their iteration cap.
    pub not_converged: u64,
    /// Of those, eigenvalue problems answered instead by the bracketing fallback.
    pub recovered: u64,
    /// Minimal samples refused as degenerate before their solver ran.
    pub degenerate_samples: u64,
}

impl Counts {
    /// What happened between `earlier` and `self` (both from `counts` on one thread).
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            non_finite: self.non_finite - earlier.non_finite,
            not_converged: self.not_converged - earlier.not_converged,
            recovered: self.recovered - earlier.recovered,
            degenerate_samples: self.degenerate_samples - earlier.degenerate_samples,
        }
    }

    pub fn add(&mut self, other: &Counts) {
        self.non_finite += other.non_finite;
        self.not_converged += other.not_converged;
        self.recovered += other.recovered;
        self.degenerate_samples += other.degenerate_samples;
    }

    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

thread_local! {
    static COUNTS: Cell<Counts> = const { Cell::new(Counts { non_finite: 0, not_converged: 0, recovered: 0, degenerate_samples: 0 }) };
    static LAST_FAILURE: std::cell::RefCell<Option<DMatrix<f64>>> = const { std::cell::RefCell::new(None) };
}

/// The input of this thread's latest decomposition that reached its cap, for capturing the
/// matrices that stall (regression tests, bug reports).
pub fn last_not_converged() -> Option<DMatrix<f64>> {
    LAST_FAILURE.with(|f| f.borrow().clone())
}

/// This thread's running totals (take the difference around a piece of work with `since`).
pub fn counts() -> Counts {
    COUNTS.with(Cell::get)
}

pub(crate) fn record(f: impl FnOnce(&mut Counts)) {
    COUNTS.with(|c| {
        let mut v = c.get();
        f(&mut v);
        c.set(v);
    });
}

fn all_finite<R: Dim, C: Dim>(m: &OMatrix<f64, R, C>) -> bool
where
    DefaultAllocator: Allocator<R, C>,
{
    let ok = m.iter().all(|v| v.is_finite());
    if !ok {
        record(|c| c.non_finite += 1);
    }
    ok
}

fn cap(rows: usize) -> usize {
    ITERATIONS_PER_ROW * rows.max(1)
}

fn not_converged<T, R: Dim, C: Dim>(result: Option<T>, input: &OMatrix<f64, R, C>) -> Option<T>
where
    DefaultAllocator: Allocator<R, C>,
{
    if result.is_none() {
        record(|c| c.not_converged += 1);
        let copy = DMatrix::from_iterator(input.nrows(), input.ncols(), input.iter().copied());
        LAST_FAILURE.with(|f| *f.borrow_mut() = Some(copy));
    }
    result
}

/// The singular value decomposition (sorted descending, as `Matrix::svd`), or `None` for a
/// non-finite matrix or one that does not converge within the cap.
pub fn svd<R, C>(m: OMatrix<f64, R, C>, compute_u: bool, compute_v: bool) -> Option<SVD<f64, R, C>>
where
    R: DimMin<C>,
    C: Dim,
    DimMinimum<R, C>: DimSub<U1>,
    DefaultAllocator: Allocator<R, C>
        + Allocator<C>
        + Allocator<R>
        + Allocator<DimDiff<DimMinimum<R, C>, U1>>
        + Allocator<DimMinimum<R, C>, C>
        + Allocator<R, DimMinimum<R, C>>
        + Allocator<DimMinimum<R, C>>,
{
    if !all_finite(&m) {
        return None;
    }
    let n = m.nrows().max(m.ncols());
    // nalgebra 0.34 solves a static 3×3 through the eigenvectors of MᵀM and hands a result
    // that did not converge through a transmute of `Option<SVD>` into `SVD` (undefined
    // behaviour). Run that eigenproblem first with the same tolerance and cap: the SVD below
    // then repeats a computation known to converge.
    if let Some(m3) = (&m as &dyn std::any::Any).downcast_ref::<Matrix3<f64>>()
        && not_converged(m3.tr_mul(m3).try_symmetric_eigen(SVD_EPS, cap(3)), m3).is_none()
    {
        return None;
    }
    let input = m.clone();
    not_converged(
        SVD::try_new(m, compute_u, compute_v, SVD_EPS, cap(n)),
        &input,
    )
}

/// The singular values of a 3×3 matrix, descending.
pub fn singular_values3(m: &Matrix3<f64>) -> Option<nalgebra::Vector3<f64>> {
    svd(*m, false, false).map(|s| s.singular_values)
}

/// Eigenvalues and eigenvectors of a symmetric matrix (its lower triangle is read).
pub fn symmetric_eigen<D>(m: OMatrix<f64, D, D>) -> Option<SymmetricEigen<f64, D>>
where
    D: DimSub<U1>,
    DefaultAllocator: Allocator<D, D> + Allocator<D> + Allocator<DimDiff<D, U1>>,
{
    if !all_finite(&m) {
        return None;
    }
    let n = m.nrows();
    let input = m.clone();
    not_converged(SymmetricEigen::try_new(m, EPS, cap(n)), &input)
}

/// The eigenvalues of a general square matrix, by the real Schur form.
pub fn complex_eigenvalues<D>(m: OMatrix<f64, D, D>) -> Option<OVector<Complex<f64>, D>>
where
    D: DimSub<U1>,
    DefaultAllocator:
        Allocator<D, DimDiff<D, U1>> + Allocator<DimDiff<D, U1>> + Allocator<D, D> + Allocator<D>,
{
    if !all_finite(&m) {
        return None;
    }
    let n = m.nrows();
    let input = m.clone();
    not_converged(Schur::try_new(m, EPS, cap(n)), &input).map(|s| s.complex_eigenvalues())
}

/// The real eigenvalues of a square matrix: by the Schur form (in its order), or where that
/// does not converge, as the real roots (ascending) of the characteristic polynomial (Hessenberg
/// reduction, then bracketing), which always ends. Eigenvalues whose imaginary part is within
/// `imaginary_tolerance` of zero count as real.
pub fn real_eigenvalues<D>(m: &OMatrix<f64, D, D>, imaginary_tolerance: f64) -> Option<Vec<f64>>
where
    D: DimSub<U1>,
    DefaultAllocator:
        Allocator<D, DimDiff<D, U1>> + Allocator<DimDiff<D, U1>> + Allocator<D, D> + Allocator<D>,
{
    eigenvalues_or_roots(
        m.clone(),
        |z| z.im.abs() <= imaginary_tolerance,
        || characteristic_polynomial(m),
    )
}

/// The real roots of a polynomial (coefficients lowest degree first) given with its companion
/// matrix: the companion's eigenvalues that `is_real` keeps, or the bracketed roots of the
/// coefficients where the Schur form does not converge (companions whose roots share one
/// modulus stall the Francis step). Empty for a companion that is not finite.
pub fn companion_real_roots<D>(
    companion: OMatrix<f64, D, D>,
    coefficients: &[f64],
    is_real: impl Fn(&Complex<f64>) -> bool,
) -> Vec<f64>
where
    D: DimSub<U1>,
    DefaultAllocator:
        Allocator<D, DimDiff<D, U1>> + Allocator<DimDiff<D, U1>> + Allocator<D, D> + Allocator<D>,
{
    eigenvalues_or_roots(companion, is_real, || coefficients.to_vec()).unwrap_or_default()
}

/// The eigenvalues of `m` that `is_real` keeps (real parts, by the Schur form), or where that
/// does not converge the real roots of `polynomial()`, m's characteristic polynomial, counted
/// as recovered. `None` for a matrix that is not finite.
fn eigenvalues_or_roots<D>(
    m: OMatrix<f64, D, D>,
    is_real: impl Fn(&Complex<f64>) -> bool,
    polynomial: impl FnOnce() -> Vec<f64>,
) -> Option<Vec<f64>>
where
    D: DimSub<U1>,
    DefaultAllocator:
        Allocator<D, DimDiff<D, U1>> + Allocator<DimDiff<D, U1>> + Allocator<D, D> + Allocator<D>,
{
    if !all_finite(&m) {
        return None;
    }
    let n = m.nrows();
    let input = m.clone();
    if let Some(schur) = not_converged(Schur::try_new(m, EPS, cap(n)), &input) {
        let values = schur.complex_eigenvalues();
        return Some(values.iter().filter(|z| is_real(z)).map(|z| z.re).collect());
    }
    record(|c| c.recovered += 1);
    Some(real_roots(&polynomial()))
}

/// det(x·I − M), coefficients lowest degree first, from the Hessenberg form H of M by the
/// recurrence over its leading blocks: p₀ = 1,
/// pₖ = (x − hₖₖ)·pₖ₋₁ − Σᵢ₍ᵢ<ₖ₎ hᵢₖ·(Πⱼ₌ᵢ₊₁..ₖ hⱼ,ⱼ₋₁)·pᵢ₋₁ (1-based).
pub fn characteristic_polynomial<D>(m: &OMatrix<f64, D, D>) -> Vec<f64>
where
    D: DimSub<U1>,
    DefaultAllocator: Allocator<D, D> + Allocator<D> + Allocator<DimDiff<D, U1>>,
{
    let n = m.nrows();
    let h = Hessenberg::new(m.clone()).unpack_h();
    // p[k] has degree k.
    let mut p: Vec<Vec<f64>> = vec![vec![1.0]];
    for k in 1..=n {
        let hk = |i: usize, j: usize| h[(i - 1, j - 1)];
        let mut next = vec![0.0; k + 1];
        // (x − hₖₖ)·pₖ₋₁
        for (d, &c) in p[k - 1].iter().enumerate() {
            next[d + 1] += c;
            next[d] -= hk(k, k) * c;
        }
        let mut product = 1.0;
        for i in (1..k).rev() {
            product *= hk(i + 1, i);
            let factor = hk(i, k) * product;
            for (d, &c) in p[i - 1].iter().enumerate() {
                next[d] -= factor * c;
            }
        }
        p.push(next);
    }
    p.pop().unwrap_or_else(|| vec![1.0])
}

/// The rotation nearest to `m`, or `None` for a non-finite matrix (or an SVD that does not
/// converge). A well-scaled, well-conditioned `m` goes through nalgebra's
/// `Rotation3::from_matrix` (capped); any other through the SVD's polar factor. nalgebra's
/// iteration has an inner loop without a cap that spins where a small rotation does not change
/// ‖m − R‖ at all: a zero matrix, or entries so large (1e38, as a damaged Strecha file had)
/// that subtracting a rotation leaves them unchanged.
pub fn nearest_rotation(m: &Matrix3<f64>) -> Option<Rotation3<f64>> {
    // The polar factor does not change with a positive scale: take the SVD of m scaled to unit
    // largest entry, which cannot overflow.
    let largest = m.amax();
    if !largest.is_finite() {
        return None;
    }
    if largest == 0.0 {
        return Some(Rotation3::identity());
    }
    let s = svd(m / largest, true, true)?;
    let sv = s.singular_values;
    if (1e-6..=1e6).contains(&largest) && sv.min() > 1e-3 * sv.max() {
        return Some(Rotation3::from_matrix_eps(
            m,
            EPS,
            ROTATION_ITERATIONS,
            Rotation3::identity(),
        ));
    }
    let (u, v_t) = (s.u?, s.v_t?);
    // Flip the direction of the smallest singular value where U·Vᵀ would be a reflection.
    let mut d = Matrix3::identity();
    if (u * v_t).determinant() < 0.0 {
        d[(sv.imin(), sv.imin())] = -1.0;
    }
    Some(Rotation3::from_matrix_unchecked(u * d * v_t))
}

/// Steps allowed to narrow one root's bracket (bisection alone needs ~60 for any double).
const ROOT_STEPS: usize = 200;

/// Evaluates a polynomial (lowest degree first) at `x`.
pub fn eval_poly(c: &[f64], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &k| acc * x + k)
}

/// The real roots of a polynomial (coefficients lowest degree first), ascending, a multiple
/// root once. Each lies between two neighbouring roots of the derivative (found the same way)
/// or the Cauchy bound; a sign change there is narrowed by Newton steps kept inside the
/// bracket (bisection where a step leaves it), at most `ROOT_STEPS` each; a derivative root
/// where the polynomial vanishes to rounding is a multiple root. Non-finite coefficients give
/// no roots. Companion-matrix methods are avoided: their QR iteration is what can spin.
pub fn real_roots(coefficients: &[f64]) -> Vec<f64> {
    if coefficients.iter().any(|c| !c.is_finite()) {
        return Vec::new();
    }
    let scale = coefficients.iter().fold(0f64, |m, c| m.max(c.abs()));
    if scale == 0.0 {
        return Vec::new();
    }
    // Drop leading coefficients that are zero next to the others.
    let mut degree = coefficients.len() - 1;
    while degree > 0 && coefficients[degree].abs() <= 1e-14 * scale {
        degree -= 1;
    }
    let lead = coefficients[degree];
    let c: Vec<f64> = coefficients[..=degree].iter().map(|v| v / lead).collect();
    monic_real_roots(&c)
}

fn monic_real_roots(c: &[f64]) -> Vec<f64> {
    let degree = c.len() - 1;
    match degree {
        0 => return Vec::new(),
        1 => return vec![-c[0]],
        _ => {}
    }
    let bound = 1.0 + c[..degree].iter().fold(0f64, |m, v| m.max(v.abs()));
    let derivative: Vec<f64> = (1..=degree)
        .map(|i| i as f64 * c[i] / degree as f64)
        .collect();
    let mut breaks = vec![-bound];
    breaks.extend(
        monic_real_roots(&derivative)
            .into_iter()
            .filter(|x| x.abs() < bound),
    );
    breaks.push(bound);
    let rounding = |x: f64| {
        let mut magnitude = 0.0;
        let mut power = 1.0;
        for v in c {
            magnitude += v.abs() * power;
            power *= x.abs();
        }
        16.0 * f64::EPSILON * magnitude
    };
    let mut roots: Vec<f64> = Vec::new();
    let push = |roots: &mut Vec<f64>, x: f64| {
        let close = roots
            .last()
            .is_some_and(|&last| (x - last).abs() <= 1e-12 * (1.0 + x.abs()));
        if !close {
            roots.push(x);
        }
    };
    for (k, pair) in breaks.windows(2).enumerate() {
        let (a, b) = (pair[0], pair[1]);
        let (fa, fb) = (eval_poly(c, a), eval_poly(c, b));
        if k > 0 && fa.abs() <= rounding(a) {
            push(&mut roots, a);
            continue;
        }
        if fa.signum() != fb.signum() && fb != 0.0 {
            push(&mut roots, bracketed_root(c, a, b, fa));
        }
    }
    roots
}

/// A root of `c` in [a, b], where c(a) = fa and c(b) have opposite signs.
fn bracketed_root(c: &[f64], mut a: f64, mut b: f64, mut fa: f64) -> f64 {
    let derivative = |x: f64| {
        (1..c.len())
            .rev()
            .fold(0.0, |acc, i| acc * x + i as f64 * c[i])
    };
    let mut x = 0.5 * (a + b);
    for _ in 0..ROOT_STEPS {
        let fx = eval_poly(c, x);
        if fx == 0.0 {
            return x;
        }
        if fx.signum() == fa.signum() {
            a = x;
            fa = fx;
        } else {
            b = x;
        }
        if (b - a).abs() <= 2.0 * f64::EPSILON * a.abs().max(b.abs()) {
            break;
        }
        let d = derivative(x);
        let newton = x - fx / d;
        x = if d != 0.0 && newton > a && newton < b {
            newton
        } else {
            0.5 * (a + b)
        };
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Matrix4, SMatrix};

    #[test]
    fn roots_of_known_polynomials() {
        // (x − 1)(x + 2)(x − 3) = x³ − 2x² − 5x + 6
        let r = real_roots(&[6.0, -5.0, -2.0, 1.0]);
        assert_eq!(r.len(), 3, "{r:?}");
        for (got, want) in r.iter().zip([-2.0, 1.0, 3.0]) {
            assert!((got - want).abs() < 1e-12, "{r:?}");
        }
        // x² + 1: none; x³ − 1: one; (x − 2)²: one double root.
        assert!(real_roots(&[1.0, 0.0, 1.0]).is_empty());
        let r = real_roots(&[-1.0, 0.0, 0.0, 1.0]);
        assert!(r.len() == 1 && (r[0] - 1.0).abs() < 1e-14, "{r:?}");
        let r = real_roots(&[4.0, -4.0, 1.0]);
        assert!(r.len() == 1 && (r[0] - 2.0).abs() < 1e-7, "{r:?}");
        assert!(real_roots(&[f64::NAN, 1.0]).is_empty());
        assert!(real_roots(&[0.0, 0.0]).is_empty());
    }

    #[test]
    fn characteristic_polynomial_matches_the_eigenvalues() {
        // A 4×4 with eigenvalues 1, 2, −3, 5 in a random basis.
        let q = Matrix4::new(
            0.5, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, -0.5, 0.5, 0.5, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5,
        );
        let s = Matrix4::new(
            1.0, 0.3, -0.2, 0.7, 0.0, 2.0, 0.4, 0.1, 0.0, 0.0, -3.0, 0.9, 0.0, 0.0, 0.0, 5.0,
        );
        let m = q * s * q.transpose();
        let p = characteristic_polynomial(&m);
        // (x − 1)(x − 2)(x + 3)(x − 5) = x⁴ − 5x³ − 7x² + 41x − 30
        for (got, want) in p.iter().zip([-30.0, 41.0, -7.0, -5.0, 1.0]) {
            assert!((got - want).abs() < 1e-12, "{p:?}");
        }
        let mut r = real_eigenvalues(&SMatrix::<f64, 4, 4>::from(m), 1e-9).unwrap();
        r.sort_by(f64::total_cmp);
        for (got, want) in r.iter().zip([-3.0, 1.0, 2.0, 5.0]) {
            assert!((got - want).abs() < 1e-10, "{r:?}");
        }
    }
}

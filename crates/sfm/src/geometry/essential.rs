//! The essential matrix from five calibrated correspondences (Stewénius, Engels & Nistér 2006:
//! the ten cubic constraints reduced by Gauss–Jordan elimination, then the eigenvectors of the
//! action matrix for multiplication by x), and from eight or more by the linear method
//! projected onto the essential manifold. The samples are checked for degeneracy first, and
//! every decomposition is capped (`linalg`): where the action matrix's Schur form does not
//! converge, its real eigenvalues come from the characteristic polynomial instead.

use super::{degenerate, epipolar_row, null_space, smallest_right_vector};
use crate::linalg;
use nalgebra::{Matrix3, SMatrix, Vector2};

/// Polynomials in x, y, z of degree ≤ 3 as 20 coefficients, monomials in graded reverse
/// lexicographic order: the ten cubics first, then x², xy, xz, y², yz, z², x, y, z, 1.
type Poly = [f64; 20];

const MONOMIALS: [(u8, u8, u8); 20] = [
    (3, 0, 0),
    (2, 1, 0),
    (2, 0, 1),
    (1, 2, 0),
    (1, 1, 1),
    (1, 0, 2),
    (0, 3, 0),
    (0, 2, 1),
    (0, 1, 2),
    (0, 0, 3),
    (2, 0, 0),
    (1, 1, 0),
    (1, 0, 1),
    (0, 2, 0),
    (0, 1, 1),
    (0, 0, 2),
    (1, 0, 0),
    (0, 1, 0),
    (0, 0, 1),
    (0, 0, 0),
];

/// Where the product of monomials `i` and `j` sits in `MONOMIALS` (`NONE` past degree 3): a
/// table, because `mul` runs a few thousand times per five-point sample.
const PRODUCT: [[u8; 20]; 20] = {
    let mut table = [[NONE; 20]; 20];
    let mut i = 0;
    while i < 20 {
        let mut j = 0;
        while j < 20 {
            let (a, b) = (MONOMIALS[i], MONOMIALS[j]);
            let sum = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
            let mut k = 0;
            while k < 20 {
                let m = MONOMIALS[k];
                if m.0 == sum.0 && m.1 == sum.1 && m.2 == sum.2 {
                    table[i][j] = k as u8;
                }
                k += 1;
            }
            j += 1;
        }
        i += 1;
    }
    table
};
const NONE: u8 = u8::MAX;

fn mul(a: &Poly, b: &Poly) -> Poly {
    // The factors are sparse (a linear polynomial has 4 of 20 coefficients): visit b's
    // non-zero terms only.
    let mut terms = [(0usize, 0.0f64); 20];
    let mut count = 0;
    for (j, &cb) in b.iter().enumerate() {
        if cb != 0.0 {
            terms[count] = (j, cb);
            count += 1;
        }
    }
    let mut out = [0.0; 20];
    for (i, &ca) in a.iter().enumerate() {
        if ca == 0.0 {
            continue;
        }
        for &(j, cb) in &terms[..count] {
            let k = PRODUCT[i][j];
            assert!(
                k != NONE,
                "callers multiply polynomials of degree at most 3"
            );
            out[usize::from(k)] += ca * cb;
        }
    }
    out
}

fn add(a: &Poly, b: &Poly, scale: f64) -> Poly {
    let mut out = *a;
    for (o, v) in out.iter_mut().zip(b) {
        *o += scale * v;
    }
    out
}

#[allow(clippy::needless_range_loop)] // matrix algebra reads best with explicit indices
/// Essential matrices (up to 10) consistent with five correspondences in normalised image
/// coordinates (x = K⁻¹·pixel).
pub fn five_point(p1: &[Vector2<f64>], p2: &[Vector2<f64>]) -> Vec<Matrix3<f64>> {
    if p1.len() < 5 || p2.len() < 5 || degenerate::epipolar_sample(&p1[..5], &p2[..5]) {
        return Vec::new();
    }
    let rows: Vec<[f64; 9]> = (0..5).map(|i| epipolar_row(&p1[i], &p2[i])).collect();
    let basis = null_space(&rows, 4);
    if basis.len() < 4 {
        return Vec::new();
    }
    // E = x·X + y·Y + z·Z + W, entry by entry as linear polynomials.
    let mut e = [[[0.0; 20]; 3]; 3];
    for r in 0..3 {
        for c in 0..3 {
            let k = 3 * r + c;
            e[r][c][16] = basis[0][k];
            e[r][c][17] = basis[1][k];
            e[r][c][18] = basis[2][k];
            e[r][c][19] = basis[3][k];
        }
    }
    let mut equations: Vec<Poly> = Vec::with_capacity(10);
    // det(E) = 0.
    let minor = |a: usize, b: usize, c: usize, d: usize| {
        add(&mul(&e[1][a], &e[2][b]), &mul(&e[1][c], &e[2][d]), -1.0)
    };
    let det = add(
        &add(
            &mul(&e[0][0], &minor(1, 2, 2, 1)),
            &mul(&e[0][1], &minor(0, 2, 2, 0)),
            -1.0,
        ),
        &mul(&e[0][2], &minor(0, 1, 1, 0)),
        1.0,
    );
    equations.push(det);
    // 2·E·Eᵀ·E − tr(E·Eᵀ)·E = 0.
    let mut eet = [[[0.0; 20]; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            for k in 0..3 {
                eet[i][j] = add(&eet[i][j], &mul(&e[i][k], &e[j][k]), 1.0);
            }
        }
    }
    let trace = add(&add(&eet[0][0], &eet[1][1], 1.0), &eet[2][2], 1.0);
    for i in 0..3 {
        for j in 0..3 {
            let mut p = [0.0; 20];
            for k in 0..3 {
                p = add(&p, &mul(&eet[i][k], &e[k][j]), 2.0);
            }
            equations.push(add(&p, &mul(&trace, &e[i][j]), -1.0));
        }
    }
    let mut c = SMatrix::<f64, 10, 10>::zeros();
    let mut b = SMatrix::<f64, 10, 10>::zeros();
    for (i, eq) in equations.iter().enumerate() {
        for j in 0..10 {
            c[(i, j)] = eq[j];
            b[(i, j)] = eq[10 + j];
        }
    }
    // Each cubic monomial as a combination of the ten lower ones: cubic = −K·lower.
    let Some(k) = c.lu().solve(&b) else {
        return Vec::new();
    };
    // Action of multiplication by x on the basis (x², xy, xz, y², yz, z², x, y, z, 1).
    let mut action = SMatrix::<f64, 10, 10>::zeros();
    for row in 0..6 {
        // x·{x², xy, xz, y², yz, z²} = {x³, x²y, x²z, xy², xyz, xz²}: cubic rows 0..6.
        for col in 0..10 {
            action[(row, col)] = -k[(row, col)];
        }
    }
    action[(6, 0)] = 1.0; // x·x = x²
    action[(7, 1)] = 1.0; // x·y = xy
    action[(8, 2)] = 1.0; // x·z = xz
    action[(9, 6)] = 1.0; // x·1 = x
    let scale = action.norm().max(1.0);
    let Some(eigenvalues) = linalg::real_eigenvalues(&action, 1e-8 * scale) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for lambda in eigenvalues {
        let Some(v) = eigenvector(&action, lambda, scale) else {
            continue;
        };
        if v[9].abs() < 1e-12 {
            continue;
        }
        let (x, y, z) = (v[6] / v[9], v[7] / v[9], v[8] / v[9]);
        let m = basis[0] * x + basis[1] * y + basis[2] * z + basis[3];
        let em = Matrix3::from_row_slice(m.as_slice());
        let norm = em.norm();
        if norm > 0.0 && norm.is_finite() {
            out.push(em / norm);
        }
    }
    out
}

/// A unit eigenvector of `m` for its real eigenvalue `lambda`, by two steps of inverse
/// iteration (LU solves of M − λI, λ nudged off an exact singularity), falling back to the
/// smallest right singular vector of M − λI where those fail. Inverse iteration costs two LU
/// solves of a 10×10 where the SVD costs tens of times more, and a five-point sample has up to
/// ten eigenvalues.
fn eigenvector(m: &SMatrix<f64, 10, 10>, lambda: f64, scale: f64) -> Option<SMatrix<f64, 10, 1>> {
    let identity = SMatrix::<f64, 10, 10>::identity();
    // A fixed start with no special direction (every monomial weighted differently).
    let start = SMatrix::<f64, 10, 1>::from_fn(|i, _| 1.0 + 0.1 * i as f64);
    for nudge in [0.0, 1e-12, -1e-10] {
        let lu = (m - identity * (lambda + nudge * scale)).lu();
        let iterate = |v: &SMatrix<f64, 10, 1>| {
            let w = lu.solve(v)?;
            let n = w.norm();
            (n.is_finite() && n > 0.0).then(|| w / n)
        };
        if let Some(v) = iterate(&start).and_then(|v| iterate(&v)) {
            // Accept only an actual eigenvector (the residual of M·v = λ·v).
            if (m * v - v * lambda).norm() <= 1e-6 * scale {
                return Some(v);
            }
        }
    }
    let svd = linalg::svd(m - identity * lambda, false, true)?;
    let vt = svd.v_t?;
    let (i, _) = svd.singular_values.argmin();
    Some(vt.row(i).transpose())
}

/// The nearest essential matrix (singular values σ, σ, 0) to `m`.
pub fn project_to_essential(m: &Matrix3<f64>) -> Option<Matrix3<f64>> {
    let svd = linalg::svd(*m, true, true)?;
    let (u, vt) = (svd.u?, svd.v_t?);
    // Replace the two largest singular values by their mean and the smallest by zero.
    let (smallest, _) = svd.singular_values.argmin();
    let sigma = 0.5 * (svd.singular_values.sum() - svd.singular_values[smallest]);
    let mut d = nalgebra::Vector3::repeat(sigma);
    d[smallest] = 0.0;
    let e = u * Matrix3::from_diagonal(&d) * vt;
    let n = e.norm();
    (n > 0.0).then(|| e / n)
}

/// Linear estimate from eight or more correspondences, projected to an essential matrix.
pub fn linear(p1: &[Vector2<f64>], p2: &[Vector2<f64>]) -> Option<Matrix3<f64>> {
    if p1.len() < 8 {
        return None;
    }
    let rows: Vec<[f64; 9]> = p1.iter().zip(p2).map(|(a, b)| epipolar_row(a, b)).collect();
    let v = smallest_right_vector(&rows)?;
    project_to_essential(&Matrix3::from_row_slice(v.as_slice()))
}

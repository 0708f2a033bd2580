//! Real spherical harmonics up to degree 3 with the constants and signs of the 3DGS reference
//! code, and their derivatives with respect to the (unit) view direction.

pub const SH_C0: f64 = 0.282_094_791_773_878_14;
pub const SH_C1: f64 = 0.488_602_511_902_919_9;
pub const SH_C2: [f64; 5] = [
    1.092_548_430_592_079_2,
    -1.092_548_430_592_079_2,
    0.315_391_565_252_520_05,
    -1.092_548_430_592_079_2,
    0.546_274_215_296_039_6,
];
pub const SH_C3: [f64; 7] = [
    -0.590_043_589_926_643_5,
    2.890_611_442_640_554,
    -0.457_045_799_464_465_8,
    0.373_176_332_590_115_4,
    -0.457_045_799_464_465_8,
    1.445_305_721_320_277,
    -0.590_043_589_926_643_5,
];

/// Number of SH coefficients per channel for a degree: (degree + 1)².
pub fn coeff_count(degree: u32) -> usize {
    ((degree + 1) * (degree + 1)) as usize
}

/// The basis values for direction (x, y, z) and their gradients d/d(x, y, z), for the first
/// `coeff_count(degree)` functions.
pub fn basis(degree: u32, d: [f64; 3]) -> (Vec<f64>, Vec<[f64; 3]>) {
    let [x, y, z] = d;
    let mut v = vec![SH_C0];
    let mut g = vec![[0.0; 3]];
    if degree >= 1 {
        v.extend([-SH_C1 * y, SH_C1 * z, -SH_C1 * x]);
        g.extend([[0.0, -SH_C1, 0.0], [0.0, 0.0, SH_C1], [-SH_C1, 0.0, 0.0]]);
    }
    if degree >= 2 {
        let (xx, yy, zz) = (x * x, y * y, z * z);
        let c = SH_C2;
        v.extend([
            c[0] * x * y,
            c[1] * y * z,
            c[2] * (2.0 * zz - xx - yy),
            c[3] * x * z,
            c[4] * (xx - yy),
        ]);
        g.extend([
            [c[0] * y, c[0] * x, 0.0],
            [0.0, c[1] * z, c[1] * y],
            [-2.0 * c[2] * x, -2.0 * c[2] * y, 4.0 * c[2] * z],
            [c[3] * z, 0.0, c[3] * x],
            [2.0 * c[4] * x, -2.0 * c[4] * y, 0.0],
        ]);
    }
    if degree >= 3 {
        let (xx, yy, zz) = (x * x, y * y, z * z);
        let c = SH_C3;
        v.extend([
            c[0] * y * (3.0 * xx - yy),
            c[1] * x * y * z,
            c[2] * y * (4.0 * zz - xx - yy),
            c[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy),
            c[4] * x * (4.0 * zz - xx - yy),
            c[5] * z * (xx - yy),
            c[6] * x * (xx - 3.0 * yy),
        ]);
        g.extend([
            [c[0] * 6.0 * x * y, c[0] * (3.0 * xx - 3.0 * yy), 0.0],
            [c[1] * y * z, c[1] * x * z, c[1] * x * y],
            [
                -2.0 * c[2] * x * y,
                c[2] * (4.0 * zz - xx - 3.0 * yy),
                8.0 * c[2] * y * z,
            ],
            [
                -6.0 * c[3] * x * z,
                -6.0 * c[3] * y * z,
                c[3] * (6.0 * zz - 3.0 * xx - 3.0 * yy),
            ],
            [
                c[4] * (4.0 * zz - 3.0 * xx - yy),
                -2.0 * c[4] * x * y,
                8.0 * c[4] * x * z,
            ],
            [2.0 * c[5] * x * z, -2.0 * c[5] * y * z, c[5] * (xx - yy)],
            [c[6] * (3.0 * xx - 3.0 * yy), -6.0 * c[6] * x * y, 0.0],
        ]);
    }
    (v, g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradients_match_finite_differences() {
        let d = [0.3, -0.5, 0.81];
        let (_, g) = basis(3, d);
        let h = 1e-6;
        for axis in 0..3 {
            let mut p = d;
            let mut m = d;
            p[axis] += h;
            m[axis] -= h;
            let (vp, _) = basis(3, p);
            let (vm, _) = basis(3, m);
            for k in 0..16 {
                let fd = (vp[k] - vm[k]) / (2.0 * h);
                assert!(
                    (fd - g[k][axis]).abs() < 1e-8,
                    "basis {k} axis {axis}: {fd} vs {}",
                    g[k][axis]
                );
            }
        }
    }

    #[test]
    fn degree_one_matches_the_paper_code_signs() {
        // The 3DGS code evaluates -C1·y·sh1 + C1·z·sh2 - C1·x·sh3.
        let (v, _) = basis(1, [1.0, 0.0, 0.0]);
        assert_eq!(v, vec![SH_C0, 0.0, 0.0, -SH_C1]);
        assert_eq!(coeff_count(3), 16);
    }
}

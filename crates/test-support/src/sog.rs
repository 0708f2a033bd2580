//! For tests and benchmarks: a synthetic model with the value distributions of a trained one,
//! the splat-transform CLI (the peer the interoperability tests run), and attribute-wise
//! comparisons of two models.

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use splat_scene::GaussianCloud;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `n` Gaussians of SH degree `degree` distributed like a trained scene: a dense centre with
/// sparse far points, log-scales around −4 with a tail, opacities spread over the logit range,
/// DC colours around 0, higher SH small and decaying.
pub fn synthetic_cloud(n: usize, degree: u32, seed: u64) -> GaussianCloud {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let unit = Normal::new(0.0f32, 1.0).unwrap();
    let k = splat_scene::ply::sh_rest_per_channel(degree);
    let mut c = GaussianCloud {
        sh_degree: degree,
        ..Default::default()
    };
    for i in 0..n {
        let far = if i % 50 == 0 { 20.0 } else { 1.5 };
        c.means
            .push(std::array::from_fn(|_| unit.sample(&mut rng) * far));
        c.sh_dc
            .push(std::array::from_fn(|_| unit.sample(&mut rng) * 0.8));
        for band_coeff in 0..3 * k {
            let j = band_coeff % k.max(1);
            c.sh_rest
                .push(unit.sample(&mut rng) * 0.15 / (1.0 + j as f32 * 0.3));
        }
        c.opacity.push(unit.sample(&mut rng) * 3.0);
        let tail = if rng.random::<f32>() < 0.03 { 1.5 } else { 0.6 };
        c.log_scales
            .push(std::array::from_fn(|_| -4.0 + unit.sample(&mut rng) * tail));
        c.rotations
            .push(std::array::from_fn(|_| unit.sample(&mut rng)));
    }
    c
}

/// The splat-transform CLI: `SPLAT_TRANSFORM`, or the copy `scripts/setup.sh` installs into
/// `.tools/`. A test that needs it and cannot find it fails with the way to install it.
pub fn splat_transform() -> PathBuf {
    if let Ok(p) = std::env::var("SPLAT_TRANSFORM") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = root.join(".tools/splat-transform/node_modules/.bin/splat-transform");
    assert!(
        p.exists(),
        "splat-transform not found at {}: run `bash scripts/setup.sh` (installs @playcanvas/splat-transform \
         3.7.0 with npm into .tools/), or set SPLAT_TRANSFORM=/path/to/splat-transform",
        p.display()
    );
    p
}

/// Runs splat-transform on the CPU with `args`, panicking with its output on failure.
pub fn run_splat_transform(args: &[&Path]) {
    let out = Command::new(splat_transform())
        .arg("-g")
        .arg("cpu")
        .arg("-w")
        .arg("-q")
        .args(args)
        .output()
        .expect("splat-transform could not be started (is Node.js installed?)");
    assert!(
        out.status.success(),
        "splat-transform {:?} failed:\n{}\n{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Largest absolute difference per attribute between two clouds of the same size and degree.
#[derive(Debug, Default)]
pub struct Diff {
    pub position: f32,
    pub rotation: f32,
    pub log_scale: f32,
    pub opacity: f32,
    pub dc: f32,
    pub sh_rest: f32,
}

fn max_abs(a: impl Iterator<Item = f32>, b: impl Iterator<Item = f32>) -> f32 {
    a.zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

pub fn diff(a: &GaussianCloud, b: &GaussianCloud) -> Diff {
    assert_eq!(a.len(), b.len(), "Gaussian counts differ");
    assert_eq!(a.sh_degree, b.sh_degree, "SH degrees differ");
    Diff {
        position: max_abs(
            a.means.iter().flatten().copied(),
            b.means.iter().flatten().copied(),
        ),
        rotation: max_abs(
            a.rotations.iter().flatten().copied(),
            b.rotations.iter().flatten().copied(),
        ),
        log_scale: max_abs(
            a.log_scales.iter().flatten().copied(),
            b.log_scales.iter().flatten().copied(),
        ),
        opacity: max_abs(a.opacity.iter().copied(), b.opacity.iter().copied()),
        dc: max_abs(
            a.sh_dc.iter().flatten().copied(),
            b.sh_dc.iter().flatten().copied(),
        ),
        sh_rest: max_abs(a.sh_rest.iter().copied(), b.sh_rest.iter().copied()),
    }
}

//! SOG, bundled (`.sog`) and unbundled (a folder with `meta.json` and WebP planes): what the
//! reader takes validates and is written as a PLY (`splat decompress`).

use crate::{Outcome, Seed, cases, fuzz, named};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn encoded(n: usize, degree: u32) -> Vec<(String, Vec<u8>)> {
    let cloud = splat_test_support::sog::synthetic_cloud(n, degree, 3 + u64::from(degree));
    let options = splat_sogs::CompressOptions {
        iterations: 2,
        ..Default::default()
    };
    splat_sogs::compress(&cloud, &options, &()).unwrap().0
}

fn seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    for (n, degree) in [(40, 0), (30, 3)] {
        let files = encoded(n, degree);
        let bundle = splat_sogs::container::zip_bytes(&files).unwrap();
        out.push(Seed::all(vec![(PathBuf::from("scene.sog"), bundle)]));
        let files: Vec<(PathBuf, Vec<u8>)> = files
            .into_iter()
            .map(|(name, bytes)| (Path::new("scene").join(name), bytes))
            .collect();
        // meta.json is where counts, sizes and codebooks live: mutate it as often as all the
        // images together.
        let meta = files
            .iter()
            .position(|(p, _)| p.ends_with("meta.json"))
            .unwrap();
        let mut targets: Vec<usize> = (0..files.len()).collect();
        targets.extend(std::iter::repeat_n(meta, files.len()));
        out.push(Seed { files, targets });
    }
    out
}

fn check(dir: &Path) -> Result<Outcome, String> {
    let path = if dir.join("scene.sog").exists() {
        dir.join("scene.sog")
    } else {
        dir.join("scene")
    };
    let cloud = match splat_sogs::read_sog(&path) {
        Ok(c) => c,
        Err(e) => return named(&e.to_string(), &["scene.sog", "scene"]),
    };
    cloud
        .validate(&path)
        .map_err(|e| format!("read, but fails validation: {e}"))?;
    splat_scene::ply::write_ply(&dir.join("out.ply"), &cloud)
        .map_err(|e| format!("read, but not written as a PLY: {e}"))?;
    Ok(Outcome::Accepted)
}

#[test]
fn sog_bundle_and_folder() {
    fuzz(
        "SOG (bundle and folder)",
        seeds(),
        cases(2000),
        Arc::new(check),
    );
}

#[test]
#[ignore = "the long run: 100,000 cases"]
fn sog_long_run() {
    fuzz(
        "SOG (long)",
        seeds(),
        cases(crate::LONG_RUN_CASES),
        Arc::new(check),
    );
}

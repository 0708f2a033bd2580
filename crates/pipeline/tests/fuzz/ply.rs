//! Gaussian PLY, binary (both byte orders) and ascii: what the reader takes, compression takes
//! and a written copy reads back the same.

use crate::{Outcome, Seed, cases, fuzz, named};
use splat_scene::GaussianCloud;
use splat_scene::ply::{read_ply, write_ply};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const FILE: &str = "model.ply";

/// The same cloud in another layout than ours: ascii or big-endian, with an extra element.
fn foreign(cloud: &GaussianCloud, format: &str) -> Vec<u8> {
    let names = cloud.property_names();
    let mut out = format!(
        "ply\nformat {format} 1.0\ncomment written by the fuzz seed\nelement vertex {}\n",
        cloud.len()
    );
    for n in &names {
        out += &format!("property float {n}\n");
    }
    out += "element face 1\nproperty list uchar int vertex_indices\nend_header\n";
    let mut bytes = out.into_bytes();
    let k = names.len() - 17;
    for i in 0..cloud.len() {
        let mut row: Vec<f32> = cloud.means[i].to_vec();
        row.extend([0.0; 3]);
        row.extend(cloud.sh_dc[i]);
        row.extend(&cloud.sh_rest[i * k..(i + 1) * k]);
        row.push(cloud.opacity[i]);
        row.extend(cloud.log_scales[i]);
        row.extend(cloud.rotations[i]);
        if format == "ascii" {
            let words: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
            bytes.extend(words.join(" ").bytes());
            bytes.push(b'\n');
        } else {
            for v in row {
                bytes.extend(v.to_be_bytes());
            }
        }
    }
    if format == "ascii" {
        bytes.extend(b"3 0 1 2\n");
    } else {
        bytes.push(3);
        for v in [0i32, 1, 2] {
            bytes.extend(v.to_be_bytes());
        }
    }
    bytes
}

fn ours(cloud: &GaussianCloud) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(FILE);
    write_ply(&p, cloud).unwrap();
    std::fs::read(p).unwrap()
}

fn seeds(formats: &[&str]) -> Vec<Seed> {
    let mut out = Vec::new();
    for (degree, n) in [(0, 24), (1, 16), (3, 12)] {
        let cloud = splat_test_support::sog::synthetic_cloud(n, degree, 5 + u64::from(degree));
        for f in formats {
            let bytes = match *f {
                "ours" => ours(&cloud),
                other => foreign(&cloud, other),
            };
            out.push(Seed::all(vec![(PathBuf::from(FILE), bytes)]));
        }
    }
    out
}

/// Read; then the same validation as a clean file, compression, and a written copy that reads
/// back identical.
fn check(dir: &Path) -> Result<Outcome, String> {
    let path = dir.join(FILE);
    let cloud = match read_ply(&path) {
        Ok(c) => c,
        Err(e) => return named(&e.to_string(), &[FILE]),
    };
    cloud
        .validate(&path)
        .map_err(|e| format!("read, but fails validation: {e}"))?;
    let options = splat_sogs::CompressOptions {
        iterations: 2,
        ..Default::default()
    };
    let (files, _) = match splat_sogs::compress(&cloud, &options, &()) {
        Ok(done) => done,
        // An empty model is a valid PLY that compression refuses, saying so.
        Err(e) if cloud.is_empty() && e.to_string().contains("no Gaussians") => {
            return Ok(Outcome::Refused);
        }
        Err(e) => return Err(format!("read, but compression failed: {e}")),
    };
    if files.is_empty() {
        return Err("compression wrote nothing".into());
    }
    let copy = dir.join("copy.ply");
    write_ply(&copy, &cloud).map_err(|e| format!("read, but not written: {e}"))?;
    let back = read_ply(&copy).map_err(|e| format!("our own copy is not read: {e}"))?;
    if back != cloud {
        return Err("the written copy reads back different".into());
    }
    Ok(Outcome::Accepted)
}

#[test]
fn binary_ply() {
    fuzz(
        "PLY (binary)",
        seeds(&["ours", "binary_big_endian"]),
        cases(2000),
        Arc::new(check),
    );
}

#[test]
fn ascii_ply() {
    fuzz(
        "PLY (ascii)",
        seeds(&["ascii"]),
        cases(2000),
        Arc::new(check),
    );
}

#[test]
#[ignore = "the long run: 100,000 cases per PLY form"]
fn ply_long_run() {
    let n = cases(crate::LONG_RUN_CASES);
    fuzz(
        "PLY (binary, long)",
        seeds(&["ours", "binary_big_endian"]),
        n,
        Arc::new(check),
    );
    fuzz("PLY (ascii, long)", seeds(&["ascii"]), n, Arc::new(check));
}

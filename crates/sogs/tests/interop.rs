//! Interoperability with the real peer, PlayCanvas's splat-transform 3.7.0 (run on the CPU):
//! (a) a `.sog` we write decodes the same in splat-transform as in our reader; (b) a `.sog`
//! splat-transform writes reads the same in our reader as in its own; (c) our round trip stays
//! inside the format's error bounds per attribute.

use splat_scene::GaussianCloud;
use splat_sogs::CompressOptions;
use splat_test_support::sog::{diff, run_splat_transform, synthetic_cloud};
use std::path::Path;

/// Writes `cloud` to `path`; returns the texel order (texel i holds Gaussian order[i]).
fn write_sog(cloud: &GaussianCloud, path: &Path) -> Vec<u32> {
    write_sog_with(cloud, path, &CompressOptions::default())
}

fn write_sog_with(cloud: &GaussianCloud, path: &Path, opts: &CompressOptions) -> Vec<u32> {
    let (files, report) = splat_sogs::compress(cloud, opts, &()).unwrap();
    splat_sogs::container::write(path, &files).unwrap();
    report.texel_order
}

/// Both decoders evaluate the same formulas in double precision and store f32: codebook values
/// are identical, positions and rotations agree to rounding, opacity to the logit's clamp.
fn assert_same_decode(ours: &GaussianCloud, theirs: &GaussianCloud) {
    let d = diff(ours, theirs);
    assert!(d.position <= 2e-5, "{d:?}");
    assert!(d.rotation <= 1e-6, "{d:?}");
    assert_eq!(d.log_scale, 0.0, "{d:?}");
    assert_eq!(d.dc, 0.0, "{d:?}");
    assert_eq!(d.sh_rest, 0.0, "{d:?}");
    assert!(d.opacity <= 1e-4, "{d:?}");
}

/// At every SH degree compaction may leave (0: no palette at all, 1, and 3).
#[test]
fn a_sog_we_write_decodes_identically_in_splat_transform() {
    let dir = tempfile::tempdir().unwrap();
    for degree in [0, 1, 3] {
        let cloud = synthetic_cloud(3000, degree, 1);
        let sog = dir.path().join(format!("ours{degree}.sog"));
        write_sog(&cloud, &sog);
        let theirs_ply = dir.path().join(format!("theirs{degree}.ply"));
        run_splat_transform(&[&sog, &theirs_ply]);
        let theirs = splat_scene::ply::read_ply(&theirs_ply).unwrap();
        let ours = splat_sogs::read_sog(&sog).unwrap();
        assert_eq!((ours.sh_degree, theirs.sh_degree), (degree, degree));
        assert_same_decode(&ours, &theirs);
    }
}

/// The palette sizes compaction chooses below SOG's rule (64·2^k centroids; one row of the
/// centroid image at 64), fitted with per-Gaussian weights as compaction does, with coarsened
/// position codes and a 32-level SH codebook, decode the same in splat-transform.
#[test]
fn a_sog_with_a_chosen_palette_size_decodes_identically_in_splat_transform() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = synthetic_cloud(3000, 3, 4);
    let weights: Vec<f32> = (0..cloud.len()).map(|i| (i % 17) as f32 * 0.5).collect();
    for size in [64usize, 256] {
        let sog = dir.path().join(format!("palette{size}.sog"));
        let opts = CompressOptions {
            palette_size: Some(size),
            position_bits: 12,
            sh_levels: 32,
            importance: Some(splat_sogs::Importance(weights.clone().into())),
            ..CompressOptions::default()
        };
        write_sog_with(&cloud, &sog, &opts);
        let theirs_ply = dir.path().join(format!("palette{size}.ply"));
        run_splat_transform(&[&sog, &theirs_ply]);
        let theirs = splat_scene::ply::read_ply(&theirs_ply).unwrap();
        let ours = splat_sogs::read_sog(&sog).unwrap();
        let (meta, _) = splat_sogs::read_sog_images(&sog).unwrap();
        let splat_sogs::meta::Meta::V2(meta) = meta else {
            panic!("we write SOG v2")
        };
        let sh = meta.sh_n.expect("a palette");
        assert_eq!(sh.count, size);
        assert_same_decode(&ours, &theirs);
    }
}

#[test]
fn a_sog_splat_transform_writes_reads_as_its_own_decode() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = synthetic_cloud(2500, 3, 2);
    let ply = dir.path().join("model.ply");
    splat_scene::ply::write_ply(&ply, &cloud).unwrap();
    let sog = dir.path().join("theirs.sog");
    run_splat_transform(&[&ply, &sog]);
    let decoded = dir.path().join("theirs_decoded.ply");
    run_splat_transform(&[&sog, &decoded]);
    let theirs = splat_scene::ply::read_ply(&decoded).unwrap();
    let ours = splat_sogs::read_sog(&sog).unwrap();
    assert_same_decode(&ours, &theirs);

    // The unbundled form (a folder with meta.json) reads the same.
    let folder = dir.path().join("unbundled");
    std::fs::create_dir_all(&folder).unwrap();
    run_splat_transform(&[&ply, &folder.join("meta.json")]);
    let unbundled = splat_sogs::read_sog(&folder.join("meta.json")).unwrap();
    assert_eq!(unbundled.len(), cloud.len());
    assert_eq!(unbundled.sh_degree, 3);
}

/// Rotation angle between two quaternions, degrees.
fn angle_deg(a: [f32; 4], b: [f32; 4]) -> f64 {
    let n = |q: [f32; 4]| q.iter().map(|c| f64::from(*c).powi(2)).sum::<f64>().sqrt();
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(y))
        .sum::<f64>()
        / (n(a) * n(b));
    2.0 * dot.abs().min(1.0).acos().to_degrees()
}

fn sigmoid(x: f32) -> f64 {
    1.0 / (1.0 + (-f64::from(x)).exp())
}

#[test]
fn our_round_trip_stays_inside_the_format_error_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = synthetic_cloud(6000, 3, 3);
    let sog = dir.path().join("ours.sog");
    let order = write_sog(&cloud, &sog);
    let back = splat_sogs::read_sog(&sog).unwrap();
    assert_eq!(back.len(), cloud.len());
    // Texel t holds Gaussian order[t]: put the decoded Gaussians back in input order.
    let mut texel_of = vec![0usize; order.len()];
    for (t, &g) in order.iter().enumerate() {
        texel_of[g as usize] = t;
    }
    let (mut pos, mut rot, mut scale, mut opa, mut dc) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for (i, a) in cloud.means.iter().enumerate() {
        let t = texel_of[i];
        let b = &back.means[t];
        for k in 0..3 {
            // Positions are stored in log space: the error is relative to 1 + |p|.
            pos = pos.max(f64::from((a[k] - b[k]).abs() / (1.0 + a[k].abs())));
        }
        rot = rot.max(angle_deg(cloud.rotations[i], back.rotations[t]));
        for k in 0..3 {
            scale = scale.max(f64::from(
                (cloud.log_scales[i][k] - back.log_scales[t][k]).abs(),
            ));
        }
        opa = opa.max((sigmoid(cloud.opacity[i]) - sigmoid(back.opacity[t])).abs());
        if sigmoid(cloud.opacity[i]) >= 1.0 / 255.0 {
            for k in 0..3 {
                dc = dc.max(f64::from((cloud.sh_dc[i][k] - back.sh_dc[t][k]).abs()));
            }
        }
    }
    eprintln!(
        "round trip: position {pos:.2e} (rel), rotation {rot:.3}°, log-scale {scale:.4}, opacity {opa:.5}, DC {dc:.4}"
    );
    assert!(pos <= 1.1e-3, "position {pos}");
    assert!(rot <= 2.0, "rotation {rot}°");
    assert!(scale <= 0.1, "log-scale {scale}");
    assert!(opa <= 1.0 / 255.0, "opacity {opa}");
    assert!(dc <= 0.025, "DC {dc}");
}

//! The web formats against PlayCanvas's splat-transform 3.7.0: it reads our `.splat`, `.spz` and
//! `.compressed.ply` to within each format's quantisation; we read its `.spz` and
//! `.compressed.ply` as it decodes them itself; our own round trips stay within the same bounds.
//! Files are compared Gaussian by Gaussian after matching positions (every writer may reorder).

use splat_scene::GaussianCloud;
use splat_scene::formats::{self, Format};
use splat_test_support::sog::{run_splat_transform, synthetic_cloud};

/// Worst error per attribute, in the units a viewer sees: position and log-scale, opacity after
/// the sigmoid, DC and SH coefficients, rotation angle in degrees.
#[derive(Debug, Default, Clone, Copy)]
struct Errors {
    position: f64,
    log_scale: f64,
    opacity: f64,
    dc: f64,
    rotation_deg: f64,
    sh: f64,
}

fn sigmoid(x: f32) -> f64 {
    1.0 / (1.0 + (-f64::from(x)).exp())
}

/// For each Gaussian of `b`, the Gaussian of `a` nearest to it (brute force: small clouds).
fn nearest(a: &GaussianCloud, b: &GaussianCloud) -> Vec<usize> {
    b.means
        .iter()
        .map(|p| {
            (0..a.len())
                .min_by(|&i, &j| {
                    let d = |k: usize| {
                        (0..3)
                            .map(|c| (f64::from(a.means[k][c]) - f64::from(p[c])).powi(2))
                            .sum::<f64>()
                    };
                    d(i).total_cmp(&d(j))
                })
                .unwrap()
        })
        .collect()
}

fn compare(want: &GaussianCloud, got: &GaussianCloud, with_sh: bool) -> Errors {
    assert_eq!(want.len(), got.len(), "Gaussian counts differ");
    let map = nearest(want, got);
    let mut seen = vec![false; want.len()];
    for &m in &map {
        assert!(!seen[m], "two decoded Gaussians match original {m}");
        seen[m] = true;
    }
    let k = splat_scene::ply::sh_rest_per_channel(want.sh_degree);
    let kg = splat_scene::ply::sh_rest_per_channel(got.sh_degree);
    let mut e = Errors::default();
    let up = |x: &mut f64, v: f64| *x = x.max(v);
    for (g, &w) in map.iter().enumerate() {
        for c in 0..3 {
            up(
                &mut e.position,
                f64::from((want.means[w][c] - got.means[g][c]).abs()),
            );
            up(
                &mut e.log_scale,
                f64::from((want.log_scales[w][c] - got.log_scales[g][c]).abs()),
            );
            up(
                &mut e.dc,
                f64::from((want.sh_dc[w][c] - got.sh_dc[g][c]).abs()),
            );
        }
        up(
            &mut e.opacity,
            (sigmoid(want.opacity[w]) - sigmoid(got.opacity[g])).abs(),
        );
        let unit = |q: [f32; 4]| {
            let n = q.iter().map(|c| f64::from(*c).powi(2)).sum::<f64>().sqrt();
            q.map(|c| f64::from(c) / n)
        };
        let (p, q) = (unit(want.rotations[w]), unit(got.rotations[g]));
        let dot = p
            .iter()
            .zip(&q)
            .map(|(a, b)| a * b)
            .sum::<f64>()
            .abs()
            .min(1.0);
        up(&mut e.rotation_deg, 2.0 * dot.acos().to_degrees());
        if with_sh {
            assert_eq!(k, kg, "SH degrees differ");
            for j in 0..3 * k {
                up(
                    &mut e.sh,
                    f64::from((want.sh_rest[w * 3 * k + j] - got.sh_rest[g * 3 * k + j]).abs()),
                );
            }
        }
    }
    e
}

fn check(what: &str, e: Errors, bound: Errors) {
    eprintln!("{what}: {e:?}");
    let pairs = [
        ("position", e.position, bound.position),
        ("log-scale", e.log_scale, bound.log_scale),
        ("opacity", e.opacity, bound.opacity),
        ("DC", e.dc, bound.dc),
        ("rotation (deg)", e.rotation_deg, bound.rotation_deg),
        ("SH", e.sh, bound.sh),
    ];
    for (name, v, b) in pairs {
        assert!(v <= b, "{what}: {name} error {v} exceeds {b}");
    }
}

/// A trained-like model whose colours stay inside what 8 bits can hold (every format clamps).
fn model(degree: u32) -> GaussianCloud {
    let mut c = synthetic_cloud(2000, degree, 11);
    for dc in c.sh_dc.iter_mut().flatten() {
        *dc = dc.clamp(-1.7, 1.7);
    }
    // splat-transform 3.7 decodes an 8-bit opacity of 0 or 255 in a compressed PLY (which its
    // own writer makes) to an infinite logit; keep the opacities where both sides are finite.
    for o in &mut c.opacity {
        *o = o.clamp(-5.0, 5.0);
    }
    c
}

/// The bounds each format's quantisation allows (half a step of each quantiser, plus slack
/// for the other side's rounding conventions).
fn bounds(format: Format, extent: f64) -> Errors {
    let sh_c0 = 0.282_094_8;
    match format {
        Format::Splat => Errors {
            position: 0.0,
            log_scale: 1e-5,
            opacity: 1.0 / 255.0,
            dc: 1.0 / 255.0 / sh_c0,
            rotation_deg: 2.0,
            sh: 0.0,
        },
        Format::Spz => Errors {
            // splat-transform writes 12 fractional bits; ours take as many as the extent allows.
            position: 1.0 / 4096.0,
            log_scale: 1.0 / 32.0 + 1e-4,
            opacity: 1.0 / 255.0,
            dc: 1.0 / 255.0 / 0.15,
            rotation_deg: 0.5,
            // Band 1 to 5 bits, bands 2-3 to 4 bits, of 128 + 128·v.
            sh: 8.5 / 128.0 + 1e-3,
        },
        Format::CompressedPly => Errors {
            position: 1e-3 * extent,
            log_scale: 0.02,
            opacity: 1.0 / 255.0,
            dc: 0.02,
            rotation_deg: 0.3,
            sh: 8.0 / 256.0 + 1e-3,
        },
        Format::Ply => Errors::default(),
    }
}

fn extent(c: &GaussianCloud) -> f64 {
    c.means
        .iter()
        .flatten()
        .fold(0f64, |m, v| m.max(f64::from(v.abs())))
}

fn cases() -> [(Format, &'static str); 3] {
    [
        (Format::Splat, "splat"),
        (Format::Spz, "spz"),
        (Format::CompressedPly, "compressed.ply"),
    ]
}

#[test]
fn splat_transform_reads_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let want = model(3);
    for (format, ext) in cases() {
        let ours = dir.path().join(format!("ours.{ext}"));
        formats::write_model(&ours, &want, format).unwrap();
        let theirs = dir.path().join(format!("theirs-{ext}.ply"));
        run_splat_transform(&[&ours, &theirs]);
        let got = splat_scene::ply::read_ply(&theirs).unwrap();
        let sh = format != Format::Splat;
        check(
            &format!("splat-transform reading our .{ext}"),
            compare(&want, &got, sh),
            bounds(format, extent(&want)),
        );
        // And our own reader, on the same file.
        let back = formats::read_model(&ours).unwrap();
        check(
            &format!("our reader on our .{ext}"),
            compare(&want, &back, sh),
            bounds(format, extent(&want)),
        );
        if !sh {
            assert_eq!(back.sh_degree, 0);
        }
    }
}

#[test]
fn we_read_what_splat_transform_writes_as_it_decodes_it() {
    let dir = tempfile::tempdir().unwrap();
    let want = model(3);
    let src = dir.path().join("source.ply");
    splat_scene::ply::write_ply(&src, &want).unwrap();
    for (format, ext) in cases().into_iter().filter(|(f, _)| *f != Format::Splat) {
        let theirs = dir.path().join(format!("theirs.{ext}"));
        run_splat_transform(&[&src, &theirs]);
        let ours = formats::read_model(&theirs).unwrap();
        check(
            &format!("our reader on splat-transform's .{ext}"),
            compare(&want, &ours, true),
            bounds(format, extent(&want)),
        );
        // splat-transform's own decode of its file: ours must agree with it closely.
        let decoded = dir.path().join(format!("decoded-{ext}.ply"));
        run_splat_transform(&[&theirs, &decoded]);
        let reference = splat_scene::ply::read_ply(&decoded).unwrap();
        let e = compare(&reference, &ours, true);
        check(
            &format!("our decode vs splat-transform's decode of its .{ext}"),
            e,
            Errors {
                position: 1e-5 * extent(&want),
                log_scale: 1e-5,
                opacity: 1e-5,
                dc: 1e-5,
                rotation_deg: 0.01,
                sh: 1e-5,
            },
        );
    }
}

#[test]
fn damaged_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let want = model(1);
    for (format, ext) in cases() {
        let p = dir.path().join(format!("m.{ext}"));
        formats::write_model(&p, &want, format).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() * 2 / 3]).unwrap();
        let e = formats::read_model(&p)
            .expect_err("a truncated file must not read")
            .to_string();
        assert!(e.contains(&format!("m.{ext}")), "{e}");
        std::fs::write(&p, b"").unwrap();
        assert!(formats::read_model(&p).is_err());
    }
    let spz = dir.path().join("bad.spz");
    std::fs::write(&spz, b"\x1f\x8b\x08\x00garbage").unwrap();
    let e = formats::read_model(&spz).unwrap_err().to_string();
    assert!(e.contains("bad.spz") && e.contains("gzip"), "{e}");
}

//! 3DGS PLY: round trips at every SH degree, files laid out as other tools write them (ascii,
//! big-endian, other property orders, extra properties and elements), and bad files.

mod support;

use splat_scene::ply::{parse_ply, read_ply, sh_rest_per_channel, write_ply};
use splat_scene::{GaussianCloud, SceneError};
use std::path::Path;
use support::{Lcg, damaged_copies};

fn cloud(n: usize, degree: u32, seed: u64) -> GaussianCloud {
    let mut r = Lcg(seed);
    let mut v = || (r.f64() * 4.0 - 2.0) as f32;
    let k3 = 3 * sh_rest_per_channel(degree);
    GaussianCloud {
        sh_degree: degree,
        means: (0..n).map(|_| [v(), v(), v()]).collect(),
        sh_dc: (0..n).map(|_| [v(), v(), v()]).collect(),
        sh_rest: (0..n * k3).map(|_| v()).collect(),
        opacity: (0..n).map(|_| v()).collect(),
        log_scales: (0..n).map(|_| [v(), v(), v()]).collect(),
        rotations: (0..n).map(|_| [v(), v(), v(), v()]).collect(),
    }
}

/// Value of property `name` of Gaussian `i`, by the layout the format describes.
fn value(c: &GaussianCloud, i: usize, name: &str) -> f32 {
    let k3 = 3 * sh_rest_per_channel(c.sh_degree);
    match name {
        "x" | "y" | "z" => c.means[i][(name.as_bytes()[0] - b'x') as usize],
        "nx" | "ny" | "nz" => 0.0,
        "opacity" => c.opacity[i],
        n if n.starts_with("f_dc_") => c.sh_dc[i][n[5..].parse::<usize>().unwrap()],
        n if n.starts_with("f_rest_") => c.sh_rest[i * k3 + n[7..].parse::<usize>().unwrap()],
        n if n.starts_with("scale_") => c.log_scales[i][n[6..].parse::<usize>().unwrap()],
        n if n.starts_with("rot_") => c.rotations[i][n[4..].parse::<usize>().unwrap()],
        _ => unreachable!(),
    }
}

/// Writes a PLY the way another tool might: given property order, format, an extra property
/// (`extra`, a double) and an extra element before the vertices.
fn foreign_ply(c: &GaussianCloud, order: &[String], format: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut h = format!(
        "ply\nformat {format} 1.0\ncomment made by a test\nelement camera 1\nproperty float fov\nproperty list uchar int ids\nelement vertex {}\n",
        c.len()
    );
    for name in order {
        h += &format!("property float {name}\n");
    }
    h += "property double extra\nend_header\n";
    out.extend_from_slice(h.as_bytes());
    let big = format == "binary_big_endian";
    match format {
        "ascii" => {
            out.extend_from_slice(b"0.5 3 1 2 3\n");
            for i in 0..c.len() {
                let row: Vec<String> = order
                    .iter()
                    .map(|n| format!("{:?}", value(c, i, n)))
                    .chain(["1.5".into()])
                    .collect();
                out.extend_from_slice(row.join(" ").as_bytes());
                out.push(b'\n');
            }
        }
        _ => {
            let f = |v: f32| {
                if big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            };
            out.extend_from_slice(&f(0.5));
            out.push(2);
            for id in [7i32, 9] {
                out.extend_from_slice(&if big {
                    id.to_be_bytes()
                } else {
                    id.to_le_bytes()
                });
            }
            for i in 0..c.len() {
                for n in order {
                    out.extend_from_slice(&f(value(c, i, n)));
                }
                out.extend_from_slice(&if big {
                    1.5f64.to_be_bytes()
                } else {
                    1.5f64.to_le_bytes()
                });
            }
        }
    }
    out
}

#[test]
fn round_trips_at_every_sh_degree() {
    let dir = tempfile::tempdir().unwrap();
    for degree in 0..=3 {
        let c = cloud(257, degree, u64::from(degree) + 1);
        let p = dir.path().join(format!("d{degree}.ply"));
        write_ply(&p, &c).unwrap();
        let back = read_ply(&p).unwrap();
        assert_eq!(back.sh_degree, degree);
        assert_eq!(back, c);
        // The Inria layout: 17 + 3K float properties, f_rest after f_dc, opacity after f_rest.
        let text = std::fs::read(&p).unwrap();
        let header = String::from_utf8_lossy(
            &text[..text.windows(10).position(|w| w == b"end_header").unwrap()],
        )
        .to_string();
        assert_eq!(
            header.matches("property float").count(),
            17 + 3 * sh_rest_per_channel(degree)
        );
        assert!(header.contains("binary_little_endian"));
    }
}

#[test]
fn reads_ascii_big_endian_shuffled_and_extra_properties() {
    let c = cloud(33, 2, 9);
    let mut order = c.property_names();
    let mut r = Lcg(3);
    for i in (1..order.len()).rev() {
        order.swap(i, r.below(i + 1));
    }
    for format in ["ascii", "binary_big_endian", "binary_little_endian"] {
        let bytes = foreign_ply(&c, &order, format);
        let back =
            parse_ply(&bytes, Path::new("foreign.ply")).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(back, c, "{format}");
    }
}

#[test]
fn missing_property_is_named() {
    let c = cloud(4, 1, 1);
    let order: Vec<String> = c
        .property_names()
        .into_iter()
        .filter(|n| n != "scale_1")
        .collect();
    let err = parse_ply(
        &foreign_ply(&c, &order, "binary_little_endian"),
        Path::new("m.ply"),
    )
    .unwrap_err();
    assert!(
        matches!(&err, SceneError::MissingProperty { name, .. } if name == "scale_1"),
        "{err}"
    );
    assert!(err.to_string().contains("m.ply") && err.to_string().contains("scale_1"));
    // An f_rest count that is no SH degree.
    let order: Vec<String> = c
        .property_names()
        .into_iter()
        .filter(|n| n != "f_rest_8")
        .collect();
    let err = parse_ply(
        &foreign_ply(&c, &order, "binary_little_endian"),
        Path::new("m.ply"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("8 f_rest_* properties"), "{err}");
}

#[test]
fn truncation_reports_the_offset_and_nan_the_gaussian() {
    let c = cloud(10, 0, 5);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.ply");
    write_ply(&p, &c).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let err = parse_ply(&bytes[..bytes.len() - 3], &p).unwrap_err();
    assert!(matches!(err, SceneError::Binary { .. }), "{err}");
    assert!(err.to_string().contains("9 whole vertices"), "{err}");
    let mut bad = c.clone();
    bad.opacity[7] = f32::NAN;
    let err = write_ply(&p, &bad).unwrap_err().to_string();
    assert!(err.contains("Gaussian 7"), "{err}");
}

#[test]
fn random_damage_never_panics() {
    let c = cloud(40, 3, 11);
    let mut rng = Lcg(12);
    let name = Path::new("damaged.ply");
    for format in ["binary_little_endian", "ascii"] {
        let good = foreign_ply(&c, &c.property_names(), format);
        for (what, bad) in damaged_copies(&good, &mut rng, 150) {
            match std::panic::catch_unwind(|| parse_ply(&bad, name)) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => assert!(
                    e.to_string().contains("damaged.ply"),
                    "{format} {what}: {e}"
                ),
                Err(_) => panic!("{format} {what}: the reader panicked"),
            }
        }
    }
}

/// Issue 24: an ascii PLY's vertex count sized an allocation before the file was read (2^60
/// vertices overflowed it; a billion asked for gigabytes); a count past what the file can hold
/// is now an error, as is one past it in an element before the vertices.
#[test]
fn an_ascii_count_past_the_file_is_refused_before_allocating() {
    let c = cloud(3, 0, 2);
    let good = foreign_ply(&c, &c.property_names(), "ascii");
    let text = String::from_utf8(good).unwrap();
    let name = Path::new("counted.ply");
    for count in ["1152921504606846976", "1000000000", "4"] {
        let bad = text.replace("element vertex 3", &format!("element vertex {count}"));
        let err = parse_ply(bad.as_bytes(), name).unwrap_err().to_string();
        assert!(err.contains("counted.ply"), "{err}");
        if count != "4" {
            assert!(err.contains(&format!("declares {count} vertices")), "{err}");
        }
    }
    let bad = text.replace("element camera 1", "element camera 18446744073709551615");
    let err = parse_ply(bad.as_bytes(), name).unwrap_err().to_string();
    assert!(err.contains("more rows than the file holds"), "{err}");
    // A file without its last line break still reads.
    let trimmed = text.trim_end();
    assert_eq!(parse_ply(trimmed.as_bytes(), name).unwrap().len(), 3);
}

/// An element of empty rows with a huge count is skipped at once: walking it row by row would
/// take centuries.
#[test]
fn a_huge_count_of_empty_rows_is_not_walked() {
    let c = cloud(3, 0, 2);
    let good = foreign_ply(&c, &c.property_names(), "binary_little_endian");
    let at = good
        .windows(16)
        .position(|w| w == b"element camera 1")
        .unwrap();
    let mut bad = good[..at].to_vec();
    bad.extend_from_slice(b"element nothing 18446744073709551615\n");
    bad.extend_from_slice(&good[at..]);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tx.send(parse_ply(&bad, Path::new("empty_rows.ply")).map(|c| c.len()))
    });
    let read = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("reading 2^64 empty rows did not end within a minute");
    assert_eq!(read.unwrap(), 3);
}

/// Found by the long fuzz run (issue 24): a file cut right after `end_header`, before its line
/// break, put the data's start past the end (an overflow in the binary reader, a slice past the
/// end in the ascii one).
#[test]
fn a_file_ending_on_end_header_is_an_error_not_a_panic() {
    let c = cloud(3, 0, 2);
    for format in ["binary_little_endian", "ascii"] {
        let good = foreign_ply(&c, &c.property_names(), format);
        let end = good.windows(10).position(|w| w == b"end_header").unwrap() + 10;
        let e = parse_ply(&good[..end], Path::new("cut.ply"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cut.ply"), "{format}: {e}");
    }
}

//! `splat render` against the f64 reference renderer, from COLMAP and transforms.json cameras.

mod common;

use common::{built_in, splat};

use splat_train::reference;
use std::path::Path;

/// Writes `c` the way another tool might: big-endian, properties in another order (rotation and
/// scale first, SH rest reversed), plus extra properties (normals as doubles, 8-bit colour).
fn write_foreign_ply(path: &Path, c: &splat_scene::GaussianCloud) {
    let k3 = 3 * splat_scene::ply::sh_rest_per_channel(c.sh_degree);
    let mut names: Vec<String> = [
        "rot_0", "rot_1", "rot_2", "rot_3", "scale_2", "scale_0", "scale_1", "opacity", "z", "y",
        "x",
    ]
    .map(String::from)
    .to_vec();
    names.extend((0..k3).rev().map(|i| format!("f_rest_{i}")));
    names.extend(["f_dc_0", "f_dc_1", "f_dc_2"].map(String::from));
    let mut out = format!(
        "ply\nformat binary_big_endian 1.0\ncomment written by another tool\nelement vertex {}\nproperty double nx\n",
        c.len()
    );
    for n in &names {
        out += &format!("property float {n}\n");
    }
    out += "property uchar red\nend_header\n";
    let mut bytes = out.into_bytes();
    for i in 0..c.len() {
        bytes.extend_from_slice(&0.25f64.to_be_bytes());
        for n in &names {
            let v = match n.as_str() {
                "x" | "y" | "z" => c.means[i][(n.as_bytes()[0] - b'x') as usize],
                "opacity" => c.opacity[i],
                s if s.starts_with("rot_") => c.rotations[i][s[4..].parse::<usize>().unwrap()],
                s if s.starts_with("scale_") => c.log_scales[i][s[6..].parse::<usize>().unwrap()],
                s if s.starts_with("f_dc_") => c.sh_dc[i][s[5..].parse::<usize>().unwrap()],
                s => c.sh_rest[i * k3 + s[7..].parse::<usize>().unwrap()],
            };
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        bytes.push(200);
    }
    std::fs::write(path, bytes).unwrap();
}

/// A PLY (in another tool's layout) of small Gaussians at the built-in scene's 3D points,
/// coloured like them.
fn points_ply(ws: &Path, out: &Path) -> splat_scene::GaussianCloud {
    let rec = splat_scene::colmap::read_model(&ws.join("sparse/0")).unwrap();
    let mut c = splat_scene::GaussianCloud {
        sh_degree: 1,
        ..Default::default()
    };
    for (i, p) in rec.points3d.values().enumerate() {
        c.means.push(p.xyz.map(|v| v as f32));
        c.sh_dc
            .push(p.rgb.map(|v| ((f32::from(v) / 255.0) - 0.5) / 0.282_094_8));
        c.sh_rest
            .extend((0..9).map(|k| 0.05 * ((i + k) % 5) as f32 - 0.1));
        c.opacity.push(1.5);
        c.log_scales.push([-3.6, -3.9, -3.3]);
        c.rotations.push([1.0, 0.1 * (i % 3) as f32, 0.0, 0.2]);
    }
    write_foreign_ply(out, &c);
    assert_eq!(splat_scene::ply::read_ply(out).unwrap(), c);
    c
}

fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let mse: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

#[test]
fn render_matches_the_reference_from_colmap_and_transforms_cameras() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_in(dir.path(), 6, 120, 90, 1500);
    let ply = dir.path().join("points.ply");
    let cloud = points_ply(&ws, &ply);
    let out = dir.path().join("view2.png");
    let o = splat(&[
        "render",
        ply.to_str().unwrap(),
        ws.to_str().unwrap(),
        "--view",
        "2",
        "-o",
        out.to_str().unwrap(),
        "--background",
        "1,1,1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = image::open(&out).unwrap().to_rgb8();

    let rec = splat_scene::colmap::read_model(&ws.join("sparse/0")).unwrap();
    let im = rec.images_by_name()[2];
    let near = splat_train::train::default_near(&rec);
    let view = splat_train::View::from_colmap(&rec.cameras[&1], im, near, [1.0; 3]).unwrap();
    let r = reference::forward(
        &splat_train::reference::Gaussians::from_f32(&splat_train::Gaussians32::from_cloud(&cloud)),
        &view,
    );
    let want = image::RgbImage::from_fn(120, 90, |x, y| {
        let p = r.image[(y * 120 + x) as usize];
        image::Rgb(p.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8))
    });
    let db = psnr(&got, &want);
    assert!(db > 40.0, "PSNR {db} dB against the reference");
    assert!(
        got.pixels().filter(|p| p.0 != [255, 255, 255]).count() > 500,
        "the splats are not visible"
    );

    // The same cameras from transforms_*.json (no sparse/ folder): the same picture.
    let tws = dir.path().join("tws");
    std::fs::create_dir_all(&tws).unwrap();
    for f in ["transforms_train.json", "transforms_test.json"] {
        std::fs::copy(ws.join(f), tws.join(f)).unwrap();
    }
    std::os::unix::fs::symlink(ws.join("images"), tws.join("images")).unwrap();
    let out2 = dir.path().join("view2b.png");
    let o = splat(&[
        "render",
        ply.to_str().unwrap(),
        tws.to_str().unwrap(),
        "--view",
        "2",
        "-o",
        out2.to_str().unwrap(),
        "--background",
        "1,1,1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got2 = image::open(&out2).unwrap().to_rgb8();
    assert!(
        psnr(&got, &got2) > 60.0,
        "COLMAP and transforms cameras render differently"
    );

    // --all writes one PNG per view; a view past the end is a clear error.
    let all = dir.path().join("all");
    let o = splat(&[
        "render",
        ply.to_str().unwrap(),
        ws.to_str().unwrap(),
        "--all",
        "-o",
        all.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_dir(&all).unwrap().count(), 6);
    let o = splat(&[
        "render",
        ply.to_str().unwrap(),
        ws.to_str().unwrap(),
        "--view",
        "6",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("only 6 views"));
}

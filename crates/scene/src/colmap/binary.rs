//! COLMAP's binary model files (little-endian), read with bounds checks and written atomically.

use super::{Image, Point2D, Point3D, Reconstruction, TrackElement, read_file};
use crate::bytes::ByteReader;
use crate::{Camera, CameraModel, Result, write_atomic};
use std::path::Path;

/// Reads `cameras.bin`, `images.bin` and `points3D.bin` from `dir`.
pub fn read_binary(dir: &Path) -> Result<Reconstruction> {
    let rec = Reconstruction {
        cameras: read_cameras(&dir.join("cameras.bin"))?,
        images: read_images(&dir.join("images.bin"))?,
        points3d: read_points(&dir.join("points3D.bin"))?,
    };
    rec.validate(
        &dir.join("cameras.bin"),
        &dir.join("images.bin"),
        &dir.join("points3D.bin"),
    )?;
    Ok(rec)
}

fn duplicate(r: &ByteReader<'_>, what: &str, id: impl std::fmt::Display) -> crate::SceneError {
    r.error(format!("{what} id {id} appears twice"))
}

fn read_cameras(path: &Path) -> Result<std::collections::BTreeMap<u32, Camera>> {
    let data = read_file(path)?;
    let mut r = ByteReader::new(&data, path);
    let n = r.count("number of cameras", 24)?;
    let mut out = std::collections::BTreeMap::new();
    for _ in 0..n {
        let id = r.u32("camera_id")?;
        let model_at = r.pos();
        let model_id = r.i32("model_id")?;
        let model = CameraModel::from_id(model_id).ok_or_else(|| {
            r.error_at(model_at, format!("camera {id} has unknown camera model id {model_id} (this reader knows ids 0-10)"))
        })?;
        let width = r.u64("width")?;
        let height = r.u64("height")?;
        let params = (0..model.num_params())
            .map(|_| r.f64("camera parameter"))
            .collect::<Result<Vec<_>>>()?;
        if out
            .insert(
                id,
                Camera {
                    id,
                    model,
                    width,
                    height,
                    params,
                },
            )
            .is_some()
        {
            return Err(duplicate(&r, "camera", id));
        }
    }
    trailing(&r)?;
    Ok(out)
}

fn read_images(path: &Path) -> Result<std::collections::BTreeMap<u32, Image>> {
    let data = read_file(path)?;
    let mut r = ByteReader::new(&data, path);
    let n = r.count("number of images", 73)?;
    let mut out = std::collections::BTreeMap::new();
    for _ in 0..n {
        let id = r.u32("image_id")?;
        let mut qvec = [0.0; 4];
        for q in &mut qvec {
            *q = r.f64("quaternion")?;
        }
        let mut tvec = [0.0; 3];
        for t in &mut tvec {
            *t = r.f64("translation")?;
        }
        let camera_id = r.u32("camera_id")?;
        let name = r.c_string("image name")?;
        let np = r.count("number of 2D points", 24)?;
        let mut points2d = Vec::with_capacity(np);
        for _ in 0..np {
            let x = r.f64("point x")?;
            let y = r.f64("point y")?;
            let pid = r.u64("point3D_id")?;
            points2d.push(Point2D {
                xy: [x, y],
                point3d_id: (pid != u64::MAX).then_some(pid),
            });
        }
        if out
            .insert(
                id,
                Image {
                    id,
                    qvec,
                    tvec,
                    camera_id,
                    name,
                    points2d,
                },
            )
            .is_some()
        {
            return Err(duplicate(&r, "image", id));
        }
    }
    trailing(&r)?;
    Ok(out)
}

fn read_points(path: &Path) -> Result<std::collections::BTreeMap<u64, Point3D>> {
    let data = read_file(path)?;
    let mut r = ByteReader::new(&data, path);
    let n = r.count("number of points", 43)?;
    let mut out = std::collections::BTreeMap::new();
    for _ in 0..n {
        let id = r.u64("point3D_id")?;
        let mut xyz = [0.0; 3];
        for v in &mut xyz {
            *v = r.f64("point coordinate")?;
        }
        let rgb = [r.u8("red")?, r.u8("green")?, r.u8("blue")?];
        let error = r.f64("reprojection error")?;
        let len = r.count("track length", 8)?;
        let mut track = Vec::with_capacity(len);
        for _ in 0..len {
            track.push(TrackElement {
                image_id: r.u32("track image_id")?,
                point2d_idx: r.u32("track point2D_idx")?,
            });
        }
        if out
            .insert(
                id,
                Point3D {
                    id,
                    xyz,
                    rgb,
                    error,
                    track,
                },
            )
            .is_some()
        {
            return Err(duplicate(&r, "point3D", id));
        }
    }
    trailing(&r)?;
    Ok(out)
}

fn trailing(r: &ByteReader<'_>) -> Result<()> {
    if r.remaining() > 0 {
        return Err(r.error(format!(
            "{} unexpected bytes after the last record",
            r.remaining()
        )));
    }
    Ok(())
}

/// Writes the three binary files into `dir` (created if missing), each atomically.
pub fn write_binary(dir: &Path, rec: &Reconstruction) -> Result<()> {
    write_atomic(&dir.join("cameras.bin"), |w| {
        w.write_all(&(rec.cameras.len() as u64).to_le_bytes())?;
        for c in rec.cameras.values() {
            w.write_all(&c.id.to_le_bytes())?;
            w.write_all(&c.model.id().to_le_bytes())?;
            w.write_all(&c.width.to_le_bytes())?;
            w.write_all(&c.height.to_le_bytes())?;
            for p in &c.params {
                w.write_all(&p.to_le_bytes())?;
            }
        }
        Ok(())
    })?;
    write_atomic(&dir.join("images.bin"), |w| {
        w.write_all(&(rec.images.len() as u64).to_le_bytes())?;
        for im in rec.images.values() {
            w.write_all(&im.id.to_le_bytes())?;
            for v in im.qvec.iter().chain(&im.tvec) {
                w.write_all(&v.to_le_bytes())?;
            }
            w.write_all(&im.camera_id.to_le_bytes())?;
            w.write_all(im.name.as_bytes())?;
            w.write_all(&[0])?;
            w.write_all(&(im.points2d.len() as u64).to_le_bytes())?;
            for p in &im.points2d {
                w.write_all(&p.xy[0].to_le_bytes())?;
                w.write_all(&p.xy[1].to_le_bytes())?;
                w.write_all(&p.point3d_id.unwrap_or(u64::MAX).to_le_bytes())?;
            }
        }
        Ok(())
    })?;
    write_atomic(&dir.join("points3D.bin"), |w| {
        w.write_all(&(rec.points3d.len() as u64).to_le_bytes())?;
        for p in rec.points3d.values() {
            w.write_all(&p.id.to_le_bytes())?;
            for v in &p.xyz {
                w.write_all(&v.to_le_bytes())?;
            }
            w.write_all(&p.rgb)?;
            w.write_all(&p.error.to_le_bytes())?;
            w.write_all(&(p.track.len() as u64).to_le_bytes())?;
            for t in &p.track {
                w.write_all(&t.image_id.to_le_bytes())?;
                w.write_all(&t.point2d_idx.to_le_bytes())?;
            }
        }
        Ok(())
    })
}

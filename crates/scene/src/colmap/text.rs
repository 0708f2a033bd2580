//! COLMAP's text model files. Floats are written in Rust's shortest round-trip form, so text
//! and binary hold the same values.

use super::{Image, Point2D, Point3D, Reconstruction, TrackElement};
use crate::{Camera, CameraModel, Result, SceneError, write_atomic};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

/// Reads `cameras.txt`, `images.txt` and `points3D.txt` from `dir`.
pub fn read_text(dir: &Path) -> Result<Reconstruction> {
    let rec = Reconstruction {
        cameras: read_cameras(&dir.join("cameras.txt"))?,
        images: read_images(&dir.join("images.txt"))?,
        points3d: read_points(&dir.join("points3D.txt"))?,
    };
    rec.validate(
        &dir.join("cameras.txt"),
        &dir.join("images.txt"),
        &dir.join("points3D.txt"),
    )?;
    Ok(rec)
}

fn read_string(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| SceneError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| SceneError::Binary {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to() as u64,
        message: "not valid UTF-8 text".into(),
    })
}

/// Tokens of one line with the file and line number for errors.
struct Fields<'a> {
    path: &'a Path,
    line: usize,
    tokens: std::str::SplitWhitespace<'a>,
}

impl<'a> Fields<'a> {
    fn new(path: &'a Path, line: usize, text: &'a str) -> Self {
        Self {
            path,
            line,
            tokens: text.split_whitespace(),
        }
    }

    fn err(&self, message: impl Into<String>) -> SceneError {
        SceneError::text(self.path, self.line, message)
    }

    fn next_token(&mut self, what: &str) -> Result<&'a str> {
        self.tokens
            .next()
            .ok_or_else(|| self.err(format!("expected {what}, found the end of the line")))
    }

    fn parse<T: FromStr>(&mut self, what: &str) -> Result<T> {
        let tok = self.next_token(what)?;
        tok.parse()
            .map_err(|_| self.err(format!("expected {what}, found '{tok}'")))
    }

    fn rest(&mut self) -> Vec<&'a str> {
        self.tokens.by_ref().collect()
    }

    fn end(&mut self) -> Result<()> {
        match self.tokens.next() {
            None => Ok(()),
            Some(t) => Err(self.err(format!("unexpected extra value '{t}'"))),
        }
    }
}

/// Non-empty, non-comment lines with their 1-based numbers.
fn records(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

fn read_cameras(path: &Path) -> Result<BTreeMap<u32, Camera>> {
    let text = read_string(path)?;
    let mut out = BTreeMap::new();
    for (line, l) in records(&text) {
        let mut f = Fields::new(path, line, l);
        let id: u32 = f.parse("CAMERA_ID")?;
        let name = f.next_token("MODEL")?;
        let model = CameraModel::from_name(name)
            .or_else(|| name.parse::<i32>().ok().and_then(CameraModel::from_id))
            .ok_or_else(|| {
                f.err(format!(
                    "unknown camera model '{name}' (known: {})",
                    CameraModel::ALL
                        .map(super::super::camera::CameraModel::name)
                        .join(", ")
                ))
            })?;
        let width = f.parse("WIDTH")?;
        let height = f.parse("HEIGHT")?;
        let params = (0..model.num_params())
            .map(|_| {
                f.parse::<f64>(&format!(
                    "{} parameters ({} of them)",
                    model,
                    model.num_params()
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        f.end()?;
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
            return Err(f.err(format!("camera id {id} appears twice")));
        }
    }
    Ok(out)
}

fn read_images(path: &Path) -> Result<BTreeMap<u32, Image>> {
    let text = read_string(path)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        let line = i + 1;
        i += 1;
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let mut f = Fields::new(path, line, l);
        let id: u32 = f.parse("IMAGE_ID")?;
        let mut qvec = [0.0; 4];
        for (q, n) in qvec.iter_mut().zip(["QW", "QX", "QY", "QZ"]) {
            *q = f.parse(n)?;
        }
        let mut tvec = [0.0; 3];
        for (t, n) in tvec.iter_mut().zip(["TX", "TY", "TZ"]) {
            *t = f.parse(n)?;
        }
        let camera_id = f.parse("CAMERA_ID")?;
        let name_parts = f.rest();
        if name_parts.is_empty() {
            return Err(f.err("expected NAME, found the end of the line"));
        }
        let name = name_parts.join(" ");
        // The keypoint line follows directly and may be empty.
        let pts_line = lines.get(i).copied().unwrap_or("");
        let mut pf = Fields::new(path, i + 1, pts_line);
        i += 1;
        let toks = pf.rest();
        if !toks.len().is_multiple_of(3) {
            return Err(pf.err(format!(
                "expected X Y POINT3D_ID triples, found {} values",
                toks.len()
            )));
        }
        let mut points2d = Vec::with_capacity(toks.len() / 3);
        for t in toks.chunks(3) {
            let num = |s: &str, what: &str| {
                s.parse::<f64>()
                    .map_err(|_| pf.err(format!("expected {what}, found '{s}'")))
            };
            let x = num(t[0], "X")?;
            let y = num(t[1], "Y")?;
            let pid: i64 = t[2]
                .parse()
                .map_err(|_| pf.err(format!("expected POINT3D_ID, found '{}'", t[2])))?;
            let point3d_id = match pid {
                -1 => None,
                p if p >= 0 => Some(p as u64),
                p => return Err(pf.err(format!("POINT3D_ID {p} is negative"))),
            };
            points2d.push(Point2D {
                xy: [x, y],
                point3d_id,
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
            return Err(SceneError::text(
                path,
                line,
                format!("image id {id} appears twice"),
            ));
        }
    }
    Ok(out)
}

fn read_points(path: &Path) -> Result<BTreeMap<u64, Point3D>> {
    let text = read_string(path)?;
    let mut out = BTreeMap::new();
    for (line, l) in records(&text) {
        let mut f = Fields::new(path, line, l);
        let id: u64 = f.parse("POINT3D_ID")?;
        let xyz = [f.parse("X")?, f.parse("Y")?, f.parse("Z")?];
        let rgb = [
            f.parse("R (0-255)")?,
            f.parse("G (0-255)")?,
            f.parse("B (0-255)")?,
        ];
        let error = f.parse("ERROR")?;
        let toks = f.rest();
        if !toks.len().is_multiple_of(2) {
            return Err(f.err(format!(
                "expected IMAGE_ID POINT2D_IDX pairs, found {} values",
                toks.len()
            )));
        }
        let mut track = Vec::with_capacity(toks.len() / 2);
        for t in toks.chunks(2) {
            let image_id = t[0]
                .parse()
                .map_err(|_| f.err(format!("expected IMAGE_ID, found '{}'", t[0])))?;
            let point2d_idx = t[1]
                .parse()
                .map_err(|_| f.err(format!("expected POINT2D_IDX, found '{}'", t[1])))?;
            track.push(TrackElement {
                image_id,
                point2d_idx,
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
            return Err(f.err(format!("point id {id} appears twice")));
        }
    }
    Ok(out)
}

/// Writes the three text files into `dir` (created if missing), each atomically.
pub fn write_text(dir: &Path, rec: &Reconstruction) -> Result<()> {
    write_atomic(&dir.join("cameras.txt"), |w| {
        writeln!(w, "# Camera list with one line of data per camera:")?;
        writeln!(w, "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]")?;
        writeln!(w, "# Number of cameras: {}", rec.cameras.len())?;
        for c in rec.cameras.values() {
            write!(w, "{} {} {} {}", c.id, c.model.name(), c.width, c.height)?;
            for p in &c.params {
                write!(w, " {p:?}")?;
            }
            writeln!(w)?;
        }
        Ok(())
    })?;
    write_atomic(&dir.join("images.txt"), |w| {
        let obs: usize = rec.images.values().map(|i| i.points2d.len()).sum();
        writeln!(w, "# Image list with two lines of data per image:")?;
        writeln!(
            w,
            "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME"
        )?;
        writeln!(w, "#   POINTS2D[] as (X, Y, POINT3D_ID)")?;
        writeln!(
            w,
            "# Number of images: {}, mean observations per image: {}",
            rec.images.len(),
            if rec.images.is_empty() {
                0.0
            } else {
                obs as f64 / rec.images.len() as f64
            }
        )?;
        for im in rec.images.values() {
            let [qw, qx, qy, qz] = im.qvec;
            let [tx, ty, tz] = im.tvec;
            writeln!(
                w,
                "{} {qw:?} {qx:?} {qy:?} {qz:?} {tx:?} {ty:?} {tz:?} {} {}",
                im.id, im.camera_id, im.name
            )?;
            let mut first = true;
            for p in &im.points2d {
                if !first {
                    write!(w, " ")?;
                }
                first = false;
                match p.point3d_id {
                    Some(id) => write!(w, "{:?} {:?} {id}", p.xy[0], p.xy[1])?,
                    None => write!(w, "{:?} {:?} -1", p.xy[0], p.xy[1])?,
                }
            }
            writeln!(w)?;
        }
        Ok(())
    })?;
    write_atomic(&dir.join("points3D.txt"), |w| {
        let len: usize = rec.points3d.values().map(|p| p.track.len()).sum();
        writeln!(w, "# 3D point list with one line of data per point:")?;
        writeln!(
            w,
            "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)"
        )?;
        writeln!(
            w,
            "# Number of points: {}, mean track length: {}",
            rec.points3d.len(),
            if rec.points3d.is_empty() {
                0.0
            } else {
                len as f64 / rec.points3d.len() as f64
            }
        )?;
        for p in rec.points3d.values() {
            let [x, y, z] = p.xyz;
            let [r, g, b] = p.rgb;
            write!(w, "{} {x:?} {y:?} {z:?} {r} {g} {b} {:?}", p.id, p.error)?;
            for t in &p.track {
                write!(w, " {} {}", t.image_id, t.point2d_idx)?;
            }
            writeln!(w)?;
        }
        Ok(())
    })
}

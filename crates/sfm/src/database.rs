//! The COLMAP database (SQLite): the schema COLMAP 3.8 creates, written and read through
//! rusqlite. Keypoints are stored as six f32 columns (x, y and the affine shape), descriptors as
//! 128 bytes, matches as u32 pairs, and F, E, H as row-major f64 blobs.

use crate::error::{Result, SfmError};
use crate::features::{DESCRIPTOR_LEN, Keypoint};
use crate::geometry::two_view::{Config, TwoViewGeometry};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};

/// COLMAP 3.8's `database_creator` schema, column for column.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cameras (
    camera_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    model INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    params BLOB,
    prior_focal_length INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    image_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    camera_id INTEGER NOT NULL,
    prior_qw REAL, prior_qx REAL, prior_qy REAL, prior_qz REAL,
    prior_tx REAL, prior_ty REAL, prior_tz REAL,
    CONSTRAINT image_id_check CHECK(image_id >= 0 and image_id < 2147483647),
    FOREIGN KEY(camera_id) REFERENCES cameras(camera_id));
CREATE UNIQUE INDEX IF NOT EXISTS index_name ON images(name);
CREATE TABLE IF NOT EXISTS keypoints (
    image_id INTEGER PRIMARY KEY NOT NULL,
    rows INTEGER NOT NULL,
    cols INTEGER NOT NULL,
    data BLOB,
    FOREIGN KEY(image_id) REFERENCES images(image_id) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS descriptors (
    image_id INTEGER PRIMARY KEY NOT NULL,
    rows INTEGER NOT NULL,
    cols INTEGER NOT NULL,
    data BLOB,
    FOREIGN KEY(image_id) REFERENCES images(image_id) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS matches (
    pair_id INTEGER PRIMARY KEY NOT NULL,
    rows INTEGER NOT NULL,
    cols INTEGER NOT NULL,
    data BLOB);
CREATE TABLE IF NOT EXISTS two_view_geometries (
    pair_id INTEGER PRIMARY KEY NOT NULL,
    rows INTEGER NOT NULL,
    cols INTEGER NOT NULL,
    data BLOB,
    config INTEGER NOT NULL,
    F BLOB, E BLOB, H BLOB, qvec BLOB, tvec BLOB);
";

/// COLMAP's largest image id + 1, the multiplier in pair ids.
const MAX_IMAGE_ID: i64 = 2_147_483_647;

/// COLMAP's pair id: the smaller image id first.
pub fn pair_id(a: u32, b: u32) -> i64 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    MAX_IMAGE_ID * i64::from(lo) + i64::from(hi)
}

/// The two image ids of a pair id.
pub fn image_ids(pair: i64) -> (u32, u32) {
    ((pair / MAX_IMAGE_ID) as u32, (pair % MAX_IMAGE_ID) as u32)
}

/// A database being written. It lives at `path.tmp` until [`DatabaseWriter::finish`] renames
/// it into place, so an interrupted run never leaves a half-written `database.db`.
pub struct DatabaseWriter {
    conn: Connection,
    tmp: PathBuf,
    path: PathBuf,
}

fn f64_blob(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn row_major(m: &nalgebra::Matrix3<f64>) -> Vec<u8> {
    let mut v = Vec::with_capacity(9);
    for r in 0..3 {
        for c in 0..3 {
            v.push(m[(r, c)]);
        }
    }
    f64_blob(&v)
}

impl DatabaseWriter {
    pub fn create(path: &Path) -> Result<Self> {
        let tmp = path.with_extension("db.tmp");
        let _ = std::fs::remove_file(&tmp);
        let err = |source| SfmError::Database {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(&tmp).map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        conn.execute_batch("BEGIN").map_err(err)?;
        Ok(Self {
            conn,
            tmp,
            path: path.to_path_buf(),
        })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> SfmError + '_ {
        |source| SfmError::Database {
            path: self.path.clone(),
            source,
        }
    }

    /// A camera row; returns its id.
    pub fn add_camera(
        &self,
        model: splat_scene::CameraModel,
        width: u32,
        height: u32,
        params: &[f64],
        prior_focal: bool,
    ) -> Result<u32> {
        self.conn
            .execute(
                "INSERT INTO cameras (model, width, height, params, prior_focal_length) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![model.id(), width, height, f64_blob(params), i64::from(prior_focal)],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid() as u32)
    }

    pub fn add_image(&self, name: &str, camera_id: u32) -> Result<u32> {
        self.conn
            .execute(
                "INSERT INTO images (name, camera_id) VALUES (?1, ?2)",
                params![name, camera_id],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid() as u32)
    }

    pub fn add_features(
        &self,
        image_id: u32,
        keypoints: &[Keypoint],
        descriptors: &[[u8; DESCRIPTOR_LEN]],
    ) -> Result<()> {
        let kp: Vec<u8> = keypoints
            .iter()
            .flat_map(super::features::Keypoint::affine)
            .flat_map(f32::to_le_bytes)
            .collect();
        self.conn
            .execute(
                "INSERT INTO keypoints (image_id, rows, cols, data) VALUES (?1, ?2, 6, ?3)",
                params![image_id, keypoints.len() as i64, kp],
            )
            .map_err(self.err())?;
        let desc: Vec<u8> = descriptors.iter().flatten().copied().collect();
        self.conn
            .execute(
                "INSERT INTO descriptors (image_id, rows, cols, data) VALUES (?1, ?2, ?3, ?4)",
                params![
                    image_id,
                    descriptors.len() as i64,
                    DESCRIPTOR_LEN as i64,
                    desc
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Raw matches of a pair (`id1 < id2`; columns are keypoint indices in id1, id2).
    pub fn add_matches(&self, id1: u32, id2: u32, matches: &[[u32; 2]]) -> Result<()> {
        debug_assert!(id1 < id2);
        let blob: Vec<u8> = matches
            .iter()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        self.conn
            .execute(
                "INSERT INTO matches (pair_id, rows, cols, data) VALUES (?1, ?2, 2, ?3)",
                params![pair_id(id1, id2), matches.len() as i64, blob],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The verified geometry of a pair (`id1 < id2`) with its inlier matches.
    pub fn add_two_view_geometry(
        &self,
        id1: u32,
        id2: u32,
        geometry: &TwoViewGeometry,
        matches: &[[u32; 2]],
    ) -> Result<()> {
        debug_assert!(id1 < id2);
        let inliers: Vec<u8> = geometry
            .inliers
            .iter()
            .flat_map(|&i| matches[i])
            .flat_map(u32::to_le_bytes)
            .collect();
        let q = geometry
            .rotation
            .map_or([1.0, 0.0, 0.0, 0.0], |q| [q.w, q.i, q.j, q.k]);
        let t = geometry.translation.map_or([0.0; 3], |t| [t.x, t.y, t.z]);
        self.conn
            .execute(
                "INSERT INTO two_view_geometries (pair_id, rows, cols, data, config, F, E, H, qvec, tvec)
                 VALUES (?1, ?2, 2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    pair_id(id1, id2),
                    geometry.inliers.len() as i64,
                    inliers,
                    geometry.config as i64,
                    row_major(&geometry.f),
                    row_major(&geometry.e),
                    row_major(&geometry.h),
                    f64_blob(&q),
                    f64_blob(&t),
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Commits and renames the file into place.
    pub fn finish(self) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(self.err())?;
        let Self { conn, tmp, path } = self;
        conn.close().map_err(|(_, source)| SfmError::Database {
            path: path.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| SfmError::Io {
            path: path.clone(),
            source,
        })
    }
}

/// A camera row as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct DbCamera {
    pub id: u32,
    pub model: splat_scene::CameraModel,
    pub width: u32,
    pub height: u32,
    pub params: Vec<f64>,
    pub prior_focal: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DbImage {
    pub id: u32,
    pub name: String,
    pub camera_id: u32,
    /// Keypoint positions (x, y) in pixels.
    pub keypoints: Vec<[f32; 2]>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DbTwoView {
    pub image1: u32,
    pub image2: u32,
    pub config: i64,
    pub inliers: Vec<[u32; 2]>,
    pub f: [f64; 9],
}

/// What the mapper needs from a database.
#[derive(Debug, Clone, Default)]
pub struct DatabaseContents {
    pub cameras: Vec<DbCamera>,
    pub images: Vec<DbImage>,
    pub two_view: Vec<DbTwoView>,
}

fn blob_f64(path: &Path, what: &str, b: &[u8], expect: usize) -> Result<Vec<f64>> {
    if b.len() != expect * 8 {
        return Err(SfmError::BadDatabase {
            path: path.to_path_buf(),
            message: format!(
                "{what}: {} bytes where {} f64 values were expected",
                b.len(),
                expect
            ),
        });
    }
    Ok(b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

/// Opens an existing database for reading; a missing file is named as such.
fn open_read_only(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(SfmError::BadDatabase {
            path: path.to_path_buf(),
            message: "no such file".into(),
        });
    }
    Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(
        |source| SfmError::Database {
            path: path.to_path_buf(),
            source,
        },
    )
}

/// Reads cameras, images with keypoint positions, and verified pairs with their inliers.
pub fn read(path: &Path) -> Result<DatabaseContents> {
    let conn = open_read_only(path)?;
    let err = |source| SfmError::Database {
        path: path.to_path_buf(),
        source,
    };
    let bad = |message: String| SfmError::BadDatabase {
        path: path.to_path_buf(),
        message,
    };
    let mut out = DatabaseContents::default();
    let mut stmt = conn
        .prepare("SELECT camera_id, model, width, height, params, prior_focal_length FROM cameras ORDER BY camera_id")
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, i32>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, Vec<u8>>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .map_err(err)?;
    for row in rows {
        let (id, model, width, height, params, prior) = row.map_err(err)?;
        let model = splat_scene::CameraModel::from_id(model)
            .ok_or_else(|| bad(format!("camera {id}: unknown model id {model}")))?;
        let params = blob_f64(
            path,
            &format!("camera {id} params"),
            &params,
            model.num_params(),
        )?;
        out.cameras.push(DbCamera {
            id,
            model,
            width,
            height,
            params,
            prior_focal: prior != 0,
        });
    }
    let mut stmt = conn
        .prepare(
            "SELECT images.image_id, name, camera_id, rows, cols, data FROM images
             LEFT JOIN keypoints ON keypoints.image_id = images.image_id ORDER BY images.image_id",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
            ))
        })
        .map_err(err)?;
    for row in rows {
        let (id, name, camera_id, nrows, ncols, data) = row.map_err(err)?;
        let (nrows, ncols, data) = (
            nrows.unwrap_or(0) as usize,
            ncols.unwrap_or(0) as usize,
            data.unwrap_or_default(),
        );
        let bytes = nrows.checked_mul(ncols).and_then(|n| n.checked_mul(4));
        if nrows > 0 && (![2, 4, 6].contains(&ncols) || bytes != Some(data.len())) {
            return Err(bad(format!(
                "keypoints of image {id} ({name}): {nrows}×{ncols} in {} bytes",
                data.len()
            )));
        }
        let keypoints = data
            .chunks_exact(ncols.max(1) * 4)
            .take(nrows)
            .map(|c| {
                let f = |k: usize| {
                    f32::from_le_bytes([c[4 * k], c[4 * k + 1], c[4 * k + 2], c[4 * k + 3]])
                };
                [f(0), f(1)]
            })
            .collect();
        out.images.push(DbImage {
            id,
            name,
            camera_id,
            keypoints,
        });
    }
    let mut stmt = conn
        .prepare(
            "SELECT pair_id, rows, cols, data, config, F FROM two_view_geometries ORDER BY pair_id",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
            ))
        })
        .map_err(err)?;
    for row in rows {
        let (pair, nrows, ncols, data, config, f) = row.map_err(err)?;
        let (image1, image2) = image_ids(pair);
        let data = data.unwrap_or_default();
        let bytes = usize::try_from(nrows).ok().and_then(|n| n.checked_mul(8));
        if nrows < 0 || (nrows > 0 && (ncols != 2 || bytes != Some(data.len()))) {
            return Err(bad(format!(
                "two-view geometry {image1}-{image2}: {nrows}×{ncols} in {} bytes",
                data.len()
            )));
        }
        let inliers = data
            .chunks_exact(8)
            .map(|c| {
                [
                    u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                    u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                ]
            })
            .collect();
        let f = match f {
            Some(b) if !b.is_empty() => {
                let v = blob_f64(path, &format!("F of pair {image1}-{image2}"), &b, 9)?;
                let mut a = [0.0; 9];
                a.copy_from_slice(&v);
                a
            }
            _ => [0.0; 9],
        };
        out.two_view.push(DbTwoView {
            image1,
            image2,
            config,
            inliers,
            f,
        });
    }
    out.check_references().map_err(bad)?;
    Ok(out)
}

/// Every image's descriptors (`DESCRIPTOR_LEN` bytes each), by image id: for tools that
/// reuse a database's features, such as retrieval measured against a database's pairs.
pub fn read_descriptors(path: &Path) -> Result<Vec<(u32, Vec<[u8; DESCRIPTOR_LEN]>)>> {
    let conn = open_read_only(path)?;
    let err = |source| SfmError::Database {
        path: path.to_path_buf(),
        source,
    };
    let mut stmt = conn
        .prepare("SELECT image_id, rows, cols, data FROM descriptors ORDER BY image_id")
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
            ))
        })
        .map_err(err)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, nrows, ncols, data) = row.map_err(err)?;
        let data = data.unwrap_or_default();
        let expected = usize::try_from(nrows).ok().map(|n| n * DESCRIPTOR_LEN);
        if ncols != DESCRIPTOR_LEN as i64 || expected != Some(data.len()) {
            return Err(SfmError::BadDatabase {
                path: path.to_path_buf(),
                message: format!(
                    "descriptors of image {id}: {nrows}×{ncols} in {} bytes",
                    data.len()
                ),
            });
        }
        let descriptors = data
            .chunks_exact(DESCRIPTOR_LEN)
            .map(|c| {
                let mut d = [0u8; DESCRIPTOR_LEN];
                d.copy_from_slice(c);
                d
            })
            .collect();
        out.push((id, descriptors));
    }
    Ok(out)
}

impl DatabaseContents {
    /// What the mapper relies on: finite camera parameters and keypoints, each image's camera
    /// present, each pair's images present and its inliers within their keypoints.
    fn check_references(&self) -> std::result::Result<(), String> {
        for c in &self.cameras {
            if c.params.iter().any(|p| !p.is_finite()) || c.width == 0 || c.height == 0 {
                return Err(format!(
                    "camera {}: {}×{} with parameters {:?}",
                    c.id, c.width, c.height, c.params
                ));
            }
        }
        let mut keypoints = std::collections::HashMap::new();
        for im in &self.images {
            if !self.cameras.iter().any(|c| c.id == im.camera_id) {
                return Err(format!(
                    "image {} ({}) uses camera {}, which is not in the database",
                    im.id, im.name, im.camera_id
                ));
            }
            if let Some(k) = im
                .keypoints
                .iter()
                .position(|p| !p.iter().all(|v| v.is_finite()))
            {
                return Err(format!(
                    "image {} ({}): keypoint {k} is not finite",
                    im.id, im.name
                ));
            }
            keypoints.insert(im.id, im.keypoints.len());
        }
        for t in &self.two_view {
            let pair = format!("two-view geometry {}-{}", t.image1, t.image2);
            let (Some(&n1), Some(&n2)) = (keypoints.get(&t.image1), keypoints.get(&t.image2))
            else {
                return Err(format!("{pair}: an image is not in the database"));
            };
            if let Some([a, b]) = t
                .inliers
                .iter()
                .find(|&&[a, b]| a as usize >= n1 || b as usize >= n2)
            {
                return Err(format!(
                    "{pair}: inlier {a}-{b} is past the images' {n1} and {n2} keypoints"
                ));
            }
            if t.f.iter().any(|v| !v.is_finite()) {
                return Err(format!("{pair}: F is not finite"));
            }
        }
        Ok(())
    }
}

impl DbTwoView {
    pub fn is_verified(&self) -> bool {
        self.config != Config::Undefined as i64 && self.config != Config::Degenerate as i64
    }
}

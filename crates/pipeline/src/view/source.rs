//! What `splat view` and `splat export --html` show: the model file a path names
//! (`crate::model_file`: a model file, a training checkpoint or a run folder), checked by our own
//! readers before the browser sees it, and the training cameras to step through.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use splat_scene::Reconstruction;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The model as the page loads it (bytes held in memory are shared, not copied, by each answer).
#[derive(Debug, Clone)]
pub enum Model {
    /// An Inria 3DGS PLY (binary little-endian), served as is.
    Ply(PathBuf),
    /// Another model format (.splat, .spz, .compressed.ply, an ascii or big-endian PLY), read by
    /// our readers and served as the Inria PLY they decode to.
    Converted { path: PathBuf, ply: Arc<[u8]> },
    /// A bundled SOG v2 (`.sog`, a zip), served as is.
    SogBundle(PathBuf),
    /// An unbundled SOG v2: `meta.json` and the files it names, by name.
    SogFolder {
        dir: PathBuf,
        meta: Arc<[u8]>,
        files: Vec<(String, Arc<[u8]>)>,
    },
}

impl Model {
    /// The format name the page's loader knows it by.
    pub fn format(&self) -> &'static str {
        match self {
            Model::Ply(_) | Model::Converted { .. } => "ply",
            Model::SogBundle(_) => "sog",
            Model::SogFolder { .. } => "sog-folder",
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            Model::Ply(p) | Model::SogBundle(p) | Model::Converted { path: p, .. } => p,
            Model::SogFolder { dir, .. } => dir,
        }
    }
}

/// One training camera, as the page's renderer takes it: PINHOLE intrinsics and the
/// world → camera pose (rotation row-major).
#[derive(Debug, Clone, Serialize)]
pub struct CameraJson {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
    #[serde(rename = "R")]
    pub rotation: [f64; 9],
    pub t: [f64; 3],
}

/// Everything the page is told about the scene (`/api/scene`, or embedded in an export).
#[derive(Debug, Clone, Serialize)]
pub struct SceneMeta {
    pub title: String,
    pub gaussians: usize,
    pub cameras: Vec<CameraJson>,
    /// Near plane for every view (training's default for these cameras); None: the page picks
    /// 1 % of the scene's radius.
    pub near: Option<f64>,
    pub background: [f64; 3],
    /// The training step of a run still training (the model is its newest checkpoint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
}

/// A model and its cameras, checked.
pub struct Source {
    pub model: Model,
    pub meta: SceneMeta,
    /// Why some cameras were left out, or where they came from.
    pub notes: Vec<String>,
    /// The file the model came from, as found (a watcher compares it to see a newer one).
    pub located: crate::model_file::Located,
}

impl Source {
    /// Titles the scene `name` (a cloud project's address) followed by the model file's name,
    /// instead of the file's local path.
    pub fn retitle(&mut self, name: &str) {
        let file = self
            .located
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.meta.title = format!("{name} ({file})");
    }
}

/// Reads and checks the model; returns it with its Gaussian count.
fn open_model(file: &Path) -> Result<(Model, usize)> {
    let is_dir = file.is_dir();
    let is_meta = file.file_name().is_some_and(|n| n == "meta.json");
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if is_dir || is_meta {
        let dir = if is_dir {
            file.to_path_buf()
        } else {
            file.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let (raw, count) = check_sog(file)?;
        let meta_path = dir.join("meta.json");
        let meta = std::fs::read(&meta_path).with_context(|| format!("{}", meta_path.display()))?;
        return Ok((
            Model::SogFolder {
                dir,
                meta: meta.into(),
                files: raw.files.into_iter().map(|(n, b)| (n, b.into())).collect(),
            },
            count,
        ));
    }
    if crate::model_file::is_checkpoint(file) {
        let cloud = crate::model_file::read_checkpoint(file)?;
        return Ok((converted(file, &cloud)?, cloud.len()));
    }
    if matches!(ext.as_deref(), Some("sog" | "zip")) {
        let (_, count) = check_sog(file)?;
        return Ok((Model::SogBundle(file.to_path_buf()), count));
    }
    match splat_scene::formats::Format::from_name(file) {
        Some(format) => {
            let cloud = splat_scene::formats::read_model(file)?;
            let native = format == splat_scene::formats::Format::Ply && is_plain_le_ply(file)?;
            if native {
                return Ok((Model::Ply(file.to_path_buf()), cloud.len()));
            }
            Ok((converted(file, &cloud)?, cloud.len()))
        }
        _ => bail!(
            "{}: not a model splat can show (expected .ply, .compressed.ply, .splat, .spz, .sog, or a SOG folder with meta.json)",
            file.display()
        ),
    }
}

/// `cloud` (read from `file`) as the Inria PLY the page loads.
fn converted(file: &Path, cloud: &splat_scene::GaussianCloud) -> Result<Model> {
    let mut ply = Vec::new();
    splat_scene::ply::write_ply_to(&mut ply, cloud)?;
    Ok(Model::Converted {
        path: file.to_path_buf(),
        ply: ply.into(),
    })
}

/// Whether a PLY is the binary little-endian kind the page reads itself (compressed PLYs and
/// ascii or big-endian ones are converted first).
fn is_plain_le_ply(file: &Path) -> Result<bool> {
    use std::io::Read;
    let mut head = vec![0u8; 4096];
    let mut f = std::fs::File::open(file).with_context(|| format!("{}", file.display()))?;
    let n = f
        .read(&mut head)
        .with_context(|| format!("{}", file.display()))?;
    head.truncate(n);
    let text = String::from_utf8_lossy(&head);
    Ok(text.contains("format binary_little_endian 1.0")
        && !splat_scene::formats::compressed_ply::is_compressed(&head))
}

/// Reads a SOG once and decodes it fully (so that a damaged one fails here, named), insisting
/// on version 2, the one the page decodes; returns its files and its Gaussian count.
fn check_sog(path: &Path) -> Result<(splat_sogs::container::RawScene, usize)> {
    let raw = splat_sogs::container::read_raw(path)?;
    if matches!(raw.meta, splat_sogs::meta::Meta::V1(_)) {
        bail!(
            "{}: SOG version 1; the viewer reads version 2 (convert: splat decompress IN -o m.ply && splat compress m.ply -o OUT.sog)",
            path.display()
        );
    }
    let count = splat_sogs::decode_raw(&raw, path)?.len();
    Ok((raw, count))
}

/// The COLMAP workspace (or transforms folder) near the model: the folder given, else the
/// folder holding the model or the one above it (a `splat run` workspace has `sparse/0` beside
/// `point_cloud.ply`), or for a checkpoint the one above its `checkpoints/` too.
fn find_cameras(model: &Path, given: Option<&Path>) -> Option<PathBuf> {
    if let Some(g) = given {
        return Some(g.to_path_buf());
    }
    let dir = if model.is_dir() {
        model.to_path_buf()
    } else {
        model.parent()?.to_path_buf()
    };
    let levels = if crate::model_file::is_checkpoint(model) {
        3
    } else {
        2
    };
    dir.ancestors()
        .take(levels)
        .find(|d| d.join("sparse").is_dir() || d.join("transforms_train.json").is_file())
        .map(Path::to_path_buf)
}

/// Every pinhole camera of `rec`, in image-name order (`splat render --view N` counts the same
/// way); cameras of other models are left out and counted.
pub fn cameras_of(rec: &Reconstruction) -> (Vec<CameraJson>, usize) {
    let mut out = Vec::new();
    let mut skipped = 0;
    for im in rec.images_by_name() {
        let Some(cam) = rec.cameras.get(&im.camera_id) else {
            skipped += 1;
            continue;
        };
        let Some(view) = splat_train::View::from_colmap(cam, im, 0.0, [0.0; 3]) else {
            skipped += 1;
            continue;
        };
        let r = view.rotation;
        out.push(CameraJson {
            name: im.name.clone(),
            width: view.width,
            height: view.height,
            fx: view.fx,
            fy: view.fy,
            cx: view.cx,
            cy: view.cy,
            rotation: std::array::from_fn(|k| r[(k / 3, k % 3)]),
            t: [view.translation.x, view.translation.y, view.translation.z],
        });
    }
    (out, skipped)
}

/// Resolves `path` (and an optional camera source) into what the page shows.
pub fn resolve(path: &Path, cameras: Option<&Path>, background: [f64; 3]) -> Result<Source> {
    let located = crate::model_file::find(path)?;
    let file = located.file.clone();
    let (model, gaussians) = open_model(&file)?;
    let mut notes = Vec::new();
    let (cams, near) = match find_cameras(&file, cameras) {
        Some(dir) => {
            let rec = crate::render::load_cameras(&dir)
                .with_context(|| format!("reading the cameras in {}", dir.display()))?;
            let (cams, skipped) = cameras_of(&rec);
            notes.push(format!(
                "{} training camera(s) from {}",
                cams.len(),
                dir.display()
            ));
            if skipped > 0 {
                notes.push(format!(
                    "{skipped} camera(s) with lens distortion left out (run `splat undistort` for PINHOLE ones)"
                ));
            }
            (cams, Some(splat_train::train::default_near(&rec)))
        }
        None => {
            notes.push("no cameras (give --cameras DATA to step through training views)".into());
            (Vec::new(), None)
        }
    };
    let title = file
        .canonicalize()
        .unwrap_or_else(|_| file.clone())
        .display()
        .to_string();
    Ok(Source {
        model,
        meta: SceneMeta {
            title,
            gaussians,
            cameras: cams,
            near,
            background,
            step: located.step,
        },
        notes,
        located,
    })
}

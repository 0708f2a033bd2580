//! A training/evaluation dataset folder: a COLMAP workspace (`images/` + `sparse/0`, binary or
//! text) or a Blender/nerfstudio folder of `transforms_*.json`. Gives the cameras, where the
//! images are, and the train/test split the field uses (every 8th image by name for COLMAP
//! data, `transforms_test.json` for Blender data).

use crate::colmap::{Reconstruction, find_model_dir, read_model};
use crate::transforms::read_transforms;
use crate::{Camera, Image, Result, SceneError};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Cameras, posed images and the split.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub model: Reconstruction,
    /// Image names are relative to this folder.
    pub image_root: PathBuf,
    /// Names of the held-out test images.
    pub test: BTreeSet<String>,
    /// Which kind of folder it was read from.
    pub source: Source,
}

/// The folder layout a dataset came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Colmap,
    /// Blender/nerfstudio `transforms_*.json`.
    Transforms,
}

impl Source {
    /// The background photos are composited on when none is given: white for Blender scenes
    /// (their RGBA renders are evaluated over white, as in the 3DGS paper), black otherwise.
    pub fn default_background(self) -> [f64; 3] {
        match self {
            Source::Colmap => [0.0; 3],
            Source::Transforms => [1.0; 3],
        }
    }
}

/// Every `COLMAP_TEST_EVERY`-th image (in name order, from the first) is a test image.
pub const COLMAP_TEST_EVERY: usize = 8;

impl Dataset {
    /// Loads `dir`, a COLMAP workspace or a transforms folder.
    pub fn load(dir: &Path) -> Result<Self> {
        if let Some(model_dir) = find_model_dir(dir) {
            let model = read_model(&model_dir)?;
            let image_root = if dir.join("images").is_dir() {
                dir.join("images")
            } else {
                dir.to_path_buf()
            };
            return Ok(Self {
                model,
                image_root,
                test: BTreeSet::new(),
                source: Source::Colmap,
            }
            .with_test_every(COLMAP_TEST_EVERY));
        }
        let mut model = Reconstruction::default();
        let mut test = BTreeSet::new();
        let mut found = false;
        for (file, is_test) in [
            ("transforms_train.json", false),
            ("transforms_test.json", true),
            ("transforms_val.json", false),
            ("transforms.json", false),
        ] {
            let p = dir.join(file);
            if !p.is_file() {
                continue;
            }
            found = true;
            let part = read_transforms(&p)?;
            for im in part.images.into_values() {
                if model.images.values().any(|i| i.name == im.name) {
                    continue;
                }
                let id = model.images.len() as u32 + 1;
                let cam = part.cameras[&im.camera_id].clone();
                model.cameras.insert(id, Camera { id, ..cam });
                if is_test {
                    test.insert(im.name.clone());
                }
                model.images.insert(
                    id,
                    Image {
                        id,
                        camera_id: id,
                        ..im
                    },
                );
            }
        }
        if !found {
            return Err(SceneError::invalid(
                dir,
                "neither a COLMAP workspace (sparse/0 or sparse with cameras.bin/.txt) nor a folder with transforms_*.json",
            ));
        }
        Ok(Self {
            model,
            image_root: dir.to_path_buf(),
            test,
            source: Source::Transforms,
        })
    }

    /// The same views with the held-out split chosen by `test_every`: 0 holds nothing out
    /// (every photo trains, as the reference implementation does without `--eval`; a Blender
    /// folder's test views join the training views); N > 0 holds out every N-th image by name
    /// in a COLMAP workspace, while a Blender folder keeps its own `transforms_test.json`.
    pub fn with_test_every(mut self, test_every: usize) -> Self {
        match (test_every, self.source) {
            (0, _) => self.test.clear(),
            (n, Source::Colmap) => {
                self.test = self
                    .model
                    .images_by_name()
                    .iter()
                    .step_by(n)
                    .map(|i| i.name.clone())
                    .collect();
            }
            (_, Source::Transforms) => {}
        }
        self
    }

    /// The training images in name order.
    pub fn train_images(&self) -> Vec<&Image> {
        self.model
            .images_by_name()
            .into_iter()
            .filter(|i| !self.test.contains(&i.name))
            .collect()
    }

    /// The test images in name order.
    pub fn test_images(&self) -> Vec<&Image> {
        self.model
            .images_by_name()
            .into_iter()
            .filter(|i| self.test.contains(&i.name))
            .collect()
    }
}

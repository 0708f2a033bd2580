//! The model a path on the command line names, for every command that reads one (`splat view`,
//! `export`, `eval`, `render`): a model file by its extension (3DGS PLY, .compressed.ply,
//! .splat, .spz, .sog, a SOG folder), a training checkpoint (`.ckpt`), or a `splat run` /
//! `splat train` folder — its `point_cloud.ply`, else `scene.sog`, except while the run is still
//! training: then its newest checkpoint, so that a long run can be looked at, evaluated and
//! shared before it ends.

use anyhow::{Context, Result, bail};
use splat_scene::GaussianCloud;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The checkpoint folder of a `splat train` output (its `--checkpoint-dir` default).
const CHECKPOINTS: &str = "checkpoints";

/// A model file, and the training step when it is a checkpoint of a run folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub file: PathBuf,
    /// The checkpoint's step, when a folder's model is its newest checkpoint.
    pub step: Option<u32>,
    /// When the file was last written (a watcher compares it to see a new model).
    pub modified: Option<SystemTime>,
}

/// The model file `path` names: a file as it is; a folder by what it holds (see the module
/// comment). Says on stderr when a folder's model is a checkpoint of a run in progress.
pub fn find(path: &Path) -> Result<Located> {
    let found = locate(path)?;
    if let Some(step) = found.step {
        eprintln!(
            "{}: the run is still training; showing its newest checkpoint, step {step} ({})",
            path.display(),
            found.file.display()
        );
    }
    Ok(found)
}

/// The newest model a checkpoint folder holds: its newest checkpoint, or a newer preview
/// (`step_N.spz`: an `s3://` mirror keeps only those); at one step the checkpoint, which is
/// exact.
fn newest_checkpoint(dir: &Path) -> Option<(u32, PathBuf)> {
    use splat_train::checkpoint::{list, list_previews};
    let ckpt = list(dir).pop();
    let preview = list_previews(dir).pop();
    match (ckpt, preview) {
        (Some(c), Some(p)) if p.0 > c.0 => Some(p),
        (Some(c), _) => Some(c),
        (None, p) => p,
    }
}

/// `find` without a word on stderr (for a watcher that asks every few seconds).
pub fn locate(path: &Path) -> Result<Located> {
    let at = |file: PathBuf, step: Option<u32>| Located {
        modified: modified(&file),
        file,
        step,
    };
    if !path.exists() {
        bail!("{}: no such file or folder", path.display());
    }
    if path.is_file() {
        return Ok(at(path.to_path_buf(), None));
    }
    let finished = ["point_cloud.ply", "scene.sog"]
        .iter()
        .map(|n| path.join(n))
        .find(|p| p.is_file());
    let newest = newest_checkpoint(&path.join(CHECKPOINTS));
    if let Some((step, ckpt)) = newest {
        // A run resumed for more steps keeps its earlier point_cloud.ply until it ends: the
        // newer file is the model now.
        let in_progress = finished
            .as_ref()
            .is_none_or(|f| modified(&ckpt) > modified(f));
        if in_progress {
            return Ok(at(ckpt, Some(step)));
        }
    }
    if let Some(f) = finished {
        return Ok(at(f, None));
    }
    if path.join("meta.json").is_file() {
        return Ok(at(path.to_path_buf(), None));
    }
    if path.join(CHECKPOINTS).join("progress.json").is_file() {
        bail!(
            "{}: the run has written no checkpoint yet (`splat train` writes one every --checkpoint-every steps, 2,000 by default); look again once it has",
            path.display()
        );
    }
    bail!(
        "{}: holds no point_cloud.ply, scene.sog, meta.json or checkpoints/; give a 3DGS PLY, a .sog, a training checkpoint (.ckpt) or a splat run / splat train folder",
        path.display()
    )
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Whether `file` is a training checkpoint (by its extension).
pub fn is_checkpoint(file: &Path) -> bool {
    file.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("ckpt"))
}

/// The model inside a training checkpoint, checked (a diverged run's NaN is named here, not
/// drawn as a black page later).
pub fn read_checkpoint(file: &Path) -> Result<GaussianCloud> {
    let c = splat_train::checkpoint::Checkpoint::read(file)?;
    let cloud = c
        .model()
        .with_context(|| format!("{}", file.display()))?
        .to_cloud();
    cloud.validate(file)?;
    Ok(cloud)
}

/// The Gaussians `path` names, in whichever form (see `find`), and the file they came from.
pub fn read_cloud(path: &Path) -> Result<(PathBuf, GaussianCloud)> {
    let file = find(path)?.file;
    let cloud = if is_checkpoint(&file) {
        read_checkpoint(&file)?
    } else if splat_scene::formats::Format::from_name(&file).is_some() {
        splat_scene::formats::read_model(&file)?
    } else {
        splat_sogs::read_sog(&file)?
    };
    Ok((file, cloud))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_in_progress_shows_its_newest_checkpoint_or_a_newer_preview() {
        let run = tempfile::tempdir().unwrap();
        let dir = run.path().join(CHECKPOINTS);
        std::fs::create_dir_all(&dir).unwrap();
        let touch = |name: &str| std::fs::write(dir.join(name), b"x").unwrap();
        let shown = || {
            let l = locate(run.path()).unwrap();
            (
                l.file.file_name().unwrap().to_str().unwrap().to_string(),
                l.step,
            )
        };
        // A mirror of a cloud run holds previews only.
        touch("step_000100.spz");
        assert_eq!(shown(), ("step_000100.spz".into(), Some(100)));
        // At one step the exact checkpoint is shown, not its preview.
        touch("step_000100.ckpt");
        assert_eq!(shown(), ("step_000100.ckpt".into(), Some(100)));
        touch("step_000200.spz");
        assert_eq!(shown(), ("step_000200.spz".into(), Some(200)));
        touch("step_000300.ckpt");
        assert_eq!(shown(), ("step_000300.ckpt".into(), Some(300)));
    }
}

//! `splat view s3://BUCKET/PREFIX/JOB_ID/`: a cloud project (`splat submit`) looked at while it
//! runs. The project's files are mirrored into a local folder laid out as a `splat run`
//! folder — the SfM job's `sfm/sparse/0/` as `sparse/0/` (the cameras to step through), the
//! newest model of the training job's `checkpoints/` (older ones removed), and once the
//! compression job has written it, `sog/scene.sog` as `scene.sog` — and the viewer follows
//! that folder as it follows a local run: each newer checkpoint, then the final scene. The
//! mirror is brought up to date every `--poll-seconds` until `scene.sog` is there.
//!
//! Only what the page shows is downloaded (never the photos). Of a checkpoint, its preview
//! `step_N.spz` where the trainer wrote one (~25 bytes a Gaussian); else only the checkpoint's
//! first part, the model (`splat_train::checkpoint::model_only`: about a third of the file,
//! which also holds the optimiser's state), ~0.25 KB a Gaussian.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// A project's place in S3: its bucket and its root key (no slash at either end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub bucket: String,
    pub root: String,
}

impl Project {
    /// `s3://BUCKET/KEY…` (a trailing slash or none) as a project.
    pub fn parse(uri: &str) -> Result<Self> {
        let Some(rest) = uri.strip_prefix("s3://") else {
            bail!("{uri}: not an s3:// address");
        };
        let (bucket, root) = rest.split_once('/').unwrap_or((rest, ""));
        let root = root.trim_matches('/');
        if bucket.is_empty() || root.is_empty() {
            bail!(
                "{uri}: give a project's folder, s3://BUCKET/PREFIX/JOB_ID/ (as `splat submit` prints it)"
            );
        }
        Ok(Self {
            bucket: bucket.to_string(),
            root: root.to_string(),
        })
    }

    pub fn uri(&self) -> String {
        format!("s3://{}/{}/", self.bucket, self.root)
    }

    /// Where the mirror goes unless `--mirror` says: the user's cache folder
    /// (`$XDG_CACHE_HOME`, else `~/.cache`), `splat/view/BUCKET/ROOT`.
    pub fn default_mirror(&self) -> PathBuf {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        cache.join("splat/view").join(&self.bucket).join(&self.root)
    }
}

/// The newest file directly under `prefix` among `keys` that `step_of` gives a step
/// (`checkpoint::step_of` for `step_N.ckpt`, `preview_step_of` for `step_N.spz`):
/// (step, key, size).
pub fn newest<'a>(
    keys: impl IntoIterator<Item = (&'a String, &'a i64)>,
    prefix: &str,
    step_of: fn(&str) -> Option<u32>,
) -> Option<(u32, String, i64)> {
    keys.into_iter()
        .filter_map(|(k, size)| {
            let step = step_of(k.strip_prefix(prefix)?)?;
            Some((step, k.clone(), *size))
        })
        .max_by_key(|(step, ..)| *step)
}

/// Which of a training job's files to mirror: its newest preview where that is as new as its
/// newest checkpoint, else that checkpoint's model (a job that writes no previews; a
/// checkpoint whose preview is not there yet, unless the mirror holds the checkpoint already).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    Preview { step: u32, key: String, size: i64 },
    Checkpoint { step: u32, key: String, size: i64 },
}

/// What `sync` fetches among `keys` under `prefix`; `have_checkpoint(step)`: whether the
/// mirror holds that step's checkpoint model.
pub fn wanted<'a>(
    keys: impl IntoIterator<Item = (&'a String, &'a i64)> + Clone,
    prefix: &str,
    have_checkpoint: impl Fn(u32) -> bool,
) -> Option<Wanted> {
    use splat_train::checkpoint::{preview_step_of, step_of};
    let ckpt = newest(keys.clone(), prefix, step_of);
    let preview = newest(keys, prefix, preview_step_of);
    match (preview, ckpt) {
        (Some((step, key, size)), c)
            if c.as_ref()
                .is_none_or(|(s, ..)| *s < step || (*s == step && !have_checkpoint(step))) =>
        {
            Some(Wanted::Preview { step, key, size })
        }
        (_, Some((step, key, size))) => Some(Wanted::Checkpoint { step, key, size }),
        (_, None) => None,
    }
}

/// Mirrors `uri` into `mirror` (or the default place) once, then keeps it up to date in the
/// background every `poll_seconds`; returns the folder to show. `region`: the bucket's, when
/// the SDK's default is not it.
#[cfg(feature = "aws")]
pub fn follow(
    uri: &str,
    mirror: Option<PathBuf>,
    poll_seconds: f64,
    region: Option<&str>,
) -> Result<PathBuf> {
    use anyhow::Context;
    let project = Project::parse(uri)?;
    let dir = mirror.unwrap_or_else(|| project.default_mirror());
    let rt = runtime()?;
    let aws = rt.block_on(crate::submit::cloud::Aws::connect(region));
    let state = rt.block_on(sync(&aws, &project, &dir))?;
    eprintln!(
        "splat view: {} mirrored in {}",
        project.uri(),
        dir.display()
    );
    if state == Synced::Nothing {
        bail!(
            "{}: no checkpoint or sog/scene.sog yet (the training job uploads a checkpoint every --train.checkpoint-every steps); look again later",
            project.uri()
        );
    }
    if state == Synced::Training {
        let (project, dir2) = (project.clone(), dir.clone());
        std::thread::Builder::new()
            .name("s3 mirror".into())
            .spawn(move || keep_up(&rt, &aws, &project, &dir2, poll_seconds))
            .context("starting the mirror's thread")?;
    }
    Ok(dir)
}

#[cfg(not(feature = "aws"))]
pub fn follow(
    uri: &str,
    _mirror: Option<PathBuf>,
    _poll_seconds: f64,
    _region: Option<&str>,
) -> Result<PathBuf> {
    Project::parse(uri)?;
    bail!(
        "{uri}: this splat was built without AWS support: build it with `cargo build --release --features aws` (or `cargo install --path crates/pipeline --features aws`) to look at a cloud project"
    )
}

/// What the mirror holds after a sync.
#[cfg(feature = "aws")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Synced {
    /// No model yet.
    Nothing,
    /// A checkpoint: the project is still training.
    Training,
    /// The final `scene.sog`.
    Finished,
}

#[cfg(feature = "aws")]
fn runtime() -> Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the AWS client's runtime")
}

/// Syncs every `poll_seconds` until the final scene is mirrored; a failed look is said once
/// and tried again at the next.
#[cfg(feature = "aws")]
fn keep_up(
    rt: &tokio::runtime::Runtime,
    aws: &crate::submit::cloud::Aws,
    project: &Project,
    dir: &Path,
    poll_seconds: f64,
) {
    let mut last_error = String::new();
    loop {
        std::thread::sleep(std::time::Duration::from_secs_f64(poll_seconds.max(0.05)));
        match rt.block_on(sync(aws, project, dir)) {
            Ok(Synced::Finished) => {
                eprintln!("splat view: {} has finished", project.uri());
                return;
            }
            Ok(_) => last_error.clear(),
            Err(e) => {
                let e = format!("{e:#}");
                if e != last_error {
                    eprintln!("splat view: {e}; trying again in {poll_seconds} s");
                    last_error = e;
                }
            }
        }
    }
}

/// One look at the project: downloads what changed (see the module comment).
#[cfg(feature = "aws")]
async fn sync(aws: &crate::submit::cloud::Aws, project: &Project, dir: &Path) -> Result<Synced> {
    let (bucket, root) = (&project.bucket, &project.root);
    let sparse = format!("{root}/sfm/sparse/0/");
    for (key, size) in aws.list(bucket, &sparse).await? {
        let Some(name) = key.strip_prefix(&sparse).filter(|n| !n.contains('/')) else {
            continue;
        };
        let local = dir.join("sparse/0").join(name);
        if !same_size(&local, size) {
            aws.download_to(bucket, &key, &local).await?;
        }
    }
    let sog = format!("{root}/sog/scene.sog");
    if let Some(size) = aws.list(bucket, &sog).await?.get(&sog) {
        let local = dir.join("scene.sog");
        if !same_size(&local, *size) {
            aws.download_to(bucket, &sog, &local).await?;
        }
        return Ok(Synced::Finished);
    }
    sync_training(aws, bucket, root, dir).await
}

/// The training job's newest model into `dir/checkpoints` (see [`wanted`]), older ones removed.
#[cfg(feature = "aws")]
async fn sync_training(
    aws: &crate::submit::cloud::Aws,
    bucket: &str,
    root: &str,
    dir: &Path,
) -> Result<Synced> {
    use splat_train::checkpoint::{list, list_previews, path_for, preview_path_for};
    let checkpoints = format!("{root}/checkpoints/");
    let listed = aws.list(bucket, &checkpoints).await?;
    let local_dir = dir.join("checkpoints");
    let have = |step| path_for(&local_dir, step).is_file();
    let keep = match wanted(&listed, &checkpoints, have) {
        None => return Ok(Synced::Nothing),
        Some(Wanted::Preview { step, key, size }) => {
            let local = preview_path_for(&local_dir, step);
            if !same_size(&local, size) {
                eprintln!(
                    "splat view: downloading the preview of step {step} ({:.1} MB)",
                    size as f64 / 1e6
                );
                aws.download_to(bucket, &key, &local).await?;
            }
            local
        }
        Some(Wanted::Checkpoint { step, key, size }) => {
            let local = path_for(&local_dir, step);
            // A step's checkpoint never changes, and the mirror keeps only its model: there is
            // nothing to compare sizes with.
            if !local.is_file() {
                fetch_model(aws, bucket, &key, size, &local, step).await?;
            }
            local
        }
    };
    for (_, path) in list(&local_dir)
        .into_iter()
        .chain(list_previews(&local_dir))
    {
        if path != keep {
            // The viewer shows the newest; an old one left behind only takes room.
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(Synced::Training)
}

/// The first bytes asked for: enough for any checkpoint header of a run with a few thousand
/// photos (it lists the order of the views).
#[cfg(feature = "aws")]
const HEAD_BYTES: u64 = 64 * 1024;

/// The model of the checkpoint at `key` (`size` bytes) into `local`: the header, then the
/// bytes through the model's arrays, made a model-only checkpoint; the whole file where its
/// arrays do not begin with the model's.
#[cfg(feature = "aws")]
async fn fetch_model(
    aws: &crate::submit::cloud::Aws,
    bucket: &str,
    key: &str,
    size: i64,
    local: &Path,
    step: u32,
) -> Result<()> {
    use anyhow::Context;
    use splat_train::checkpoint::{Head, model_end, model_only, read_head};
    let what = || format!("s3://{bucket}/{key}");
    let mut head = aws.get_range(bucket, key, 0, HEAD_BYTES).await?;
    if let Ok(Head::Needs(n)) = read_head(&head) {
        head = aws.get_range(bucket, key, 0, n as u64).await?;
    }
    let end = match read_head(&head) {
        Ok(Head::Complete { header, start }) => model_end(&header, start),
        Ok(Head::Needs(_)) => bail!("{}: the file ends inside its header", what()),
        Err(e) => bail!("{}: {e}", what()),
    };
    let Some(end) = end else {
        eprintln!(
            "splat view: downloading the checkpoint of step {step} ({:.1} MB)",
            size as f64 / 1e6
        );
        return aws.download_to(bucket, key, local).await;
    };
    eprintln!(
        "splat view: downloading the model of step {step} ({:.1} MB of the checkpoint's {:.1} MB)",
        end as f64 / 1e6,
        size as f64 / 1e6
    );
    // The header's bytes are here already: only the rest of the model is fetched.
    let mut bytes = head;
    let have = bytes.len() as u64;
    bytes.extend(aws.get_range(bucket, key, have, end).await?);
    let model = model_only(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", what()))?;
    splat_scene::write_atomic_bytes(local, &model).with_context(|| format!("{}", local.display()))
}

#[cfg(feature = "aws")]
fn same_size(path: &Path, size: i64) -> bool {
    std::fs::metadata(path).is_ok_and(|m| i64::try_from(m.len()).ok() == Some(size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn an_s3_address_names_a_project() {
        let p = Project::parse("s3://splat-test/splat-jobs/castle-1/").unwrap();
        assert_eq!(p.bucket, "splat-test");
        assert_eq!(p.root, "splat-jobs/castle-1");
        assert_eq!(p.uri(), "s3://splat-test/splat-jobs/castle-1/");
        assert_eq!(Project::parse("s3://b/j").unwrap().root, "j");
        for bad in [
            "s3://bucket-only",
            "s3://bucket/",
            "s3:///key",
            "http://b/k",
        ] {
            let e = Project::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn the_preview_is_followed_where_it_is_as_new_as_the_checkpoint() {
        let keys = |names: &[(&str, i64)]| -> HashMap<String, i64> {
            names
                .iter()
                .map(|(k, s)| (format!("r/checkpoints/{k}"), *s))
                .collect()
        };
        let preview = |step: u32, size: i64| Wanted::Preview {
            step,
            key: format!("r/checkpoints/step_{step:06}.spz"),
            size,
        };
        let checkpoint = |step: u32, size: i64| Wanted::Checkpoint {
            step,
            key: format!("r/checkpoints/step_{step:06}.ckpt"),
            size,
        };
        let none = |_| false;
        // A job without previews: its checkpoint.
        let k = keys(&[("step_000500.ckpt", 50), ("progress.json", 1)]);
        assert_eq!(
            wanted(&k, "r/checkpoints/", none),
            Some(checkpoint(500, 50))
        );
        // With them: the newest preview, not the checkpoint beside it.
        let k = keys(&[
            ("step_000500.ckpt", 50),
            ("step_000500.spz", 5),
            ("step_001000.ckpt", 90),
            ("step_001000.spz", 8),
        ]);
        assert_eq!(wanted(&k, "r/checkpoints/", none), Some(preview(1000, 8)));
        // Unless the mirror already holds that step's checkpoint (fetched before the preview
        // was there).
        assert_eq!(
            wanted(&k, "r/checkpoints/", |s| s == 1000),
            Some(checkpoint(1000, 90))
        );
        // A checkpoint newer than every preview: its model.
        let k = keys(&[("step_000500.spz", 5), ("step_001000.ckpt", 90)]);
        assert_eq!(
            wanted(&k, "r/checkpoints/", none),
            Some(checkpoint(1000, 90))
        );
        // Previews only.
        let k = keys(&[("step_000500.spz", 5)]);
        assert_eq!(wanted(&k, "r/checkpoints/", none), Some(preview(500, 5)));
        assert_eq!(wanted(&keys(&[]), "r/checkpoints/", none), None);
    }

    #[test]
    fn the_newest_checkpoint_is_found_by_its_step() {
        let keys: HashMap<String, i64> = [
            ("r/checkpoints/step_000500.ckpt", 5),
            ("r/checkpoints/step_002000.ckpt", 20),
            ("r/checkpoints/step_001000.ckpt", 10),
            ("r/checkpoints/progress.json", 1),
            ("r/checkpoints/old/step_009000.ckpt", 90),
        ]
        .into_iter()
        .map(|(k, s)| (k.to_string(), s))
        .collect();
        let step_of = splat_train::checkpoint::step_of;
        assert_eq!(
            newest(&keys, "r/checkpoints/", step_of),
            Some((2000, "r/checkpoints/step_002000.ckpt".to_string(), 20))
        );
        assert_eq!(newest(&HashMap::new(), "r/checkpoints/", step_of), None);
    }
}

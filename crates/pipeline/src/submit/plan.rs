//! The parts of a submission that need no AWS call: the job's name, where its files live in
//! the bucket, the execution input the state machine takes, the photos to upload, and how a
//! `progress.json` snapshot reads.

use crate::stage_options::{STAGES, StageOptions};
use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The longest job id: SageMaker job names are at most 63 characters, and the state machine
/// appends `-compress-` and 8 hexadecimal digits.
pub const MAX_JOB_ID: usize = 40;

/// A job id's rule (it starts SageMaker job names and names the execution).
pub fn check_job_id(id: &str) -> Result<()> {
    let ok_chars = id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let ok_ends = id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id.ends_with(|c: char| c.is_ascii_alphanumeric());
    if id.is_empty() || id.len() > MAX_JOB_ID || !ok_chars || !ok_ends {
        bail!(
            "job id '{id}': use 1 to {MAX_JOB_ID} letters, digits and hyphens, starting and ending with a letter or digit"
        );
    }
    Ok(())
}

/// A job id from the photo folder's name and the time (`castle-20261204-101502`).
pub fn default_job_id(photos: &Path, unix_seconds: u64) -> String {
    let name = photos
        .canonicalize()
        .unwrap_or_else(|_| photos.to_path_buf())
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let mut slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    slug = slug
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    slug.truncate(MAX_JOB_ID - 16);
    let slug = slug.trim_end_matches('-');
    let stamp = utc_stamp(unix_seconds);
    if slug.is_empty() {
        format!("splat-{stamp}")
    } else {
        format!("{slug}-{stamp}")
    }
}

/// `YYYYMMDD-HHMMSS` (UTC) of a Unix time.
fn utc_stamp(t: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(t).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Where one project's files are in the bucket (the state machine derives the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub bucket: String,
    /// `PREFIX/JOB_ID`.
    pub root: String,
}

impl Layout {
    pub fn new(bucket: &str, prefix: &str, job_id: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        Self {
            bucket: bucket.into(),
            root: if prefix.is_empty() {
                job_id.into()
            } else {
                format!("{prefix}/{job_id}")
            },
        }
    }

    pub fn images(&self) -> String {
        format!("{}/images/", self.root)
    }

    pub fn images_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.images())
    }

    /// The `progress.json` files the jobs upload while they run, in stage order.
    pub fn progress_keys(&self) -> [String; 3] {
        [
            format!("{}/progress/sfm/progress.json", self.root),
            format!("{}/checkpoints/progress.json", self.root),
            format!("{}/progress/compress/progress.json", self.root),
        ]
    }

    /// What a finished run leaves for the user: prefixes to download, in order.
    pub fn result_prefixes(&self) -> [String; 2] {
        [format!("{}/sog/", self.root), format!("{}/sfm/", self.root)]
    }

    pub fn failure_key(&self) -> String {
        format!("{}/failure.json", self.root)
    }
}

/// Of the SfM workspace, only the reports come back (the undistorted photos and the model
/// stay in the bucket).
pub fn is_downloaded(key: &str, layout: &Layout) -> bool {
    let [sog, sfm] = layout.result_prefixes();
    if key.starts_with(&sog) {
        return !key.ends_with('/');
    }
    key.strip_prefix(&sfm)
        .is_some_and(|rest| !rest.contains('/') && rest.ends_with(".json"))
}

/// The stage options as the state machine's `options` object: every value a string, switches
/// "true" (the form `splat sagemaker --options` and SageMaker hyperparameters take).
pub fn options_json(stages: &StageOptions) -> Value {
    let mut out = Map::new();
    for stage in STAGES {
        let mut m = Map::new();
        for o in stages.of(stage) {
            let value = o.value.clone().unwrap_or_else(|| "true".into());
            m.insert(o.name.clone(), Value::String(value));
        }
        out.insert(stage.into(), Value::Object(m));
    }
    Value::Object(out)
}

/// `STAGE=TYPE` pairs → `{stage: type}`.
pub fn instance_types(pairs: &[String]) -> Result<Value> {
    let mut out = Map::new();
    for p in pairs {
        let Some((stage, ty)) = p.split_once('=') else {
            bail!("--instance {p}: write STAGE=TYPE, e.g. train=ml.g5.4xlarge");
        };
        if !STAGES.contains(&stage) {
            bail!(
                "--instance {p}: no stage '{stage}' (the stages are {})",
                STAGES.join(", ")
            );
        }
        if !ty.starts_with("ml.") {
            bail!("--instance {p}: SageMaker instance types start with 'ml.'");
        }
        out.insert(stage.into(), Value::String(ty.into()));
    }
    Ok(Value::Object(out))
}

/// The project state machine's execution input (deploy/README.md).
pub fn execution_input(
    job_id: &str,
    layout: &Layout,
    prefix: &str,
    options: Value,
    instance_types: Value,
) -> Value {
    json!({
        "job_id": job_id,
        "images_s3_uri": layout.images_uri(),
        "output_bucket": layout.bucket,
        "output_prefix": prefix.trim_matches('/'),
        "options": options,
        "instance_types": instance_types,
    })
}

/// A photo to upload: its path and its name under the project's `images/`.
pub type Photo = (PathBuf, String);

/// The photos of a folder (recursively, hidden files left out) with their keys relative to it:
/// files whose first bytes are an image format's. The rest are returned apart, to be named.
pub fn photos(dir: &Path) -> Result<(Vec<Photo>, Vec<PathBuf>)> {
    if !dir.is_dir() {
        bail!("{}: not a folder of photos", dir.display());
    }
    let files = splat_sfm::input::list_files(dir)?;
    let mut images = Vec::new();
    let mut others = Vec::new();
    for f in files {
        let mut head = [0u8; 64];
        let n = {
            use std::io::Read;
            let mut file =
                std::fs::File::open(&f).with_context(|| format!("{}: cannot open", f.display()))?;
            file.read(&mut head)
                .with_context(|| format!("{}: cannot read", f.display()))?
        };
        if image::guess_format(&head[..n]).is_ok() {
            let key = splat_sfm::input::image_name(dir, &f);
            images.push((f, key));
        } else {
            others.push(f);
        }
    }
    if images.is_empty() {
        bail!("{}: no photos (no file there is an image)", dir.display());
    }
    Ok((images, others))
}

/// One `progress.json` as a line: `train 1200/7000 (17 %), 27.51 dB, 48,210 Gaussians, 6 min left`.
pub fn progress_line(snapshot: &Value) -> Option<String> {
    let stage = snapshot["stage"].as_str()?;
    let status = snapshot["status"].as_str().unwrap_or("running");
    let step = snapshot["step"].as_u64()?;
    let total = snapshot["total"].as_u64()?;
    let mut line = format!("{stage} {step}/{total}");
    if total > 0 {
        line.push_str(&format!(" ({:.0} %)", step as f64 / total as f64 * 100.0));
    }
    if let Some(p) = snapshot["test_psnr"].as_f64() {
        line.push_str(&format!(", test PSNR {p:.2} dB"));
    }
    if let Some(g) = snapshot["gaussians"].as_u64() {
        line.push_str(&format!(", {g} Gaussians"));
    }
    match status {
        "running" => {
            if let Some(eta) = snapshot["eta_s"].as_f64() {
                line.push_str(&format!(", {} left", duration(eta)));
            }
        }
        other => {
            line.push_str(&format!(", {other}"));
            if let Some(m) = snapshot["message"].as_str() {
                line.push_str(&format!(": {m}"));
            }
        }
    }
    Some(line)
}

/// The newest of several snapshots (by their `updated` time).
pub fn newest(snapshots: impl IntoIterator<Item = Value>) -> Option<Value> {
    snapshots
        .into_iter()
        .max_by_key(|s| s["updated"].as_u64().unwrap_or(0))
}

/// One project of `splat submit --list`: its execution's name (the job id), state, start (Unix
/// seconds) and what else there is to say (progress, the error, how long it took).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRow {
    pub job: String,
    pub state: String,
    pub started_s: i64,
    pub detail: String,
}

/// Projects as an aligned table, newest first, ages counted back from `now_s`.
pub fn project_table(rows: &[ProjectRow], now_s: i64) -> String {
    let mut rows: Vec<&ProjectRow> = rows.iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.started_s));
    let cells: Vec<[String; 4]> =
        std::iter::once(["JOB", "STATE", "STARTED", "PROGRESS"].map(String::from))
            .chain(rows.iter().map(|r| {
                let age = format!("{} ago", duration((now_s - r.started_s) as f64));
                [r.job.clone(), r.state.clone(), age, r.detail.clone()]
            }))
            .collect();
    let width = |c: usize| {
        cells
            .iter()
            .map(|row| row[c].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    cells
        .iter()
        .map(|[a, b, c, d]| {
            format!("{a:w0$}  {b:w1$}  {c:w2$}  {d}")
                .trim_end()
                .to_string()
                + "\n"
        })
        .collect()
}

/// `line` cut to at most `max` characters, the last of them … where it was cut.
pub fn cut(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        return line.to_string();
    }
    let kept: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// Each line of `text` cut to fit a terminal `columns` wide (one column spare, so that a full
/// line does not wrap).
pub fn fit_width(text: &str, columns: u16) -> String {
    let max = usize::from(columns.max(2)) - 1;
    text.lines().map(|l| cut(l, max) + "\n").collect()
}

/// The detail of an ended project: how long it ran, then `error` if any.
pub fn ended_detail(started_s: i64, stopped_s: Option<i64>, error: &str) -> String {
    let took = stopped_s.map(|b| format!("took {}", duration((b - started_s) as f64)));
    match (took, error.is_empty()) {
        (Some(t), true) => t,
        (Some(t), false) => format!("{t}; {error}"),
        (None, _) => error.to_string(),
    }
}

fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s.div_ceil(60)),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage_options::StageOption;

    #[test]
    fn job_ids_follow_sagemaker_names() {
        assert!(check_job_id("castle-001").is_ok());
        for bad in ["", "-a", "a-", "a_b", "ä", &"a".repeat(41)] {
            assert!(check_job_id(bad).is_err(), "{bad}");
        }
        // 2026-12-04 10:15:02 UTC.
        let id = default_job_id(Path::new("/photos/My Castle (2)"), 1_796_379_302);
        assert_eq!(id, "my-castle-2-20261204-101502");
        assert!(check_job_id(&id).is_ok());
        let long = default_job_id(Path::new(&"x".repeat(80)), 0);
        assert!(check_job_id(&long).is_ok(), "{long}");
        assert_eq!(default_job_id(Path::new("/"), 0), "splat-19700101-000000");
    }

    #[test]
    fn the_layout_is_the_state_machines() {
        let l = Layout::new("b", "/splat-jobs/", "j1");
        assert_eq!(l.images_uri(), "s3://b/splat-jobs/j1/images/");
        assert_eq!(l.failure_key(), "splat-jobs/j1/failure.json");
        assert!(is_downloaded("splat-jobs/j1/sog/scene.sog", &l));
        assert!(is_downloaded("splat-jobs/j1/sfm/sfm-report.json", &l));
        assert!(!is_downloaded("splat-jobs/j1/sfm/images/a.jpg", &l));
        assert!(!is_downloaded("splat-jobs/j1/sfm/sparse/0/images.bin", &l));
        assert_eq!(Layout::new("b", "", "j").root, "j");
        // The state machine's own formats, read from the definition.
        let d: Value =
            serde_json::from_str(include_str!("../../../../deploy/state-machine.asl.json"))
                .unwrap();
        let prepare = &d["States"]["Prepare"]["Parameters"];
        assert_eq!(
            prepare["progress"]["sfm.$"],
            "States.Format('s3://{}/{}/{}/progress/sfm/', $.output_bucket, $.output_prefix, $.job_id)"
        );
        assert_eq!(
            prepare["progress"]["compress.$"],
            "States.Format('s3://{}/{}/{}/progress/compress/', $.output_bucket, $.output_prefix, $.job_id)"
        );
        assert_eq!(
            prepare["checkpoints.$"],
            "States.Format('s3://{}/{}/{}/checkpoints/', $.output_bucket, $.output_prefix, $.job_id)"
        );
        assert_eq!(
            prepare["sog.$"],
            "States.Format('s3://{}/{}/{}/sog/', $.output_bucket, $.output_prefix, $.job_id)"
        );
        assert_eq!(
            prepare["failure_key.$"],
            "States.Format('{}/{}/failure.json', $.output_prefix, $.job_id)"
        );
    }

    #[test]
    fn options_and_instance_types_become_the_execution_input() {
        let mut s = StageOptions::default();
        s.train.push(StageOption {
            name: "steps".into(),
            value: Some("7000".into()),
        });
        s.train.push(StageOption {
            name: "scale-schedule".into(),
            value: None,
        });
        let o = options_json(&s);
        assert_eq!(
            o,
            json!({"sfm": {}, "train": {"steps": "7000", "scale-schedule": "true"}, "compress": {}})
        );
        // What the container does with it: the same options back.
        let back = crate::stage_options::from_json(&o.to_string()).unwrap();
        assert_eq!(back.train.len(), 2);
        let t = instance_types(&["train=ml.g5.4xlarge".into()]).unwrap();
        assert_eq!(t, json!({"train": "ml.g5.4xlarge"}));
        assert!(instance_types(&["gpu=ml.g5".into()]).is_err());
        assert!(instance_types(&["train".into()]).is_err());
        assert!(instance_types(&["train=g5.4xlarge".into()]).is_err());
    }

    #[test]
    fn progress_snapshots_read_as_lines() {
        let running = json!({"stage": "train", "status": "running", "step": 1200, "total": 6000,
            "test_psnr": 27.512, "gaussians": 48210, "eta_s": 330.0, "updated": 20});
        assert_eq!(
            progress_line(&running).unwrap(),
            "train 1200/6000 (20 %), test PSNR 27.51 dB, 48210 Gaussians, 6 min left"
        );
        let failed = json!({"stage": "sfm", "status": "failed", "step": 0, "total": 0,
            "message": "no photos", "updated": 10});
        assert_eq!(
            progress_line(&failed).unwrap(),
            "sfm 0/0, failed: no photos"
        );
        assert_eq!(newest([failed, running.clone()]).unwrap(), running);
        assert!(progress_line(&json!({"x": 1})).is_none());
    }

    #[test]
    fn projects_list_newest_first_in_aligned_columns() {
        let row = |job: &str, state: &str, started_s: i64, detail: &str| ProjectRow {
            job: job.into(),
            state: state.into(),
            started_s,
            detail: detail.into(),
        };
        let rows = [
            row(
                "old-garden",
                "SUCCEEDED",
                1_000,
                &ended_detail(1_000, Some(3_700), ""),
            ),
            row(
                "castle-1",
                "RUNNING",
                9_700,
                "train 1200/7000 (17 %), 5 min left",
            ),
            row(
                "bridge",
                "FAILED",
                5_000,
                &ended_detail(5_000, Some(5_200), "States.TaskFailed: no photos"),
            ),
        ];
        let table = project_table(&rows, 10_000);
        assert_eq!(
            table,
            "JOB         STATE      STARTED         PROGRESS\n\
             castle-1    RUNNING    5 min ago       train 1200/7000 (17 %), 5 min left\n\
             bridge      FAILED     1 h 23 min ago  took 4 min; States.TaskFailed: no photos\n\
             old-garden  SUCCEEDED  2 h 30 min ago  took 45 min\n"
        );
        assert_eq!(ended_detail(0, None, "x"), "x");
        assert_eq!(cut("abcdef", 6), "abcdef");
        assert_eq!(cut("abcdefg", 6), "abcde…");
        // On a terminal each line is cut to its width, so that a redraw counts rows right.
        assert_eq!(
            fit_width("JOB  STATE\ncastle-1  RUNNING  train 1200/7000\n", 12),
            "JOB  STATE\ncastle-1  …\n"
        );
    }
}

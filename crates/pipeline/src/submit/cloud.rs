//! The AWS side of `splat submit` (feature `aws`): the stack's outputs (CloudFormation), the
//! uploads and downloads (S3), starting and watching the execution (Step Functions), through
//! the official AWS SDK for Rust. The SDK finds credentials and the region as the AWS CLI
//! does (environment, profiles, SSO, instance roles) and honours `AWS_ENDPOINT_URL`, which the
//! tests point at a local moto server.

use super::SubmitArgs;
use super::plan::{self, Layout};
use crate::progress::Progress;
use crate::stage_options;
use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sfn::types::ExecutionStatus;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An SDK error with its whole chain (the SDK's own Display says only "service error").
pub(crate) fn sdk(e: impl std::error::Error) -> anyhow::Error {
    anyhow!("{}", DisplayErrorContext(e))
}

pub(crate) struct Aws {
    s3: aws_sdk_s3::Client,
    sfn: aws_sdk_sfn::Client,
    cfn: aws_sdk_cloudformation::Client,
}

impl Aws {
    pub(crate) async fn connect(region: Option<&str>) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r.to_string()));
        }
        let conf = loader.load().await;
        // A local endpoint (moto, MinIO) serves buckets by path, not by host name.
        let s3_conf = aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(conf.endpoint_url().is_some())
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            sfn: aws_sdk_sfn::Client::new(&conf),
            cfn: aws_sdk_cloudformation::Client::new(&conf),
        }
    }

    /// The bucket and project state machine: given, or the stack's outputs.
    async fn target(&self, a: &SubmitArgs) -> Result<(String, String)> {
        if let (Some(b), Some(m)) = (&a.bucket, &a.state_machine) {
            return Ok((b.clone(), m.clone()));
        }
        let out = self
            .cfn
            .describe_stacks()
            .stack_name(&a.stack)
            .send()
            .await
            .map_err(sdk)
            .with_context(|| {
                format!(
                    "stack '{}': deploy it first (deploy/README.md) or pass --bucket and --state-machine",
                    a.stack
                )
            })?;
        let outputs: HashMap<&str, &str> = out
            .stacks()
            .first()
            .map(aws_sdk_cloudformation::types::Stack::outputs)
            .unwrap_or_default()
            .iter()
            .filter_map(|o| Some((o.output_key()?, o.output_value()?)))
            .collect();
        let get = |k: &str| {
            outputs.get(k).map(|v| (*v).to_string()).with_context(|| {
                format!(
                    "stack '{}' has no output {k}: is it deploy/template.yaml's?",
                    a.stack
                )
            })
        };
        Ok((get("BucketName")?, get("StateMachineArn")?))
    }

    /// Object sizes under a prefix.
    pub(crate) async fn list(&self, bucket: &str, prefix: &str) -> Result<HashMap<String, i64>> {
        let mut out = HashMap::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(sdk)
                .with_context(|| format!("listing s3://{bucket}/{prefix}"))?;
            for o in page.contents() {
                if let Some(k) = o.key() {
                    out.insert(k.to_string(), o.size().unwrap_or(0));
                }
            }
        }
        Ok(out)
    }

    /// An object streamed into `path` (through a temporary beside it, renamed when whole, so
    /// a reader never sees part of it).
    pub(crate) async fn download_to(&self, bucket: &str, key: &str, path: &Path) -> Result<()> {
        use std::io::Write;
        let what = || format!("downloading s3://{bucket}/{key} to {}", path.display());
        let o = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(sdk)
            .with_context(what)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let part = dir.join(format!(".{name}.download"));
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(&part).with_context(|| format!("{}", part.display()))?,
        );
        let mut body = o.body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.with_context(what)?;
            file.write_all(&chunk)
                .with_context(|| format!("{}", part.display()))?;
        }
        file.into_inner()
            .map_err(std::io::IntoInnerError::into_error)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("{}", part.display()))?;
        std::fs::rename(&part, path).with_context(|| format!("{}", path.display()))?;
        Ok(())
    }

    /// Bytes `start..end` of an object (fewer where it is shorter).
    pub(crate) async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<u8>> {
        let what = || format!("reading bytes {start}..{end} of s3://{bucket}/{key}");
        if end <= start {
            return Ok(Vec::new());
        }
        let o = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes={start}-{}", end - 1))
            .send()
            .await
            .map_err(sdk)
            .with_context(what)?;
        let bytes = o.body.collect().await.with_context(what)?;
        Ok(bytes.into_bytes().to_vec())
    }

    /// An object's bytes; `None` when there is no such key.
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(o) => {
                let bytes = o
                    .body
                    .collect()
                    .await
                    .with_context(|| format!("reading s3://{bucket}/{key}"))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) => {
                let service = e.into_service_error();
                if service.is_no_such_key() {
                    Ok(None)
                } else {
                    Err(sdk(service)).with_context(|| format!("reading s3://{bucket}/{key}"))
                }
            }
        }
    }
}

pub fn run(a: SubmitArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the AWS client's runtime")?;
    rt.block_on(submit(a))
}

async fn submit(a: SubmitArgs) -> Result<()> {
    if let Some(id) = &a.status {
        return status(&a, id).await;
    }
    if a.list {
        return list(&a).await;
    }
    if a.wait {
        bail!("--wait goes with --status EXECUTION or --list");
    }
    let photos = a.photos.clone().context("no photo folder")?;
    // Everything that can be judged here is judged before any upload.
    stage_options::check(&a.stages).context("stage options")?;
    let options = plan::options_json(&a.stages);
    let instances = plan::instance_types(&a.instances)?;
    let (images, others) = plan::photos(&photos)?;
    for o in &others {
        eprintln!("submit: {} is not an image; left out", o.display());
    }
    let job_id = match &a.job_id {
        Some(id) => id.clone(),
        None => plan::default_job_id(&photos, unix_now()),
    };
    plan::check_job_id(&job_id)?;

    let aws = Aws::connect(a.region.as_deref()).await;
    let (bucket, machine) = aws.target(&a).await?;
    let layout = Layout::new(&bucket, &a.prefix, &job_id);
    upload(&aws, &layout, &images).await?;

    let input = plan::execution_input(&job_id, &layout, &a.prefix, options, instances);
    let started = aws
        .sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name(&job_id)
        .input(input.to_string())
        .send()
        .await
        .map_err(sdk)
        .with_context(|| format!("starting {job_id} on {machine}"))?;
    let arn = started.execution_arn().to_string();
    eprintln!("submit: started {job_id}: {arn}");
    eprintln!("submit: follow it with: splat submit --status {arn} --wait");
    if a.detach {
        println!("{arn}");
        return Ok(());
    }
    let out = a.output.clone().unwrap_or_else(|| PathBuf::from(&job_id));
    follow(&aws, &arn, &layout, &out, a.poll_seconds).await
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Photos uploaded at once (S3 takes many concurrent PUTs; a few hide each one's latency).
const UPLOADS_IN_FLIGHT: usize = 8;

/// Uploads the photos under the project's `images/`, leaving out those already there with the
/// same size (a submission started again after an interruption), a few at a time.
async fn upload(aws: &Aws, layout: &Layout, images: &[plan::Photo]) -> Result<()> {
    let there = aws.list(&layout.bucket, &layout.images()).await?;
    let bar = Progress::new("upload", images.len() as u64);
    let mut todo = Vec::new();
    for (path, name) in images {
        let key = format!("{}{name}", layout.images());
        let size = std::fs::metadata(path)
            .with_context(|| format!("{}: cannot read", path.display()))?
            .len();
        if there
            .get(&key)
            .is_some_and(|s| u64::try_from(*s).ok() == Some(size))
        {
            bar.inc();
        } else {
            todo.push((path.clone(), key));
        }
    }
    let sent = todo.len();
    let mut running = tokio::task::JoinSet::new();
    let mut queue = todo.into_iter();
    loop {
        while running.len() < UPLOADS_IN_FLIGHT {
            let Some((path, key)) = queue.next() else {
                break;
            };
            running.spawn(put_file(aws.s3.clone(), layout.bucket.clone(), key, path));
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        done.context("an upload task stopped")??;
        bar.inc();
    }
    bar.finish();
    eprintln!(
        "submit: {} photos in {} ({sent} uploaded, {} already there)",
        images.len(),
        layout.images_uri(),
        images.len() - sent
    );
    Ok(())
}

async fn put_file(
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    path: PathBuf,
) -> Result<()> {
    let body = ByteStream::from_path(&path)
        .await
        .with_context(|| format!("{}: cannot read", path.display()))?;
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .body(body)
        .send()
        .await
        .map_err(sdk)
        .with_context(|| format!("uploading {} to s3://{bucket}/{key}", path.display()))?;
    Ok(())
}

/// `--status`: the execution's state and latest progress; with `--wait`, followed to the end.
async fn status(a: &SubmitArgs, id: &str) -> Result<()> {
    let aws = Aws::connect(a.region.as_deref()).await;
    let arn = if id.starts_with("arn:") {
        id.to_string()
    } else {
        plan::check_job_id(id)?;
        let (_, machine) = aws.target(a).await?;
        machine.replacen(":stateMachine:", ":execution:", 1) + ":" + id
    };
    let d = describe(&aws, &arn).await?;
    let Some((job_id, layout)) = project_layout(&d) else {
        bail!(
            "{arn}: not a splat project execution (its input is not JSON with job_id and output_bucket)"
        );
    };
    let job_id = job_id.as_str();
    if a.wait {
        let out = a.output.clone().unwrap_or_else(|| PathBuf::from(job_id));
        return follow(&aws, &arn, &layout, &out, a.poll_seconds).await;
    }
    println!("{job_id}: {}", d.status().as_str());
    if let Some(p) = latest_progress(&aws, &layout)
        .await?
        .and_then(|p| plan::progress_line(&p))
    {
        println!("  {p}");
    }
    if let Some(e) = d.error() {
        println!("  error: {e}: {}", d.cause().unwrap_or(""));
    }
    Ok(())
}

/// Ended projects `--list` shows besides every running one.
const LISTED_ENDED: i32 = 20;

/// `--list`: the stack's running projects and the newest ended ones as a table; with `--wait`,
/// refreshed until none is running (redrawn in place on a terminal).
async fn list(a: &SubmitArgs) -> Result<()> {
    let aws = Aws::connect(a.region.as_deref()).await;
    let (_, machine) = aws.target(a).await?;
    let terminal = std::io::stdout().is_terminal();
    let mut shown = String::new();
    loop {
        let rows = project_rows(&aws, &machine).await?;
        let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
        let table = if rows.is_empty() {
            format!("no projects on {machine}\n")
        } else {
            plan::project_table(&rows, now)
        };
        let table = if terminal {
            plan::fit_width(&table, console::Term::stdout().size().1)
        } else {
            table
        };
        if table != shown {
            if terminal && !shown.is_empty() {
                // Up over the last table and clear to the end of the screen (each line fits
                // the terminal, so lines are rows).
                print!("\x1b[{}A\x1b[J", shown.lines().count());
            }
            print!("{table}");
            shown = table;
        }
        if !a.wait
            || rows
                .iter()
                .all(|r| r.state != ExecutionStatus::Running.as_str())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs_f64(a.poll_seconds.max(0.05))).await;
    }
}

/// Every running execution of `machine` and its `LISTED_ENDED` newest ended ones, as rows.
async fn project_rows(aws: &Aws, machine: &str) -> Result<Vec<plan::ProjectRow>> {
    let listing = |status: Option<ExecutionStatus>| {
        aws.sfn
            .list_executions()
            .state_machine_arn(machine)
            .set_status_filter(status)
    };
    let mut items = Vec::new();
    let mut pages = listing(Some(ExecutionStatus::Running))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(sdk)
            .with_context(|| format!("listing the executions of {machine}"))?;
        items.extend(page.executions().iter().cloned());
    }
    let newest = listing(None)
        // Step Functions answers at most 1,000 a page.
        .max_results(
            LISTED_ENDED
                .saturating_add(i32::try_from(items.len()).unwrap_or(i32::MAX))
                .min(1000),
        )
        .send()
        .await
        .map_err(sdk)
        .with_context(|| format!("listing the executions of {machine}"))?;
    // One that ended between the two listings is in both: it is shown once, as it is now.
    let fresher: Vec<_> = newest.executions().to_vec();
    items.retain(|r| {
        fresher.iter().all(|e| {
            e.execution_arn() != r.execution_arn() || *e.status() == ExecutionStatus::Running
        })
    });
    let ended = fresher
        .into_iter()
        .filter(|e| *e.status() != ExecutionStatus::Running)
        .take(LISTED_ENDED as usize);
    items.extend(ended);
    let mut rows = Vec::new();
    for e in items {
        rows.push(project_row(aws, &e).await?);
    }
    Ok(rows)
}

/// One execution as a row: a running one's latest progress, an ended one's time and error.
async fn project_row(
    aws: &Aws,
    e: &aws_sdk_sfn::types::ExecutionListItem,
) -> Result<plan::ProjectRow> {
    let started_s = e.start_date().secs();
    let stopped_s = e.stop_date().map(aws_sdk_sfn::primitives::DateTime::secs);
    let detail = match e.status() {
        ExecutionStatus::Succeeded => plan::ended_detail(started_s, stopped_s, ""),
        ExecutionStatus::Running | ExecutionStatus::PendingRedrive => {
            let d = describe(aws, e.execution_arn()).await?;
            match project_layout(&d) {
                Some((_, layout)) => latest_progress(aws, &layout)
                    .await?
                    .and_then(|p| plan::progress_line(&p))
                    .unwrap_or_else(|| "starting".to_string()),
                None => "not a splat project".to_string(),
            }
        }
        _ => {
            let d = describe(aws, e.execution_arn()).await?;
            let error = match (d.error(), d.cause()) {
                (Some(err), Some(cause)) => {
                    format!(
                        "{err}: {}",
                        plan::cut(cause.lines().next().unwrap_or(""), 120)
                    )
                }
                (Some(err), None) => err.to_string(),
                _ => String::new(),
            };
            plan::ended_detail(started_s, stopped_s, &error)
        }
    };
    Ok(plan::ProjectRow {
        job: e.name().to_string(),
        state: e.status().as_str().to_string(),
        started_s,
        detail,
    })
}

/// A project execution's job id and where its files are, from its input.
fn project_layout(
    d: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
) -> Option<(String, Layout)> {
    let input: Value = serde_json::from_str(d.input().unwrap_or("{}")).ok()?;
    let job_id = input["job_id"].as_str()?;
    let bucket = input["output_bucket"].as_str()?;
    let prefix = input["output_prefix"].as_str().unwrap_or("splat-jobs");
    Some((job_id.to_string(), Layout::new(bucket, prefix, job_id)))
}

async fn describe(
    aws: &Aws,
    arn: &str,
) -> Result<aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput> {
    aws.sfn
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .map_err(sdk)
        .with_context(|| format!("looking up {arn}"))
}

/// The newest `progress.json` any of the project's jobs has uploaded.
async fn latest_progress(aws: &Aws, layout: &Layout) -> Result<Option<Value>> {
    let mut found = Vec::new();
    for key in layout.progress_keys() {
        if let Some(bytes) = aws.get(&layout.bucket, &key).await? {
            // A snapshot caught half-written is skipped until the next look.
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                found.push(v);
            }
        }
    }
    Ok(plan::newest(found))
}

/// Shows progress until the execution ends; downloads the results when it succeeded.
async fn follow(
    aws: &Aws,
    arn: &str,
    layout: &Layout,
    out: &Path,
    poll_seconds: f64,
) -> Result<()> {
    let mut watch = Watch::new();
    loop {
        let d = describe(aws, arn).await?;
        if let Some(p) = latest_progress(aws, layout).await? {
            watch.show(&p);
        }
        match d.status() {
            ExecutionStatus::Running | ExecutionStatus::PendingRedrive => {
                tokio::time::sleep(Duration::from_secs_f64(poll_seconds.max(0.05))).await;
            }
            ExecutionStatus::Succeeded => {
                watch.finish();
                return download(aws, layout, out).await;
            }
            other => {
                watch.finish();
                let failure = aws
                    .get(&layout.bucket, &layout.failure_key())
                    .await
                    .ok()
                    .flatten();
                if failure.is_some() {
                    eprintln!(
                        "submit: the failure is recorded in s3://{}/{}",
                        layout.bucket,
                        layout.failure_key()
                    );
                }
                bail!(
                    "{arn} ended {}: {}: {}",
                    other.as_str(),
                    d.error().unwrap_or("no error given"),
                    d.cause().unwrap_or("no cause given")
                );
            }
        }
    }
}

/// Live progress: a bar on a terminal, a line per change otherwise.
struct Watch {
    bar: Option<ProgressBar>,
    last: String,
}

impl Watch {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(1);
            let style = ProgressStyle::with_template("{prefix:>9} [{bar:40}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            b.set_style(style);
            b
        });
        Self {
            bar,
            last: String::new(),
        }
    }

    fn show(&mut self, p: &Value) {
        let Some(line) = plan::progress_line(p) else {
            return;
        };
        if line == self.last {
            return;
        }
        match &self.bar {
            Some(b) => {
                b.set_prefix(p["stage"].as_str().unwrap_or("").to_string());
                b.set_length(p["total"].as_u64().unwrap_or(1).max(1));
                b.set_position(p["step"].as_u64().unwrap_or(0));
                b.set_message(line.clone());
            }
            None => eprintln!("submit: {line}"),
        }
        self.last = line;
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// `scene.sog`, the compression report and the SfM reports, into `out` (each written whole,
/// then renamed into place).
async fn download(aws: &Aws, layout: &Layout, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    for prefix in layout.result_prefixes() {
        let mut keys: Vec<String> = aws
            .list(&layout.bucket, &prefix)
            .await?
            .into_keys()
            .filter(|k| plan::is_downloaded(k, layout))
            .collect();
        keys.sort();
        for key in keys {
            let Some(bytes) = aws.get(&layout.bucket, &key).await? else {
                continue;
            };
            let name = key.strip_prefix(&prefix).unwrap_or(&key);
            let path = out.join(name);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            splat_scene::write_atomic_bytes(&path, &bytes)
                .with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
    }
    if !written.iter().any(|p| p.ends_with("scene.sog")) {
        bail!(
            "the run succeeded but s3://{}/{} holds no scene.sog",
            layout.bucket,
            layout.result_prefixes()[0]
        );
    }
    for p in &written {
        println!("{}", p.display());
    }
    eprintln!(
        "submit: done; look at it with: splat view {}",
        out.join("scene.sog").display()
    );
    Ok(())
}

//! `splat submit PHOTOS`: a project to the cloud deployment of `deploy/` — the photos uploaded
//! to the stack's bucket, an execution of its project state machine started with the run's
//! options, its progress followed live from the `progress.json` files the jobs upload, and
//! `scene.sog` and the reports downloaded when it ends. `--detach` returns after the start;
//! `splat submit --status EXECUTION` looks at (or, with `--wait`, follows) a run;
//! `splat submit --list` shows every recent project of the stack at once, each with its latest
//! progress (with `--wait`, refreshed until none is running).
//!
//! What does not need AWS (the job's name, its S3 layout, the execution input, reading a
//! progress snapshot) is in [`plan`]; the AWS calls are in `cloud`, built with the cargo
//! feature `aws` (the SDK is a large build that neither the container nor a local run needs).

// Without the `aws` feature only the unit tests use the plan (the command says how to build
// with AWS support instead of submitting).
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub mod plan;

#[cfg(feature = "aws")]
pub(crate) mod cloud;

use crate::stage_options::StageOptions;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct SubmitArgs {
    /// Folder of photos (searched recursively; files that are not images are left out).
    #[arg(required_unless_present_any = ["status", "list"])]
    pub photos: Option<PathBuf>,
    /// The CloudFormation stack of deploy/template.yaml: its bucket and state machine are used.
    #[arg(long, default_value = "splat")]
    pub stack: String,
    /// The bucket, instead of the stack's (with --state-machine).
    #[arg(long, requires = "state_machine")]
    pub bucket: Option<String>,
    /// The project state machine's ARN, instead of the stack's (with --bucket).
    #[arg(long, requires = "bucket")]
    pub state_machine: Option<String>,
    /// The project's name: letters, digits and hyphens, at most 40 (default: the photo
    /// folder's name and the time). Also the execution's name, so it is never run twice.
    #[arg(long)]
    pub job_id: Option<String>,
    /// Key prefix of every project in the bucket.
    #[arg(long, default_value = "splat-jobs")]
    pub prefix: String,
    /// Instance type of a stage, `STAGE=TYPE` (e.g. `train=ml.g5.4xlarge`); repeatable.
    #[arg(long = "instance", value_name = "STAGE=TYPE")]
    pub instances: Vec<String>,
    /// Where the results go (default: ./JOB_ID).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Return once the execution has started (follow it later with --status).
    #[arg(long)]
    pub detach: bool,
    /// Show the state of an execution (its ARN, or a job id of this stack's state machine)
    /// instead of submitting.
    #[arg(long, value_name = "EXECUTION", conflicts_with = "photos")]
    pub status: Option<String>,
    /// List the stack's projects: every running one and the newest ended ones, each with its
    /// state, age and latest progress (or error), instead of submitting.
    #[arg(long, conflicts_with_all = ["photos", "status"])]
    pub list: bool,
    /// With --status: follow the execution to its end and download the results. With --list:
    /// refresh the list every --poll-seconds until no project is running.
    #[arg(long)]
    pub wait: bool,
    /// Seconds between looks at a running execution.
    #[arg(long, default_value_t = 10.0)]
    pub poll_seconds: f64,
    /// AWS region (default: the SDK's: AWS_REGION, the profile, …).
    #[arg(long)]
    pub region: Option<String>,
    /// `--sfm.X`, `--train.X`, `--compress.X`: the run's stage options, as for `splat run`.
    #[arg(skip)]
    pub stages: StageOptions,
}

pub fn run(a: SubmitArgs) -> anyhow::Result<()> {
    #[cfg(feature = "aws")]
    {
        cloud::run(a)
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = a;
        anyhow::bail!(
            "this splat was built without AWS support: build it with `cargo build --release --features aws` (or `cargo install --path crates/pipeline --features aws`) to submit to the cloud"
        )
    }
}

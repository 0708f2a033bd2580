//! `splat view`: a local web viewer. Resolves what PATH holds (`source`), serves the page and the
//! model on 127.0.0.1 (`server`); the page itself (`page`, `web/`) renders in the browser with
//! WebGL2 and decodes SOG there, as it will be decoded when the scene is shared on the web. A
//! cloud project (`s3://…`) is mirrored into a local run folder first (`remote`).

pub mod page;
// Without the `aws` feature only the address check and the unit tests use the rest.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub mod remote;
mod server;
pub mod source;

use anyhow::Result;
use std::path::PathBuf;

/// The port `splat view` tries first.
const DEFAULT_PORT: u16 = 8090;

#[derive(clap::Args)]
pub struct ViewArgs {
    /// A 3DGS PLY, a SOG v2 (`.sog` bundle, its unbundled folder or meta.json), a training
    /// checkpoint (.ckpt), a `splat run` / `splat train` output folder (its point_cloud.ply,
    /// else scene.sog; while it trains, its newest checkpoint), or a cloud project,
    /// s3://BUCKET/PREFIX/JOB_ID/ (`splat submit`; built with the feature `aws`), followed
    /// while it runs.
    path: PathBuf,
    /// Training cameras to step through: a COLMAP workspace or a transforms_*.json folder
    /// (default: the workspace the model is in, when there is one).
    #[arg(long)]
    cameras: Option<PathBuf>,
    /// Port on 127.0.0.1 (default 8090, or a free one when it is taken; 0: any free port).
    #[arg(long)]
    port: Option<u16>,
    /// Open the page in the system's browser.
    #[arg(long)]
    open: bool,
    /// Background colour, three numbers in [0, 1] (as `splat render`).
    #[arg(long, value_parser = crate::render::parse_rgb, default_value = "0,0,0")]
    background: [f64; 3],
    /// For an s3:// project: the local folder it is mirrored in (default: under the user's
    /// cache folder, ~/.cache/splat/view/BUCKET/PREFIX/JOB_ID).
    #[arg(long)]
    mirror: Option<PathBuf>,
    /// For an s3:// project: seconds between looks for a newer checkpoint or the final scene.
    #[arg(long, default_value_t = 10.0)]
    poll_seconds: f64,
    /// For an s3:// project: the bucket's AWS region (default: the SDK's: AWS_REGION, the
    /// profile, …).
    #[arg(long)]
    region: Option<String>,
}

pub fn run(a: ViewArgs) -> Result<()> {
    let cloud = a.path.to_str().filter(|p| p.starts_with("s3://"));
    let path = match cloud {
        Some(uri) => remote::follow(uri, a.mirror.clone(), a.poll_seconds, a.region.as_deref())?,
        None => a.path.clone(),
    };
    let shown_as = cloud.map(str::to_string);
    let mut source = source::resolve(&path, a.cameras.as_deref(), a.background)?;
    if let Some(name) = &shown_as {
        source.retitle(name);
    }
    let viewer = server::bind(a.port.unwrap_or(DEFAULT_PORT), a.port.is_none())?;
    let url = format!("http://127.0.0.1:{}/", viewer.port);
    println!("{url}");
    eprintln!(
        "splat view: {} ({}, {} Gaussians)",
        source.model.path().display(),
        source.model.format(),
        source.meta.gaussians
    );
    for n in &source.notes {
        eprintln!("  {n}");
    }
    eprintln!("  open {url} in a browser; Ctrl-C stops the server");
    if a.open
        && let Err(e) = opener::open_browser(&url)
    {
        eprintln!("  could not open a browser ({e}); open the address above by hand");
    }
    // A folder is followed: a run still training shows each newer checkpoint as it is written.
    let watch = path.is_dir().then(|| server::Watch {
        path: path.clone(),
        cameras: a.cameras.clone(),
        background: a.background,
        shown_as,
    });
    if source.meta.step.is_some() {
        eprintln!(
            "  following the run: the page shows each newer checkpoint, then the final model"
        );
    }
    viewer.serve(source, watch)
}

//! `splat view`: a local web viewer. Resolves what PATH holds (`source`), serves the page and the
//! model on 127.0.0.1 (`server`); the page itself (`page`, `web/`) renders in the browser with
//! WebGL2 and decodes SOG there, as it will be decoded when the scene is shared on the web.

pub mod page;
mod server;
pub mod source;

use anyhow::Result;
use std::path::PathBuf;

/// The port `splat view` tries first.
const DEFAULT_PORT: u16 = 8090;

#[derive(clap::Args)]
pub struct ViewArgs {
    /// A 3DGS PLY, a SOG v2 (`.sog` bundle, its unbundled folder or meta.json), a training
    /// checkpoint (.ckpt), or a `splat run` / `splat train` output folder (its point_cloud.ply,
    /// else scene.sog; while it trains, its newest checkpoint).
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
}

pub fn run(a: ViewArgs) -> Result<()> {
    let source = source::resolve(&a.path, a.cameras.as_deref(), a.background)?;
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
    let watch = a.path.is_dir().then(|| server::Watch {
        path: a.path.clone(),
        cameras: a.cameras.clone(),
        background: a.background,
    });
    if source.meta.step.is_some() {
        eprintln!(
            "  following the run: the page shows each newer checkpoint, then the final model"
        );
    }
    viewer.serve(source, watch)
}

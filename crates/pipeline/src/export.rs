//! `splat export MODEL -o OUT`: a model in another form, chosen by OUT's extension. `.html` is
//! one self-contained page (the viewer of `splat view` with the scene inside, to mail or host
//! anywhere); `.ply` (Inria), `.compressed.ply` (PlayCanvas), `.splat` (antimatter15) and `.spz`
//! (Niantic) are written by `splat_scene::formats`; `.sog` by `splat compress`'s defaults. MODEL is
//! any of those, a training checkpoint or a run folder (`crate::model_file`). Written
//! to a temporary file and renamed into place.

use crate::view::{page, source};
use anyhow::{Result, bail};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The model: a 3DGS PLY (plain or compressed), .splat, .spz, a SOG (bundle or folder), a
    /// training checkpoint (.ckpt), or a `splat run` / `splat train` folder (while it trains,
    /// its newest checkpoint).
    model: PathBuf,
    /// Output; its extension picks the format: .html, .ply, .compressed.ply, .splat, .spz or .sog.
    #[arg(short, long)]
    output: PathBuf,
    /// Training cameras the page steps through (.html): a COLMAP workspace or transforms folder
    /// (default: the workspace the model is in).
    #[arg(long)]
    cameras: Option<PathBuf>,
    /// Background colour of the page (.html), three numbers in [0, 1].
    #[arg(long, value_parser = crate::render::parse_rgb, default_value = "0,0,0")]
    background: [f64; 3],
}

pub fn run(a: ExportArgs) -> Result<()> {
    let name = a
        .output
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".html") || name.ends_with(".htm") {
        return html(&a);
    }
    if name.ends_with(".sog") {
        let (_, cloud) = crate::model_file::read_cloud(&a.model)?;
        let bytes = crate::compress::write_sog_with_defaults(&cloud, &a.output)?;
        println!(
            "wrote {} ({} Gaussians, {:.2} MB; `splat compress` has the options)",
            a.output.display(),
            cloud.len(),
            bytes as f64 / 1e6
        );
        return Ok(());
    }
    match splat_scene::formats::Format::from_name(&a.output) {
        Some(format) => model(&a, format),
        None => bail!(
            "{}: unknown output format; splat export writes .html (the viewer with the scene inside), .ply (Inria), .compressed.ply (PlayCanvas), .splat, .spz and .sog",
            a.output.display()
        ),
    }
}

fn html(a: &ExportArgs) -> Result<()> {
    let src = source::resolve(&a.model, a.cameras.as_deref(), a.background)?;
    let (format, bytes) = match &src.model {
        source::Model::Converted { ply, .. } => ("ply", ply.to_vec()),
        source::Model::Ply(p) | source::Model::SogBundle(p) => (
            src.model.format(),
            std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        ),
        source::Model::SogFolder { meta, files, .. } => {
            let mut all = vec![("meta.json".to_string(), meta.to_vec())];
            all.extend(files.iter().map(|(n, b)| (n.clone(), b.to_vec())));
            ("sog", splat_sogs::container::zip_bytes(&all)?)
        }
    };
    let page = page::standalone(&src.meta, format, &bytes)?;
    splat_scene::write_atomic_bytes(&a.output, page.as_bytes())?;
    println!(
        "wrote {} ({:.1} MB: the viewer and a {} of {} Gaussians, {} camera(s))",
        a.output.display(),
        page.len() as f64 / 1e6,
        format,
        src.meta.gaussians,
        src.meta.cameras.len()
    );
    Ok(())
}

/// Reads any model splat reads: a PLY of any kind, .splat, .spz, or a SOG (bundle or folder),
/// or the model in a `splat run` / `splat train` folder.
fn model(a: &ExportArgs, format: splat_scene::formats::Format) -> Result<()> {
    let (_, cloud) = crate::model_file::read_cloud(&a.model)?;
    splat_scene::formats::write_model(&a.output, &cloud, format)?;
    let size = std::fs::metadata(&a.output).map_or(0, |m| m.len());
    println!(
        "wrote {} ({} Gaussians, SH degree {}, {:.2} MB)",
        a.output.display(),
        cloud.len(),
        if format == splat_scene::formats::Format::Splat {
            0
        } else {
            cloud.sh_degree
        },
        size as f64 / 1e6
    );
    Ok(())
}

//! `splat export MODEL -o OUT`: a model in another form, chosen by OUT's extension. `.html` is
//! one self-contained page (the viewer of `splat view` with the scene inside, to mail or host
//! anywhere); `.ply` is the Inria PLY (decoded, for a SOG). Written to a temporary file and
//! renamed into place.

use crate::view::{page, source};
use anyhow::{Result, bail};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The model: a 3DGS PLY, a SOG v2 (bundle or folder), or a `splat run` / `splat train` folder.
    model: PathBuf,
    /// Output; its extension picks the format: .html or .ply.
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
    if name.ends_with(".ply") {
        return ply(&a);
    }
    bail!(
        "{}: unknown output format; splat export writes .html (the viewer with the scene inside) and .ply (use `splat compress` for .sog)",
        a.output.display()
    )
}

fn html(a: &ExportArgs) -> Result<()> {
    let src = source::resolve(&a.model, a.cameras.as_deref(), a.background)?;
    let (format, bytes) = match &src.model {
        source::Model::Ply(p) | source::Model::SogBundle(p) => (
            src.model.format(),
            std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        ),
        source::Model::SogFolder { meta, files, .. } => {
            let mut all = vec![("meta.json".to_string(), meta.clone())];
            all.extend(files.iter().cloned());
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

fn ply(a: &ExportArgs) -> Result<()> {
    let file = if a.model.is_dir() && a.model.join("point_cloud.ply").is_file() {
        a.model.join("point_cloud.ply")
    } else {
        a.model.clone()
    };
    let is_ply = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("ply"));
    let cloud = if is_ply {
        splat_scene::ply::read_ply(&file)?
    } else {
        splat_sogs::read_sog(&file)?
    };
    splat_scene::ply::write_ply(&a.output, &cloud)?;
    println!(
        "wrote {} ({} Gaussians, SH degree {})",
        a.output.display(),
        cloud.len(),
        cloud.sh_degree
    );
    Ok(())
}

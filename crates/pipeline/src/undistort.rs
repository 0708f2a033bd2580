//! `splat undistort`: a COLMAP workspace with any camera model → PINHOLE images and model.

use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct UndistortArgs {
    /// COLMAP workspace: `images/` and `sparse/0` (binary or text).
    input: PathBuf,
    /// Output workspace (images/ and sparse/0/ with PINHOLE cameras).
    #[arg(short, long)]
    output: PathBuf,
    /// Folder of the images, if not `INPUT/images`.
    #[arg(long)]
    images: Option<PathBuf>,
}

pub fn run(a: UndistortArgs) -> Result<()> {
    let model_dir = splat_scene::colmap::find_model_dir(&a.input).with_context(|| {
        format!(
            "no COLMAP model (sparse/0 or sparse with cameras.bin/.txt) under {}",
            a.input.display()
        )
    })?;
    let rec = splat_scene::colmap::read_model(&model_dir)?;
    let images = a.images.unwrap_or_else(|| a.input.join("images"));
    let progress = crate::progress::Progress::new("undistorting", rec.images.len() as u64);
    let out = splat_scene::undistort::undistort_workspace_with_progress(
        &rec,
        &images,
        &a.output,
        &|_| {
            progress.inc();
        },
    )?;
    progress.finish();
    for (id, cam) in &out.cameras {
        let before = &rec.cameras[id];
        println!(
            "camera {id}: {} {}x{} -> PINHOLE {}x{} (fx {:.2}, fy {:.2})",
            before.model,
            before.width,
            before.height,
            cam.width,
            cam.height,
            cam.params[0],
            cam.params[1]
        );
    }
    println!(
        "wrote {} undistorted images and sparse/0 to {}",
        out.images.len(),
        a.output.display()
    );
    Ok(())
}

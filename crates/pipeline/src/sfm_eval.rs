//! `splat sfm-eval MODEL GT`: camera poses against a ground truth (a COLMAP model, or a folder
//! of Strecha `.camera` files): relative rotation and translation-direction errors over all
//! pairs, centre error after a similarity alignment as a share of the camera spread, focal error.

use anyhow::{Context, Result, bail};
use splat_sfm::evaluate::{self, CameraPose};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct SfmEvalArgs {
    /// The estimate: a COLMAP model folder or a workspace with sparse/0.
    model: PathBuf,
    /// The ground truth: a COLMAP model / workspace, or a folder of Strecha `.camera` files.
    ground_truth: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn cameras(path: &Path) -> Result<Vec<CameraPose>> {
    let has_strecha = std::fs::read_dir(path)
        .with_context(|| format!("reading {}", path.display()))?
        .flatten()
        .any(|e| e.path().extension().is_some_and(|x| x == "camera"));
    if has_strecha {
        return Ok(evaluate::read_strecha(path)?);
    }
    let dir = splat_scene::colmap::find_model_dir(path).unwrap_or_else(|| path.to_path_buf());
    let rec = splat_scene::colmap::read_model(&dir)
        .with_context(|| format!("no COLMAP model or .camera files in {}", path.display()))?;
    Ok(evaluate::from_reconstruction(&rec))
}

pub fn run(args: SfmEvalArgs) -> Result<()> {
    let estimate = cameras(&args.model)?;
    let truth = cameras(&args.ground_truth)?;
    let Some(e) = evaluate::compare(&estimate, &truth) else {
        bail!(
            "fewer than 3 images of {} are in the estimate (names must match)",
            args.ground_truth.display()
        );
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(());
    }
    println!(
        "{} of {} ground-truth images in the estimate, {} pairs",
        e.compared_images, e.ground_truth_images, e.pairs
    );
    println!(
        "relative rotation error (RRE):   median {:.3}°, max {:.3}°",
        e.rre_deg.median, e.rre_deg.max
    );
    println!(
        "relative translation direction:  median {:.3}°, max {:.3}°",
        e.rte_deg.median, e.rte_deg.max
    );
    println!(
        "  each looking through its photo's middle: RRE median {:.3}°, max {:.3}°; translation direction median {:.3}°, max {:.3}°",
        e.rre_middle_deg.median,
        e.rre_middle_deg.max,
        e.rte_middle_deg.median,
        e.rte_middle_deg.max
    );
    println!(
        "centre error (% of spread):      median {:.4} %, max {:.4} %",
        e.center_error_pct.median, e.center_error_pct.max
    );
    println!(
        "focal error:                     median {:.3} %, max {:.3} %",
        e.focal_error_pct.median, e.focal_error_pct.max
    );
    Ok(())
}

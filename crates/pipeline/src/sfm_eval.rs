//! `splat sfm-eval MODEL GT`: camera poses against a ground truth (a COLMAP model, a folder of
//! Strecha `.camera` files, or Blender/nerfstudio `transforms_*.json`): relative rotation and
//! translation-direction errors over all pairs, centre error after a similarity alignment as a
//! share of the camera spread, focal error. Images are matched by name, or by the name with
//! leading folders dropped where that is unambiguous (`train/r_0.png` ↔ `r_0.png`).

use anyhow::{Context, Result, bail};
use splat_sfm::evaluate::{self, CameraPose};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct SfmEvalArgs {
    /// The estimate: a COLMAP model folder or a workspace with sparse/0.
    model: PathBuf,
    /// The ground truth: a COLMAP model / workspace, a folder of Strecha `.camera` files, or a
    /// `transforms_*.json` (a folder holding them: all of them).
    ground_truth: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn cameras(path: &Path) -> Result<Vec<CameraPose>> {
    if path.is_file() {
        let rec = splat_scene::transforms::read_transforms(path)
            .with_context(|| format!("reading {} as a transforms_*.json", path.display()))?;
        return Ok(evaluate::from_reconstruction(&rec));
    }
    let has_strecha = std::fs::read_dir(path)
        .with_context(|| format!("reading {}", path.display()))?
        .flatten()
        .any(|e| e.path().extension().is_some_and(|x| x == "camera"));
    if has_strecha {
        return Ok(evaluate::read_strecha(path)?);
    }
    // A COLMAP model or workspace, or a folder of transforms_*.json (all of them), as training
    // reads them.
    let data = splat_scene::dataset::Dataset::load(path).with_context(|| {
        format!(
            "no COLMAP model, .camera files or transforms in {}",
            path.display()
        )
    })?;
    Ok(evaluate::from_reconstruction(&data.model))
}

pub fn run(args: SfmEvalArgs) -> Result<()> {
    let estimate = cameras(&args.model)?;
    let mut truth = cameras(&args.ground_truth)?;
    evaluate::match_names_by_suffix(&estimate, &mut truth);
    let Some(e) = evaluate::compare(&estimate, &truth) else {
        // A transforms folder merges train/, test/ …, whose photos may share file names.
        let several = splat_scene::dataset::Dataset::load(&args.ground_truth)
            .is_ok_and(|d| matches!(d.source, splat_scene::dataset::Source::Transforms));
        bail!(
            "fewer than 3 images of {} are in the estimate (names must match, or match once \
             leading folders are dropped: train/r_0.png and r_0.png){}",
            args.ground_truth.display(),
            if several {
                "; a folder's transforms_*.json may name photos alike (train/r_0.png, \
                 test/r_0.png): name the one file, e.g. transforms_train.json"
            } else {
                ""
            }
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

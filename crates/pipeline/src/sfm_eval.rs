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

/// The `transforms_*.json` files `path` names: itself, or those in the folder it is.
fn transforms_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return if path.extension().is_some_and(|x| x == "json") {
            vec![path.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("transforms") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    files
}

fn cameras(path: &Path) -> Result<Vec<CameraPose>> {
    let json = transforms_files(path);
    if path.is_file() || (!json.is_empty() && splat_scene::colmap::find_model_dir(path).is_none()) {
        let mut all = Vec::new();
        for file in json {
            let rec = splat_scene::transforms::read_transforms(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            all.extend(evaluate::from_reconstruction(&rec));
        }
        if all.is_empty() {
            bail!("{} is not a transforms_*.json file", path.display());
        }
        return Ok(all);
    }
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
    let mut truth = cameras(&args.ground_truth)?;
    evaluate::match_names_by_suffix(&estimate, &mut truth);
    let Some(e) = evaluate::compare(&estimate, &truth) else {
        let several = transforms_files(&args.ground_truth).len() > 1;
        bail!(
            "fewer than 3 images of {} are in the estimate (names must match, or match once \
             leading folders are dropped: train/r_0.png and r_0.png){}",
            args.ground_truth.display(),
            if several {
                "; it holds several transforms_*.json whose photos may share file names: \
                 name the one file, e.g. transforms_train.json"
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

//! Measures image retrieval against exhaustive matching: given the workspace of an exhaustive
//! `splat match` (its `database.db` holds every image's descriptors, its `match-report.json`
//! every pair's inliers), trains the vocabulary on those descriptors and reports, for each
//! neighbour count, how many pairs retrieval would match and which share of the strong pairs
//! (at least `--min-inliers` inliers under exhaustive matching) it keeps.
//!
//! `cargo run --release -p splat-sfm --example retrieval_recall -- W [--min-inliers 100]
//! [--neighbours 10,20,30,40] [--depth 5] [--branching 10] [--overlap 5] [--train 200000] [--min-per-child 4]`

use splat_sfm::front_end::MatchReport;
use splat_sfm::pairs::{self, VocabularyOptions, index::Index};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut workspace: Option<PathBuf> = None;
    let mut min_inliers = 100usize;
    let mut neighbours = vec![10usize, 20, 30, 40];
    let mut vocab = VocabularyOptions::default();
    let mut overlap = 5usize;
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--min-inliers" => min_inliers = value()?.parse()?,
            "--neighbours" => {
                neighbours = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--depth" => vocab.depth = value()?.parse()?,
            "--branching" => vocab.branching = value()?.parse()?,
            "--min-per-child" => vocab.min_per_child = value()?.parse()?,
            "--train" => vocab.max_training_descriptors = value()?.parse()?,
            "--overlap" => overlap = value()?.parse()?,
            _ if workspace.is_none() => workspace = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument {a}").into()),
        }
    }
    let workspace = workspace.ok_or("usage: retrieval_recall WORKSPACE [options]")?;
    let report: MatchReport =
        serde_json::from_slice(&std::fs::read(workspace.join("match-report.json"))?)?;
    let db = splat_sfm::database::read(&workspace.join("database.db"))?;
    let descriptors = splat_sfm::database::read_descriptors(&workspace.join("database.db"))?;
    let by_id: HashMap<u32, Vec<[u8; 128]>> = descriptors.into_iter().collect();
    let index_of: HashMap<&str, usize> = db
        .images
        .iter()
        .enumerate()
        .map(|(k, im)| (im.name.as_str(), k))
        .collect();
    let candidates: Vec<pairs::Candidate> = db
        .images
        .iter()
        .map(|im| pairs::Candidate {
            descriptors: by_id.get(&im.id).map_or(&[][..], Vec::as_slice),
            gps: None,
        })
        .collect();
    let strong: HashSet<(usize, usize)> = report
        .pairs
        .iter()
        .filter(|p| p.inliers >= min_inliers)
        .map(|p| {
            let (a, b) = (index_of[p.image1.as_str()], index_of[p.image2.as_str()]);
            (a.min(b), a.max(b))
        })
        .collect();
    let verified: HashSet<(usize, usize)> = report
        .pairs
        .iter()
        .filter(|p| p.config.is_verified())
        .map(|p| {
            let (a, b) = (index_of[p.image1.as_str()], index_of[p.image2.as_str()]);
            (a.min(b), a.max(b))
        })
        .collect();
    let n = candidates.len();
    let start = Instant::now();
    let (words, vocabulary, training) =
        pairs::image_words(&candidates, &vocab, &splat_sfm::front_end::Silent);
    let index = Index::new(&words, vocabulary.words());
    let build = start.elapsed().as_secs_f64();
    println!(
        "{n} images, {} pairs; exhaustive verified {}, of which {} with >= {min_inliers} inliers",
        n * (n - 1) / 2,
        verified.len(),
        strong.len()
    );
    println!(
        "vocabulary: branching {} depth {} -> {} words from {training} descriptors; \
         training + quantising + index {build:.1} s",
        vocab.branching,
        vocab.depth,
        vocabulary.words()
    );
    println!(
        "neighbours | pairs | share of all | strong kept | recall strong | recall verified | sequence (consecutive retrieved)"
    );
    for &k in &neighbours {
        let ranked = pairs::rank(&index, k);
        let (selected, consecutive, sequence) = pairs::pairs_from_ranking(&ranked, overlap);
        let set: HashSet<(usize, usize)> = selected.iter().copied().collect();
        let kept = strong.intersection(&set).count();
        let kept_verified = verified.intersection(&set).count();
        println!(
            "{k} | {} | {:.1} % | {kept}/{} | {:.1} % | {:.1} % | {sequence} ({:.0} %)",
            selected.len(),
            100.0 * selected.len() as f64 / (n * (n - 1) / 2) as f64,
            strong.len(),
            100.0 * kept as f64 / strong.len().max(1) as f64,
            100.0 * kept_verified as f64 / verified.len().max(1) as f64,
            100.0 * consecutive
        );
    }
    Ok(())
}

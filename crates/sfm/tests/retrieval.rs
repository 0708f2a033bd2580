//! Image retrieval against exhaustive matching on the built-in scene's full orbit: the pairs
//! retrieval chooses keep the strong pairs exhaustive matching verifies, at a fraction of the
//! pairs; and the front end reports which matcher ran and why.

use splat_sfm::front_end::{self, FrontEndOptions, Matcher, Silent};
use splat_sfm::pairs::RetrievalOptions;
use std::collections::HashSet;
mod support;

/// Inliers that make a pair strong at this image size (320×240; 182 of the 1,128 pairs verify,
/// 45 with 60 inliers or more).
const STRONG: usize = 30;

#[test]
fn retrieval_keeps_the_strong_pairs_of_exhaustive_matching() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("images");
    std::fs::create_dir(&dir).unwrap();
    let scene = support::orbit(320, 240);
    support::render_views(&scene, &dir, 48);

    let exhaustive = FrontEndOptions {
        matcher: Matcher::Exhaustive,
        ..FrontEndOptions::default()
    };
    let (mut images, _) = front_end::extract_folder(&dir, &exhaustive, &Silent).unwrap();
    let metas: Vec<_> = images.iter().map(|f| f.image.clone()).collect();
    let camera_of = front_end::assign_cameras(&metas, exhaustive.camera_mode);
    let mut time = front_end::Timings::default();
    let (results, selection) =
        front_end::match_and_verify(&mut images, &camera_of, &exhaustive, &Silent, &mut time);
    assert_eq!(selection.matcher, "exhaustive");
    assert_eq!(results.len(), 48 * 47 / 2);
    let strong: HashSet<(usize, usize)> = results
        .iter()
        .filter(|(_, _, g, _)| g.config.is_verified() && g.inliers.len() >= STRONG)
        .map(|(p, _, _, _)| *p)
        .collect();
    assert!(strong.len() > 80, "only {} strong pairs", strong.len());

    let retrieval = Matcher::Retrieval(RetrievalOptions {
        neighbours: 10,
        ..RetrievalOptions::default()
    });
    let (pairs, report) = front_end::select_pairs(&images, &retrieval, &Silent);
    let chosen: HashSet<(usize, usize)> = pairs.iter().copied().collect();
    let kept = strong.intersection(&chosen).count();
    let recall = kept as f64 / strong.len() as f64;
    let missed: Vec<_> = strong.difference(&chosen).collect();
    assert!(
        recall >= 0.95,
        "retrieval kept {kept} of {} strong pairs; missed {missed:?}",
        strong.len()
    );
    assert!(pairs.len() * 2 < results.len(), "{} pairs", pairs.len());
    let r = report.retrieval.as_ref().unwrap();
    assert_eq!(report.matcher, "retrieval");
    assert!(r.vocabulary_words > 100, "{r:?}");
    // The orbit's views are in name order around the scene: a sequence.
    assert!(r.sequence && r.consecutive_retrieved > 0.5, "{r:?}");

    // Retrieval alone (no sequence neighbours) keeps them too.
    let alone = Matcher::Retrieval(RetrievalOptions {
        neighbours: 10,
        sequence_overlap: 0,
        ..RetrievalOptions::default()
    });
    let (alone, _) = front_end::select_pairs(&images, &alone, &Silent);
    let alone: HashSet<(usize, usize)> = alone.into_iter().collect();
    let kept_alone = strong.intersection(&alone).count();
    assert!(
        kept_alone as f64 >= 0.95 * strong.len() as f64,
        "{kept_alone} of {}",
        strong.len()
    );

    // Deterministic: the same pairs again.
    let (again, _) = front_end::select_pairs(&images, &retrieval, &Silent);
    assert_eq!(again, pairs);

    // Auto: exhaustive up to its count, retrieval above, and the report says so.
    let auto = |up_to| Matcher::Auto {
        exhaustive_up_to: up_to,
        retrieval: RetrievalOptions {
            neighbours: 10,
            ..RetrievalOptions::default()
        },
        spatial: Default::default(),
    };
    let (all, small) = front_end::select_pairs(&images, &auto(48), &Silent);
    assert_eq!(
        (all.len(), small.matcher.as_str()),
        (48 * 47 / 2, "exhaustive")
    );
    assert!(
        small.reason.contains("48 images, at most 48"),
        "{}",
        small.reason
    );
    let (some, large) = front_end::select_pairs(&images, &auto(47), &Silent);
    assert_eq!((some, large.matcher.as_str()), (pairs, "retrieval"));
    assert!(
        large.reason.contains("more than 47") && large.reason.contains("0 with GPS"),
        "{}",
        large.reason
    );
}

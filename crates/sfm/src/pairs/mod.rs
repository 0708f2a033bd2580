//! Which image pairs are matched: every pair for small sets; for large ones each image with the
//! images most like it by image retrieval (a vocabulary tree over the run's own descriptors),
//! with its neighbours in name order when the names form a sequence, and with its nearest
//! images by EXIF GPS when every photo has a position. `Matcher::Auto` chooses, and the
//! report says what ran and why.

pub mod index;
pub mod spatial;
pub mod vocabulary;

use crate::features::DESCRIPTOR_LEN;
use crate::input::GpsPosition;
use crate::matching;
use crate::observer::Observer;
pub use spatial::SpatialOptions;
pub use vocabulary::{Vocabulary, VocabularyOptions};

use rayon::prelude::*;

/// How retrieval pairs are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrievalOptions {
    /// Most similar images each image is matched with.
    pub neighbours: usize,
    /// Successors in name order each image is also matched with when the names form a
    /// sequence (consecutive images retrieve each other).
    pub sequence_overlap: usize,
    pub vocabulary: VocabularyOptions,
}

impl Default for RetrievalOptions {
    fn default() -> Self {
        Self {
            neighbours: DEFAULT_NEIGHBOURS,
            sequence_overlap: 5,
            vocabulary: VocabularyOptions::default(),
        }
    }
}

/// Retrieval neighbours per image by default (see benches/RESULTS.md, "Matching that scales").
pub const DEFAULT_NEIGHBOURS: usize = 30;
/// `Matcher::Auto` matches every pair up to this many images: past it retrieval saves 22 % of
/// the time at 64 photos and half at 100, with the same models (benches/RESULTS.md, "SfM end to
/// end", the chair's entry, and "Growth with the photo count").
pub const DEFAULT_EXHAUSTIVE_UP_TO: usize = 60;
/// Share of consecutive images (name order) that must retrieve each other for the names to
/// count as a sequence.
const SEQUENCE_SHARE: f64 = 0.5;

/// Which pairs are matched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Matcher {
    /// Every pair up to `exhaustive_up_to` images; above, retrieval, joined by spatial pairs
    /// when every image has a GPS position.
    Auto {
        exhaustive_up_to: usize,
        retrieval: RetrievalOptions,
        spatial: SpatialOptions,
    },
    /// Every pair (small sets).
    Exhaustive,
    /// Each image with its `overlap` successors in name order (video-like sets).
    Sequential { overlap: usize },
    /// Each image with its most similar images by retrieval.
    Retrieval(RetrievalOptions),
    /// Each image with its nearest images by EXIF GPS.
    Spatial(SpatialOptions),
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher::Auto {
            exhaustive_up_to: DEFAULT_EXHAUSTIVE_UP_TO,
            retrieval: RetrievalOptions::default(),
            spatial: SpatialOptions::default(),
        }
    }
}

/// What retrieval did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RetrievalReport {
    pub neighbours: usize,
    pub vocabulary_words: usize,
    pub training_descriptors: usize,
    /// Share of consecutive images (name order) that retrieved each other.
    pub consecutive_retrieved: f64,
    /// Whether that made the names a sequence, and their neighbours were added.
    pub sequence: bool,
    pub sequence_overlap: usize,
}

/// `match-report.json`'s account of the pairs chosen.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SelectionReport {
    /// exhaustive, sequential, retrieval, spatial or retrieval+spatial.
    pub matcher: String,
    /// Why: the rule that chose it.
    pub reason: String,
    /// Pairs matched, of every pair of the images.
    pub pairs: usize,
    pub all_pairs: usize,
    /// Images with an EXIF GPS position.
    pub gps_images: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrieval: Option<RetrievalReport>,
}

/// What pair selection needs of an image.
pub struct Candidate<'a> {
    pub descriptors: &'a [[u8; DESCRIPTOR_LEN]],
    pub gps: Option<GpsPosition>,
}

/// Chooses the pairs (i < j, sorted, unique) of `images` (in name order) to match.
pub fn select(
    images: &[Candidate],
    matcher: &Matcher,
    obs: &dyn Observer,
) -> (Vec<(usize, usize)>, SelectionReport) {
    let n = images.len();
    let all_pairs = n * n.saturating_sub(1) / 2;
    let gps: Vec<Option<GpsPosition>> = images.iter().map(|c| c.gps).collect();
    let gps_images = gps.iter().flatten().count();
    let mut report = SelectionReport {
        all_pairs,
        gps_images,
        ..SelectionReport::default()
    };
    let pairs = match *matcher {
        Matcher::Exhaustive => {
            report.matcher = "exhaustive".into();
            report.reason = "asked for (--matcher exhaustive)".into();
            matching::pairs(n, None)
        }
        Matcher::Sequential { overlap } => {
            report.matcher = "sequential".into();
            report.reason = format!("asked for (--matcher sequential, overlap {overlap})");
            matching::pairs(n, Some(overlap.max(1)))
        }
        Matcher::Retrieval(opts) => {
            report.matcher = "retrieval".into();
            report.reason = "asked for (--matcher retrieval)".into();
            let (p, r) = retrieval_pairs(images, &opts, obs);
            report.retrieval = Some(r);
            p
        }
        Matcher::Spatial(opts) => {
            report.matcher = "spatial".into();
            report.reason = format!(
                "asked for (--matcher spatial); {gps_images} of {n} images have a GPS position"
            );
            if gps_images < n {
                obs.warn(&format!(
                    "--matcher spatial: only {gps_images} of {n} images have an EXIF GPS position; \
                     the others are matched with none (--matcher auto or retrieval matches them by \
                     their content)"
                ));
            }
            spatial::spatial_pairs(&gps, &opts)
        }
        Matcher::Auto {
            exhaustive_up_to,
            retrieval,
            spatial: spatial_opts,
        } => {
            if n <= exhaustive_up_to {
                report.matcher = "exhaustive".into();
                report.reason =
                    format!("{n} images, at most {exhaustive_up_to}: every pair (--matcher auto)");
                matching::pairs(n, None)
            } else {
                let (mut p, r) = retrieval_pairs(images, &retrieval, obs);
                report.retrieval = Some(r);
                if gps_images == n {
                    report.matcher = "retrieval+spatial".into();
                    report.reason = format!(
                        "{n} images, more than {exhaustive_up_to}, all with GPS: the {} most \
                         similar and the {} nearest of each (--matcher auto)",
                        retrieval.neighbours, spatial_opts.neighbours
                    );
                    p.extend(spatial::spatial_pairs(&gps, &spatial_opts));
                    p.sort_unstable();
                    p.dedup();
                } else {
                    report.matcher = "retrieval".into();
                    report.reason = format!(
                        "{n} images, more than {exhaustive_up_to}: the {} most similar of each \
                         (--matcher auto; {gps_images} with GPS, so no spatial pairs)",
                        retrieval.neighbours
                    );
                }
                p
            }
        }
    };
    report.pairs = pairs.len();
    (pairs, report)
}

/// Each image's visual words under a vocabulary trained on a sample of all descriptors.
pub fn image_words(
    images: &[Candidate],
    opts: &VocabularyOptions,
    obs: &dyn Observer,
) -> (Vec<Vec<u32>>, Vocabulary, usize) {
    let all: Vec<&[[u8; DESCRIPTOR_LEN]]> = images.iter().map(|c| c.descriptors).collect();
    let sample = vocabulary::training_sample(&all, opts.max_training_descriptors);
    let training = sample.len() / DESCRIPTOR_LEN;
    obs.begin("vocabulary", 1);
    let vocabulary = Vocabulary::train(&sample, opts);
    drop(sample);
    obs.tick();
    obs.end();
    obs.begin("retrieval", images.len());
    let words: Vec<Vec<u32>> = images
        .par_iter()
        .map(|c| {
            let w = c
                .descriptors
                .iter()
                .map(|d| vocabulary.word(&vocabulary::to_f32(d)))
                .collect();
            obs.tick();
            w
        })
        .collect();
    obs.end();
    (words, vocabulary, training)
}

/// Each image's `neighbours` most similar images, best first.
pub fn rank(index: &index::Index, neighbours: usize) -> Vec<Vec<usize>> {
    (0..index.bags().len())
        .into_par_iter()
        .map(|q| {
            index
                .most_similar(q, neighbours)
                .into_iter()
                .map(|(d, _)| d)
                .collect()
        })
        .collect()
}

/// Pairs from a ranking (each image with those it retrieved), plus each image's
/// `sequence_overlap` successors when at least half of the consecutive images retrieved each
/// other; returns the pairs, that share and whether the successors were added.
pub fn pairs_from_ranking(
    ranked: &[Vec<usize>],
    sequence_overlap: usize,
) -> (Vec<(usize, usize)>, f64, bool) {
    let n = ranked.len();
    let mut pairs: Vec<(usize, usize)> = ranked
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.iter().map(move |&j| (i.min(j), i.max(j))))
        .collect();
    let consecutive = if n < 2 {
        0.0
    } else {
        (0..n - 1)
            .filter(|&i| ranked[i].contains(&(i + 1)) || ranked[i + 1].contains(&i))
            .count() as f64
            / (n - 1) as f64
    };
    let sequence = n > 2 && consecutive >= SEQUENCE_SHARE && sequence_overlap > 0;
    if sequence {
        pairs.extend(matching::pairs(n, Some(sequence_overlap)));
    }
    pairs.sort_unstable();
    pairs.dedup();
    (pairs, consecutive, sequence)
}

/// Retrieval pairs: each image with its `neighbours` most similar, plus sequence neighbours
/// when consecutive images retrieve each other.
fn retrieval_pairs(
    images: &[Candidate],
    opts: &RetrievalOptions,
    obs: &dyn Observer,
) -> (Vec<(usize, usize)>, RetrievalReport) {
    let (words, vocabulary, training) = image_words(images, &opts.vocabulary, obs);
    let index = index::Index::new(&words, vocabulary.words());
    let ranked = rank(&index, opts.neighbours);
    let (pairs, consecutive, sequence) = pairs_from_ranking(&ranked, opts.sequence_overlap);
    let report = RetrievalReport {
        neighbours: opts.neighbours,
        vocabulary_words: vocabulary.words(),
        training_descriptors: training,
        consecutive_retrieved: consecutive,
        sequence,
        sequence_overlap: if sequence { opts.sequence_overlap } else { 0 },
    };
    (pairs, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_exhaustive_up_to_its_count_and_says_why() {
        let d = vec![[0u8; DESCRIPTOR_LEN]; 3];
        let images: Vec<Candidate> = (0..5)
            .map(|_| Candidate {
                descriptors: &d,
                gps: None,
            })
            .collect();
        let (pairs, report) = select(&images, &Matcher::default(), &crate::observer::Silent);
        assert_eq!(pairs.len(), 10);
        assert_eq!(report.matcher, "exhaustive");
        assert!(report.reason.contains("5 images"), "{}", report.reason);
        assert_eq!((report.pairs, report.all_pairs), (10, 10));
    }

    #[test]
    fn auto_adds_spatial_pairs_only_when_every_image_has_gps() {
        let d: Vec<[u8; DESCRIPTOR_LEN]> = (0..40u8).map(|k| [k; DESCRIPTOR_LEN]).collect();
        let metre = 1.0 / 111_132.0;
        let gps = |m: f64| GpsPosition {
            latitude: 47.0 + m * metre,
            longitude: 8.0,
            altitude: None,
        };
        let mut images: Vec<Candidate> = [0.0, 10.0, 25.0, 45.0, 70.0, 100.0]
            .iter()
            .map(|&m| Candidate {
                descriptors: &d,
                gps: Some(gps(m)),
            })
            .collect();
        let auto = Matcher::Auto {
            exhaustive_up_to: 3,
            retrieval: RetrievalOptions {
                neighbours: 1,
                sequence_overlap: 0,
                ..RetrievalOptions::default()
            },
            spatial: SpatialOptions {
                neighbours: 1,
                ..SpatialOptions::default()
            },
        };
        let (pairs, report) = select(&images, &auto, &crate::observer::Silent);
        assert_eq!(report.matcher, "retrieval+spatial", "{report:?}");
        assert!(report.reason.contains("all with GPS"), "{}", report.reason);
        // Each image's nearest along the line is among the pairs.
        for p in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)] {
            assert!(pairs.contains(&p), "{p:?} missing from {pairs:?}");
        }
        images[4].gps = None;
        let (_, report) = select(&images, &auto, &crate::observer::Silent);
        assert_eq!(report.matcher, "retrieval");
        assert!(report.reason.contains("5 with GPS"), "{}", report.reason);
        assert_eq!(report.gps_images, 5);
    }
}

//! A vocabulary tree (hierarchical k-means, after Nistér & Stewénius 2006) over SIFT
//! descriptors: each node's descriptors are split into `branching` clusters by k-means, level
//! by level, and a descriptor's visual word is the leaf reached by descending to the nearest
//! child centre at every level.
//!
//! It is trained on the run's own descriptors (a deterministic sample), so no vocabulary file
//! ships with the tool and none can be out of step with our descriptor. Written by hand: no
//! well-kept crate builds a vocabulary tree, and the k-means it needs is a few loops.

use crate::features::DESCRIPTOR_LEN;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;

/// How a vocabulary is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VocabularyOptions {
    /// Children per node.
    pub branching: usize,
    /// Levels below the root; the tree has at most `branching^depth` words.
    pub depth: usize,
    /// Training descriptors drawn (evenly over the images) from the run's own.
    pub max_training_descriptors: usize,
    /// Lloyd iterations per node at most (fewer when the assignment settles).
    pub iterations: usize,
    /// A node with fewer training descriptors than `branching × this` is a leaf.
    pub min_per_child: usize,
    pub seed: u64,
}

impl Default for VocabularyOptions {
    fn default() -> Self {
        Self {
            branching: 10,
            depth: 5,
            max_training_descriptors: 200_000,
            iterations: 12,
            min_per_child: 1,
            seed: 0x5eed,
        }
    }
}

/// One node of the tree: its children are `first_child..first_child + children` in
/// [`Vocabulary::nodes`]; a leaf has no children and a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    first_child: u32,
    children: u32,
    word: u32,
}

/// A trained vocabulary tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocabulary {
    nodes: Vec<Node>,
    /// Node k's centre at `k·DESCRIPTOR_LEN..`, as descriptor bytes in f32 (the root's unused).
    centers: Vec<f32>,
    /// Half the squared norm of each centre: nearest = argmax(x·c − ‖c‖²/2).
    half_norms: Vec<f32>,
    words: usize,
}

/// Descriptor bytes as f32.
pub fn to_f32(d: &[u8; DESCRIPTOR_LEN]) -> [f32; DESCRIPTOR_LEN] {
    d.map(f32::from)
}

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[inline]
fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Rows of a descriptor matrix.
fn row(data: &[f32], k: usize) -> &[f32] {
    &data[k * DESCRIPTOR_LEN..(k + 1) * DESCRIPTOR_LEN]
}

/// Index of the nearest of `centers` (rows) to `x`; the first on ties.
fn nearest(x: &[f32], centers: &[f32], half_norms: &[f32]) -> usize {
    let mut best = (f32::NEG_INFINITY, 0);
    for (c, &h) in half_norms.iter().enumerate() {
        let s = dot(x, row(centers, c)) - h;
        if s > best.0 {
            best = (s, c);
        }
    }
    best.1
}

fn half_norms_of(centers: &[f32]) -> Vec<f32> {
    centers
        .chunks_exact(DESCRIPTOR_LEN)
        .map(|c| 0.5 * dot(c, c))
        .collect()
}

/// k-means of the rows `members` of `data` into at most `k` clusters (k-means++ seeding from
/// `rng`, then Lloyd's iterations until no assignment changes or `iterations` ran). Returns the
/// centres and each cluster's members; clusters left empty are dropped.
fn kmeans(
    data: &[f32],
    members: &[u32],
    k: usize,
    iterations: usize,
    rng: &mut Pcg64,
) -> (Vec<f32>, Vec<Vec<u32>>) {
    let mut centers = seed_centers(data, members, k, rng);
    let mut assignment = vec![usize::MAX; members.len()];
    for _ in 0..iterations.max(1) {
        let half = half_norms_of(&centers);
        let next: Vec<usize> = members
            .par_iter()
            .map(|&m| nearest(row(data, m as usize), &centers, &half))
            .collect();
        let settled = next == assignment;
        assignment = next;
        if settled {
            break;
        }
        // Means in f64, summed in member order: the same bits for the same input.
        let clusters = centers.len() / DESCRIPTOR_LEN;
        let mut sums = vec![0f64; centers.len()];
        let mut counts = vec![0usize; clusters];
        for (&m, &c) in members.iter().zip(&assignment) {
            counts[c] += 1;
            for (s, &x) in sums[c * DESCRIPTOR_LEN..(c + 1) * DESCRIPTOR_LEN]
                .iter_mut()
                .zip(row(data, m as usize))
            {
                *s += f64::from(x);
            }
        }
        for c in 0..clusters {
            if counts[c] > 0 {
                let n = counts[c] as f64;
                for d in 0..DESCRIPTOR_LEN {
                    centers[c * DESCRIPTOR_LEN + d] = (sums[c * DESCRIPTOR_LEN + d] / n) as f32;
                }
            }
        }
    }
    let clusters = centers.len() / DESCRIPTOR_LEN;
    let mut groups = vec![Vec::new(); clusters];
    for (&m, &c) in members.iter().zip(&assignment) {
        groups[c].push(m);
    }
    let mut kept_centers = Vec::with_capacity(centers.len());
    let mut kept = Vec::with_capacity(clusters);
    for (c, g) in groups.into_iter().enumerate() {
        if !g.is_empty() {
            kept_centers.extend_from_slice(row(&centers, c));
            kept.push(g);
        }
    }
    (kept_centers, kept)
}

/// k-means++ seeding: the first centre uniformly, each next one with probability proportional
/// to the squared distance to the nearest centre so far. Fewer than `k` when the members have
/// fewer distinct descriptors.
fn seed_centers(data: &[f32], members: &[u32], k: usize, rng: &mut Pcg64) -> Vec<f32> {
    let first = members[rng.random_range(0..members.len())] as usize;
    let mut centers = row(data, first).to_vec();
    let mut d2: Vec<f32> = members
        .par_iter()
        .map(|&m| squared_distance(row(data, m as usize), row(data, first)))
        .collect();
    while centers.len() / DESCRIPTOR_LEN < k {
        let total: f64 = d2.iter().map(|&d| f64::from(d)).sum();
        if total <= 0.0 {
            break;
        }
        let target = rng.random::<f64>() * total;
        let mut acc = 0.0;
        let mut pick = members.len() - 1;
        for (i, &d) in d2.iter().enumerate() {
            acc += f64::from(d);
            if acc > target && d > 0.0 {
                pick = i;
                break;
            }
        }
        let c = row(data, members[pick] as usize).to_vec();
        d2.par_iter_mut().zip(members).for_each(|(d, &m)| {
            *d = d.min(squared_distance(row(data, m as usize), &c));
        });
        centers.extend_from_slice(&c);
    }
    centers
}

impl Vocabulary {
    /// Trains a tree on `data` (rows of `DESCRIPTOR_LEN` descriptor bytes as f32), breadth
    /// first: every node of a level is split independently (in parallel, each with its own
    /// random stream), so the tree depends on the data and the seed only.
    pub fn train(data: &[f32], opts: &VocabularyOptions) -> Vocabulary {
        let n = data.len() / DESCRIPTOR_LEN;
        let branching = opts.branching.max(2);
        let mut nodes = vec![Node {
            first_child: 0,
            children: 0,
            word: 0,
        }];
        let mut centers = vec![0f32; DESCRIPTOR_LEN];
        // (node, its training rows) of the level being split.
        let mut frontier: Vec<(usize, Vec<u32>)> = vec![(0, (0..n as u32).collect())];
        for _level in 0..opts.depth {
            let splits: Vec<(usize, Vec<f32>, Vec<Vec<u32>>)> = frontier
                .par_iter()
                .filter(|(_, rows)| rows.len() >= branching * opts.min_per_child.max(1))
                .map(|(node, rows)| {
                    let mut rng = Pcg64::seed_from_u64(
                        opts.seed ^ (*node as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    );
                    let (c, groups) = kmeans(data, rows, branching, opts.iterations, &mut rng);
                    (*node, c, groups)
                })
                .collect();
            let mut next = Vec::new();
            for (node, c, groups) in splits {
                if groups.len() < 2 {
                    continue;
                }
                nodes[node].first_child = nodes.len() as u32;
                nodes[node].children = groups.len() as u32;
                for (k, g) in groups.into_iter().enumerate() {
                    next.push((nodes.len(), g));
                    nodes.push(Node {
                        first_child: 0,
                        children: 0,
                        word: 0,
                    });
                    centers.extend_from_slice(row(&c, k));
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        let mut words = 0;
        for node in &mut nodes {
            if node.children == 0 {
                node.word = words;
                words += 1;
            }
        }
        let half_norms = half_norms_of(&centers);
        Vocabulary {
            nodes,
            centers,
            half_norms,
            words: words as usize,
        }
    }

    /// Number of words (leaves).
    pub fn words(&self) -> usize {
        self.words
    }

    /// The word of one descriptor (bytes as f32): the leaf reached through the nearest child
    /// at every level.
    pub fn word(&self, x: &[f32]) -> u32 {
        self.descend(x, |_, _| {})
    }

    /// Descends from the root to `x`'s leaf, telling `visit` each level's children (as node
    /// indices) and the one taken; returns the leaf's word.
    fn descend(&self, x: &[f32], mut visit: impl FnMut(std::ops::Range<usize>, usize)) -> u32 {
        let mut node = self.nodes[0];
        while node.children > 0 {
            let first = node.first_child as usize;
            let count = node.children as usize;
            let c = nearest(
                x,
                &self.centers[first * DESCRIPTOR_LEN..(first + count) * DESCRIPTOR_LEN],
                &self.half_norms[first..first + count],
            );
            visit(first..first + count, c);
            node = self.nodes[first + c];
        }
        node.word
    }

    /// For each level on the way to `x`'s leaf, the squared distances to the children's
    /// centres and the index of the one taken.
    #[cfg(test)]
    fn choices(&self, x: &[f32]) -> Vec<(Vec<f32>, usize)> {
        let mut out = Vec::new();
        self.descend(x, |children, c| {
            let d = children
                .map(|k| squared_distance(x, row(&self.centers, k)))
                .collect();
            out.push((d, c));
        });
        out
    }
}

/// Draws up to `max` descriptors evenly from every image (the same share of each image's
/// descriptors, at evenly spaced indices), as f32 rows.
pub fn training_sample(images: &[&[[u8; DESCRIPTOR_LEN]]], max: usize) -> Vec<f32> {
    let total: usize = images.iter().map(|d| d.len()).sum();
    let share = if total <= max {
        1.0
    } else {
        max as f64 / total as f64
    };
    let mut out = Vec::with_capacity(max.min(total) * DESCRIPTOR_LEN);
    for descriptors in images {
        let take = ((descriptors.len() as f64 * share).floor() as usize).min(descriptors.len());
        for k in 0..take {
            let i = k * descriptors.len() / take.max(1);
            out.extend(descriptors[i].iter().map(|&b| f32::from(b)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` descriptors around `clusters` random centres (integer bytes, spread ±8).
    fn clustered(clusters: usize, count: usize, seed: u64) -> Vec<f32> {
        let mut rng = Pcg64::seed_from_u64(seed);
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| {
                (0..DESCRIPTOR_LEN)
                    .map(|_| f32::from(rng.random_range(0u8..=200)))
                    .collect()
            })
            .collect();
        let mut out = Vec::new();
        for i in 0..count {
            let c = &centres[i % clusters];
            out.extend(
                c.iter()
                    .map(|&v| v + f32::from(rng.random_range(0u8..=16)) - 8.0),
            );
        }
        out
    }

    fn tree(data: &[f32], branching: usize, depth: usize) -> Vocabulary {
        let opts = VocabularyOptions {
            branching,
            depth,
            ..VocabularyOptions::default()
        };
        Vocabulary::train(data, &opts)
    }

    #[test]
    fn descent_takes_the_nearest_child_at_every_level() {
        let data = clustered(40, 4000, 1);
        let v = tree(&data, 4, 3);
        assert!(v.words() > 16 && v.words() <= 64, "{} words", v.words());
        for k in (0..4000).step_by(37) {
            let x = row(&data, k);
            for (d, chosen) in v.choices(x) {
                let min = d.iter().copied().fold(f32::INFINITY, f32::min);
                assert!(
                    d[chosen] <= min * (1.0 + 1e-5) + 1e-3,
                    "{d:?} chose {chosen}"
                );
            }
        }
    }

    #[test]
    fn separated_clusters_get_words_of_their_own() {
        // 8 well-separated clusters, branching 3 and depth 3: no word may mix two clusters.
        let data = clustered(8, 1600, 2);
        let v = tree(&data, 3, 3);
        let mut owner = vec![usize::MAX; v.words()];
        for k in 0..1600 {
            let w = v.word(row(&data, k)) as usize;
            let cluster = k % 8;
            assert!(
                owner[w] == usize::MAX || owner[w] == cluster,
                "word {w} mixes clusters"
            );
            owner[w] = cluster;
        }
    }

    #[test]
    fn the_same_seed_trains_the_same_tree_and_another_seed_may_not() {
        let data = clustered(30, 3000, 3);
        let (a, b) = (tree(&data, 5, 3), tree(&data, 5, 3));
        assert_eq!(a, b);
        let opts = VocabularyOptions {
            branching: 5,
            depth: 3,
            seed: 99,
            ..VocabularyOptions::default()
        };
        let c = Vocabulary::train(&data, &opts);
        assert_ne!(a.centers, c.centers);
    }

    #[test]
    fn few_descriptors_make_a_single_word() {
        let data = clustered(2, 5, 4);
        let v = Vocabulary::train(&data, &VocabularyOptions::default());
        assert_eq!(v.words(), 1);
        assert_eq!(v.word(row(&data, 3)), 0);
    }

    #[test]
    fn the_training_sample_takes_an_even_share_of_every_image() {
        let a = vec![[1u8; DESCRIPTOR_LEN]; 100];
        let b = vec![[2u8; DESCRIPTOR_LEN]; 300];
        let s = training_sample(&[&a, &b], 200);
        let rows: Vec<f32> = s.chunks_exact(DESCRIPTOR_LEN).map(|r| r[0]).collect();
        assert_eq!(rows.len(), 200);
        assert_eq!(rows.iter().filter(|&&v| v == 1.0).count(), 50);
        let all = training_sample(&[&a, &b], 1000);
        assert_eq!(all.len(), 400 * DESCRIPTOR_LEN);
    }
}

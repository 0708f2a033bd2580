//! Bags of visual words and their similarities through inverted files.
//!
//! Each image is a vector over the vocabulary's words: the count of its descriptors quantised
//! to a word times the word's inverse document frequency ln(N / images containing it), scaled
//! to unit L1 norm. Two images score 1 − ½‖q − d‖₁ (Nistér & Stewénius' L1 score, 1 for equal
//! bags, 0 for disjoint ones), which for non-negative unit vectors is Σ_w min(q_w, d_w): only
//! the words both hold contribute, so an inverted file (word → images holding it) gives an
//! image's scores against all others by touching only the postings of its own words.

/// One image's weighted words, sorted by word.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bag {
    pub words: Vec<(u32, f32)>,
}

/// The bags of a set of images and the inverted file over them.
pub struct Index {
    bags: Vec<Bag>,
    /// For each word, the images holding it with their weight, by image.
    postings: Vec<Vec<(u32, f32)>>,
}

/// Term counts of one image's words, sorted by word.
fn counts(words: &[u32]) -> Vec<(u32, u32)> {
    let mut sorted = words.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for w in sorted {
        match out.last_mut() {
            Some((last, c)) if *last == w => *c += 1,
            _ => out.push((w, 1)),
        }
    }
    out
}

impl Index {
    /// Builds the bags (tf-idf, unit L1) of images given as the word of each descriptor, over a
    /// vocabulary of `words` words.
    pub fn new(images: &[Vec<u32>], words: usize) -> Index {
        let tf: Vec<Vec<(u32, u32)>> = images.iter().map(|w| counts(w)).collect();
        let mut df = vec![0u32; words];
        for t in &tf {
            for &(w, _) in t {
                df[w as usize] += 1;
            }
        }
        let n = images.len() as f64;
        let idf: Vec<f64> = df
            .iter()
            .map(|&d| if d == 0 { 0.0 } else { (n / f64::from(d)).ln() })
            .collect();
        let bags: Vec<Bag> = tf
            .iter()
            .map(|t| {
                let raw: Vec<(u32, f64)> = t
                    .iter()
                    .map(|&(w, c)| (w, f64::from(c) * idf[w as usize]))
                    .filter(|&(_, v)| v > 0.0)
                    .collect();
                let norm: f64 = raw.iter().map(|(_, v)| v).sum();
                Bag {
                    words: raw
                        .into_iter()
                        .map(|(w, v)| (w, (v / norm) as f32))
                        .collect(),
                }
            })
            .collect();
        let mut postings = vec![Vec::new(); words];
        for (i, bag) in bags.iter().enumerate() {
            for &(w, v) in &bag.words {
                postings[w as usize].push((i as u32, v));
            }
        }
        Index { bags, postings }
    }

    pub fn bags(&self) -> &[Bag] {
        &self.bags
    }

    /// Scores of image `q` against every image (its own entry included).
    pub fn scores(&self, q: usize) -> Vec<f32> {
        let mut scores = vec![0f32; self.bags.len()];
        for &(w, vq) in &self.bags[q].words {
            for &(d, vd) in &self.postings[w as usize] {
                scores[d as usize] += vq.min(vd);
            }
        }
        scores
    }

    /// The `k` images most similar to `q` (itself excluded), best first; equal scores by index.
    pub fn most_similar(&self, q: usize, k: usize) -> Vec<(usize, f32)> {
        let scores = self.scores(q);
        let mut ranked: Vec<(usize, f32)> = scores
            .into_iter()
            .enumerate()
            .filter(|&(d, _)| d != q)
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(k);
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The score from dense vectors built independently: 1 − ½‖q − d‖₁.
    fn dense_score(images: &[Vec<u32>], words: usize, a: usize, b: usize) -> f64 {
        let n = images.len() as f64;
        let vector = |i: usize| {
            let mut v = vec![0f64; words];
            for &w in &images[i] {
                let df = images.iter().filter(|im| im.contains(&w)).count() as f64;
                v[w as usize] += (n / df).ln();
            }
            let s: f64 = v.iter().sum();
            if s > 0.0 {
                v.iter_mut().for_each(|x| *x /= s);
            }
            v
        };
        let (va, vb) = (vector(a), vector(b));
        if va.iter().all(|&x| x == 0.0) || vb.iter().all(|&x| x == 0.0) {
            return 0.0;
        }
        1.0 - 0.5 * va.iter().zip(&vb).map(|(x, y)| (x - y).abs()).sum::<f64>()
    }

    #[test]
    fn inverted_file_scores_equal_the_dense_l1_score() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let words = 50;
        let images: Vec<Vec<u32>> = (0..12)
            .map(|_| {
                let len = rng.random_range(5..60);
                (0..len)
                    .map(|_| rng.random_range(0..words as u32))
                    .collect()
            })
            .collect();
        let index = Index::new(&images, words);
        for a in 0..images.len() {
            let s = index.scores(a);
            for (b, &got) in s.iter().enumerate() {
                let want = dense_score(&images, words, a, b);
                assert!(
                    (f64::from(got) - want).abs() < 1e-5,
                    "{a},{b}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn the_image_sharing_rare_words_ranks_first() {
        // Word 0 is in every image (idf 0, ignored); 1..4 are shared by images 0 and 2 only.
        let images = vec![
            vec![0, 1, 2, 3, 4, 9],
            vec![0, 5, 6, 7, 9],
            vec![0, 1, 2, 3, 4, 8],
            vec![0, 5, 6, 8],
        ];
        let index = Index::new(&images, 10);
        let best = index.most_similar(0, 2);
        assert_eq!(best[0].0, 2);
        assert!(best[0].1 > 0.75 && best[1].1 < 0.25, "{best:?}");
        assert!(index.bags()[0].words.iter().all(|&(w, _)| w != 0));
        let total: f32 = index.bags()[1].words.iter().map(|(_, v)| v).sum();
        assert!((total - 1.0).abs() < 1e-6);
    }
}

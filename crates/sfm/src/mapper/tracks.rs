//! Tracks: the connected components of keypoints linked by verified inlier matches (union–find
//! with path halving), each listing at most one keypoint per image.

/// Keypoint `kp` of image `image` (indices into the mapper's image list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Element {
    pub image: usize,
    pub kp: u32,
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn find(&mut self, mut x: usize) -> usize {
        while self.0[x] != x {
            self.0[x] = self.0[self.0[x]];
            x = self.0[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The smaller root wins, so the result does not depend on the order of unions.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.0[hi] = lo;
        }
    }
}

/// Builds tracks from `(image_a, image_b, matches)`; `counts[i]` is image i's keypoint count.
/// Returns the tracks of two or more elements (sorted, one keypoint per image: where a
/// component holds several keypoints of one image, the lowest-numbered is kept) and, per image
/// and keypoint, its track.
pub fn build(
    counts: &[usize],
    pairs: &[(usize, usize, Vec<[u32; 2]>)],
) -> (Vec<Vec<Element>>, Vec<Vec<Option<usize>>>) {
    let offsets: Vec<usize> = counts
        .iter()
        .scan(0, |acc, &c| {
            let o = *acc;
            *acc += c;
            Some(o)
        })
        .collect();
    let total: usize = counts.iter().sum();
    let mut uf = UnionFind((0..total).collect());
    let mut linked = vec![false; total];
    for (a, b, matches) in pairs {
        for m in matches {
            let (x, y) = (offsets[*a] + m[0] as usize, offsets[*b] + m[1] as usize);
            if m[0] as usize >= counts[*a] || m[1] as usize >= counts[*b] {
                continue;
            }
            linked[x] = true;
            linked[y] = true;
            uf.union(x, y);
        }
    }
    let mut by_root: std::collections::BTreeMap<usize, Vec<Element>> =
        std::collections::BTreeMap::new();
    for (image, &count) in counts.iter().enumerate() {
        for kp in 0..count {
            let node = offsets[image] + kp;
            if linked[node] {
                let root = uf.find(node);
                by_root.entry(root).or_default().push(Element {
                    image,
                    kp: kp as u32,
                });
            }
        }
    }
    let mut tracks = Vec::new();
    let mut of: Vec<Vec<Option<usize>>> = counts.iter().map(|&c| vec![None; c]).collect();
    for (_, mut elements) in by_root {
        elements.sort();
        elements.dedup_by_key(|e| e.image);
        if elements.len() < 2 {
            continue;
        }
        for e in &elements {
            of[e.image][e.kp as usize] = Some(tracks.len());
        }
        tracks.push(elements);
    }
    (tracks, of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_with_one_keypoint_per_image() {
        // 0:0–1:0, 1:0–2:1 chain into one track; 0:1–1:1 and 0:2–1:1 make a component with
        // two keypoints of image 0 (the lower one is kept).
        let pairs = vec![(0, 1, vec![[0, 0], [1, 1], [2, 1]]), (1, 2, vec![[0, 1]])];
        let (tracks, of) = build(&[3, 2, 2], &pairs);
        assert_eq!(tracks.len(), 2);
        let e = |image, kp| Element { image, kp };
        assert_eq!(tracks[0], vec![e(0, 0), e(1, 0), e(2, 1)]);
        assert_eq!(tracks[1], vec![e(0, 1), e(1, 1)]);
        assert_eq!(of[2][1], Some(0));
        assert_eq!(of[0][2], None);
    }
}

//! Where each Gaussian lives in the SOG images: the image size for a count and the texel order.
//!
//! SOG v2 allows any `W × H ≥ N` with the Gaussians in texels `0..N` (row-major) and zero
//! padding after them. We use `W = ⌈√N⌉`, `H = ⌈N / W⌉`: the self-organizing sort works on the
//! `W × ⌊N / W⌋` rectangle of full rows, and the `N mod W` Gaussians left over fill the start of
//! the last row (fewer than one row, so at most ~0.1 % of a large scene sits outside the sort).

/// The image geometry for `count` Gaussians.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridLayout {
    pub width: usize,
    pub height: usize,
    pub count: usize,
}

impl GridLayout {
    pub fn for_count(count: usize) -> Self {
        let width = ((count as f64).sqrt().ceil() as usize).max(1);
        let height = count.div_ceil(width).max(1);
        GridLayout {
            width,
            height,
            count,
        }
    }

    /// Rows that are completely filled with Gaussians: the rectangle the sort arranges.
    pub fn full_rows(&self) -> usize {
        self.count / self.width
    }

    pub fn texels(&self) -> usize {
        self.width * self.height
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_holds_every_gaussian_in_less_than_one_spare_row() {
        for n in [1usize, 2, 3, 15, 16, 17, 1000, 99_999, 100_000, 1_000_003] {
            let l = GridLayout::for_count(n);
            assert!(l.texels() >= n, "{n}");
            assert!(l.texels() - n < l.width, "{n}: {l:?}");
            assert!(l.full_rows() * l.width <= n);
        }
    }
}

//! Parallel linear assignment sorting (PLAS, Morgenstern et al.): arranges per-Gaussian keys on a
//! 2-D grid so that neighbours are similar, which is what makes the SOG images compress.
//!
//! For a shrinking schedule of radii, the grid is blurred into a fixed target; then, over random
//! shifts of a block tiling, every block cuts its cells into random groups of four and each group
//! takes the best of the 24 ways to place its four values on its four cells (least squared distance
//! to the target), until an iteration improves the total by less than `improvement_break`.
//!
//! Everything runs on integers — keys are 10-bit, the target is a rounded box blur (the paper's
//! Gaussian has σ equal to its kernel size, so it is within 12 % of flat; a box costs O(1) per
//! texel at any radius) and costs are exact sums of squares — and every random choice comes from
//! one seeded generator on the host, so a result depends only on the input and the seed: the same
//! on any thread count, and on any device that runs the same integer steps.

use rand::{Rng, SeedableRng, seq::SliceRandom};
use rayon::prelude::*;

/// The largest key value (keys are 10-bit).
pub const KEY_MAX: u16 = 1023;
/// A bound on block configurations per radius (the paper has none; it has never been reached in
/// our runs, it only guarantees termination).
const MAX_CONFIGS: usize = 64;

#[derive(Debug, Clone)]
pub struct PlasOptions {
    pub seed: u64,
    /// Stop a block configuration when an iteration improves the cost by less than this fraction.
    pub improvement_break: f64,
    pub min_block: usize,
    pub min_radius: usize,
}

impl Default for PlasOptions {
    fn default() -> Self {
        PlasOptions {
            seed: 0x9e37_79b9,
            improvement_break: 1e-4,
            min_block: 16,
            min_radius: 1,
        }
    }
}

/// A `width × height` grid of `channels`-dimensional keys and, per cell, the id it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub keys: Vec<u16>,
    pub ids: Vec<u32>,
}

/// What a sort did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PlasStats {
    pub radii: usize,
    pub block_configs: usize,
    pub iterations: usize,
}

impl Grid {
    /// The grid of `keys` (`channels` per item) laid out row-major in the order `ids`.
    pub fn new(width: usize, height: usize, channels: usize, keys: &[u16], ids: &[u32]) -> Grid {
        assert_eq!(ids.len(), width * height);
        let mut k = Vec::with_capacity(ids.len() * channels);
        for &i in ids {
            k.extend_from_slice(&keys[i as usize * channels..(i as usize + 1) * channels]);
        }
        Grid {
            width,
            height,
            channels,
            keys: k,
            ids: ids.to_vec(),
        }
    }

    fn key(&self, cell: usize) -> &[u16] {
        &self.keys[cell * self.channels..(cell + 1) * self.channels]
    }

    /// Mean Euclidean key distance between horizontal and vertical neighbours, in units of the
    /// key range (0 = every neighbour equal): the quality measure reported before and after.
    pub fn neighbour_distance(&self) -> f64 {
        let (w, h) = (self.width, self.height);
        let dist = |a: usize, b: usize| -> f64 {
            self.key(a)
                .iter()
                .zip(self.key(b))
                .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let (sum, count) = (0..h)
            .into_par_iter()
            .map(|y| {
                let mut s = 0.0;
                let mut c = 0usize;
                for x in 0..w {
                    let i = y * w + x;
                    if x + 1 < w {
                        s += dist(i, i + 1);
                        c += 1;
                    }
                    if y + 1 < h {
                        s += dist(i, i + w);
                        c += 1;
                    }
                }
                (s, c)
            })
            .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        sum / count.max(1) as f64 / f64::from(KEY_MAX)
    }
}

/// The blur radii, largest first: `r0 = max(W, H)/2 − 1`, then `⌊r0·0.95^k⌋` down to `min_radius`.
pub fn radius_schedule(width: usize, height: usize, min_radius: usize) -> Vec<usize> {
    let mut r = (width.max(height) as f64 / 2.0 - 1.0).max(0.0);
    let mut radii = Vec::new();
    while r >= min_radius.max(1) as f64 {
        radii.push(r as usize);
        r *= 0.95;
    }
    radii
}

/// The 24 permutations of four, identity first (ties keep the cells as they are).
pub fn permutations4() -> [[u8; 4]; 24] {
    let mut out = [[0u8; 4]; 24];
    let mut n = 0;
    for a in 0..4u8 {
        for b in 0..4u8 {
            for c in 0..4u8 {
                for d in 0..4u8 {
                    if a != b && a != c && a != d && b != c && b != d && c != d {
                        out[n] = [a, b, c, d];
                        n += 1;
                    }
                }
            }
        }
    }
    out
}

/// One device's half of the sort: the blurred target and the swap iterations. The schedule,
/// the random choices and the stopping rule live in [`run`], shared by every backend, so a
/// backend that performs the same integer steps gives the same grid.
pub trait Swapper {
    type Error;
    /// Computes the target from the current keys (box widths `fx` along x, `fy` along y).
    fn blur(&mut self, fx: usize, fy: usize) -> Result<(), Self::Error>;
    /// One swap iteration over `tiling` with the group order `order`; returns the tiled cost
    /// before and after it.
    fn step(&mut self, tiling: &Tiling, order: &[u32]) -> Result<(u64, u64), Self::Error>;
}

/// Sorts `grid` in place on the CPU (rayon). `progress(done, total)` is told after each radius.
pub fn sort(grid: &mut Grid, opts: &PlasOptions, progress: &dyn Fn(usize, usize)) -> PlasStats {
    let (w, h) = (grid.width, grid.height);
    let mut cpu = CpuSwapper {
        grid,
        target: Vec::new(),
        perms: permutations4(),
    };
    match run(&mut cpu, w, h, opts, progress) {
        Ok(stats) => stats,
        Err(never) => match never {},
    }
}

/// The PLAS schedule over any backend.
pub fn run<S: Swapper>(
    swapper: &mut S,
    w: usize,
    h: usize,
    opts: &PlasOptions,
    progress: &dyn Fn(usize, usize),
) -> Result<PlasStats, S::Error> {
    let mut stats = PlasStats::default();
    if w.min(h) < 2 {
        return Ok(stats);
    }
    let mut rng = rand_pcg::Pcg64::seed_from_u64(opts.seed);
    let radii = radius_schedule(w, h, opts.min_radius);
    for (ri, &r) in radii.iter().enumerate() {
        let fs = (2 * r + 1).min(w.max(h) - 1).max(1);
        swapper.blur(odd_at_most(fs, w - 1), odd_at_most(fs, h - 1))?;
        let block = block_size(fs, w, h, opts.min_block);
        let (nbx, nby) = (w / block, h / block);
        let mut config = 0usize;
        loop {
            let shift = (rng.random_range(0..block), rng.random_range(0..block));
            let tiling = Tiling {
                w,
                h,
                block,
                nbx,
                nby,
                shift,
            };
            let mut order: Vec<u32> = (0..(block * block) as u32).collect();
            let mut start = None;
            let mut prev;
            loop {
                order.shuffle(&mut rng);
                // `before` is the previous iteration's `cur` (nothing moves in between).
                let (before, cur) = swapper.step(&tiling, &order)?;
                start.get_or_insert(before);
                stats.iterations += 1;
                let improved =
                    before > 0 && (1.0 - cur as f64 / before as f64) >= opts.improvement_break;
                prev = cur;
                if !improved {
                    break;
                }
            }
            let start = start.unwrap_or(0);
            stats.block_configs += 1;
            config += 1;
            let config_improved =
                start > 0 && (1.0 - prev as f64 / start as f64) >= opts.improvement_break;
            if (!config_improved && config >= 4) || config >= MAX_CONFIGS {
                break;
            }
        }
        stats.radii += 1;
        progress(ri + 1, radii.len());
    }
    Ok(stats)
}

/// The rayon backend.
struct CpuSwapper<'a> {
    grid: &'a mut Grid,
    target: Vec<u16>,
    perms: [[u8; 4]; 24],
}

impl Swapper for CpuSwapper<'_> {
    type Error = std::convert::Infallible;

    fn blur(&mut self, fx: usize, fy: usize) -> Result<(), Self::Error> {
        self.target = blur(self.grid, fx, fy);
        Ok(())
    }

    fn step(&mut self, tiling: &Tiling, order: &[u32]) -> Result<(u64, u64), Self::Error> {
        Ok(swap_step(
            self.grid,
            &self.target,
            tiling,
            order,
            &self.perms,
        ))
    }
}

fn odd_at_most(fs: usize, limit: usize) -> usize {
    let f = fs.min(limit).max(1);
    if f.is_multiple_of(2) { f - 1 } else { f }
}

/// `min(fs + 1, W, H)` rounded down to even, at least `min_block` but never past the grid.
fn block_size(fs: usize, w: usize, h: usize, min_block: usize) -> usize {
    let side = w.min(h);
    let b = (fs + 1).min(side) & !1;
    b.max(min_block).min(side & !1).max(2)
}

/// The shifted block tiling of one configuration: block `(bx, by)` covers tile cells
/// `[bx·B, bx·B + B) × [by·B, by·B + B)`, and tile cell `(x, y)` is grid cell
/// `((x + sx) mod W, (y + sy) mod H)`.
pub struct Tiling {
    pub w: usize,
    pub h: usize,
    pub block: usize,
    pub nbx: usize,
    pub nby: usize,
    pub shift: (usize, usize),
}

impl Tiling {
    fn cell(&self, block: usize, pos: u32) -> usize {
        let (bx, by) = (block % self.nbx, block / self.nbx);
        let p = pos as usize;
        let x = (bx * self.block + p % self.block + self.shift.0) % self.w;
        let y = (by * self.block + p / self.block + self.shift.1) % self.h;
        y * self.w + x
    }

    pub fn blocks(&self) -> usize {
        self.nbx * self.nby
    }
}

fn sq_dist(a: &[u16], b: &[u16]) -> u32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = i32::from(x) - i32::from(y);
            (d * d) as u32
        })
        .sum()
}

/// One swap iteration: every group of four picks its best permutation; returns the tiled cost
/// before and after.
fn swap_step(
    grid: &mut Grid,
    target: &[u16],
    t: &Tiling,
    order: &[u32],
    perms: &[[u8; 4]; 24],
) -> (u64, u64) {
    let c = grid.channels;
    let groups_per_block = order.len() / 4;
    let choices: Vec<(u8, u32, u32)> = (0..t.blocks() * groups_per_block)
        .into_par_iter()
        .map(|g| {
            let (b, q) = (g / groups_per_block, g % groups_per_block);
            let cells: [usize; 4] = std::array::from_fn(|i| t.cell(b, order[4 * q + i]));
            let mut cost = [[0u32; 4]; 4];
            for (i, &ci) in cells.iter().enumerate() {
                for (j, &cj) in cells.iter().enumerate() {
                    cost[i][j] = sq_dist(grid.key(ci), &target[cj * c..(cj + 1) * c]);
                }
            }
            let mut best = (u32::MAX, 0u8);
            for (pi, p) in perms.iter().enumerate() {
                let s = cost[0][p[0] as usize]
                    + cost[1][p[1] as usize]
                    + cost[2][p[2] as usize]
                    + cost[3][p[3] as usize];
                if s < best.0 {
                    best = (s, pi as u8);
                }
            }
            let identity = cost[0][0] + cost[1][1] + cost[2][2] + cost[3][3];
            (best.1, identity, best.0)
        })
        .collect();
    let (mut before, mut after) = (0u64, 0u64);
    let mut tmp_keys = vec![0u16; 4 * c];
    for (g, &(pi, identity, cost)) in choices.iter().enumerate() {
        before += u64::from(identity);
        after += u64::from(cost);
        if pi == 0 {
            continue;
        }
        let (b, q) = (g / groups_per_block, g % groups_per_block);
        let cells: [usize; 4] = std::array::from_fn(|i| t.cell(b, order[4 * q + i]));
        let ids: [u32; 4] = std::array::from_fn(|i| grid.ids[cells[i]]);
        for (i, &ci) in cells.iter().enumerate() {
            tmp_keys[i * c..(i + 1) * c].copy_from_slice(grid.key(ci));
        }
        // The value from cell i moves to cell perm[i].
        for (i, &dst) in perms[pi as usize].iter().enumerate() {
            let cell = cells[dst as usize];
            grid.keys[cell * c..(cell + 1) * c].copy_from_slice(&tmp_keys[i * c..(i + 1) * c]);
            grid.ids[cell] = ids[i];
        }
    }
    (before, after)
}

/// The target: a box blur of width `fx` along x (circular border) then `fy` along y (reflected
/// border, the edge not repeated), each rounded to the nearest integer.
pub fn blur(grid: &Grid, fx: usize, fy: usize) -> Vec<u16> {
    let (w, h, c) = (grid.width, grid.height, grid.channels);
    let mut rows = vec![0u16; w * h * c];
    let hx = fx / 2;
    rows.par_chunks_mut(w * c).enumerate().for_each(|(y, out)| {
        for ch in 0..c {
            let at = |x: usize| u32::from(grid.keys[(y * w + x) * c + ch]);
            let mut s: u32 = (0..fx).map(|k| at((k + w - hx) % w)).sum();
            for x in 0..w {
                out[x * c + ch] = ((s + fx as u32 / 2) / fx as u32) as u16;
                s += at((x + hx + 1) % w);
                s -= at((x + w - hx) % w);
            }
        }
    });
    let hy = fy / 2;
    let reflect = |y: isize| -> usize {
        let n = h as isize;
        let mut y = y;
        if y < 0 {
            y = -y;
        }
        if y >= n {
            y = 2 * (n - 1) - y;
        }
        y as usize
    };
    let mut out = vec![0u16; w * h * c];
    out.par_chunks_mut(c).enumerate().for_each(|(cell, o)| {
        let (x, y) = (cell % w, cell / w);
        for (ch, v) in o.iter_mut().enumerate() {
            let s: u32 = (-(hy as isize)..=hy as isize)
                .map(|d| u32::from(rows[(reflect(y as isize + d) * w + x) * c + ch]))
                .sum();
            *v = ((s + fy as u32 / 2) / fy as u32) as u16;
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grid of 3-channel keys that are a smooth function of a hidden 2-D position, shuffled.
    fn shuffled_smooth(side: usize, seed: u64) -> (Grid, Vec<u16>) {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let n = side * side;
        let mut keys = Vec::with_capacity(n * 3);
        for i in 0..n {
            let (u, v) = (
                (i % side) as f64 / side as f64,
                (i / side) as f64 / side as f64,
            );
            keys.push((u * 1000.0) as u16);
            keys.push((v * 1000.0) as u16);
            keys.push(((u + v) * 500.0) as u16);
        }
        let mut ids: Vec<u32> = (0..n as u32).collect();
        ids.shuffle(&mut rng);
        (Grid::new(side, side, 3, &keys, &ids), keys)
    }

    #[test]
    fn sorting_a_shuffled_smooth_field_makes_neighbours_close_and_keeps_a_permutation() {
        let (mut grid, keys) = shuffled_smooth(64, 1);
        let before = grid.neighbour_distance();
        sort(&mut grid, &PlasOptions::default(), &|_, _| {});
        let after = grid.neighbour_distance();
        assert!(after < 0.25 * before, "before {before:.4} after {after:.4}");
        let mut ids = grid.ids.clone();
        ids.sort_unstable();
        assert!(
            ids.iter().enumerate().all(|(i, &v)| v as usize == i),
            "not a permutation"
        );
        // Keys travel with their ids.
        for (cell, &id) in grid.ids.iter().enumerate() {
            assert_eq!(grid.key(cell), &keys[id as usize * 3..id as usize * 3 + 3]);
        }
    }

    #[test]
    fn same_seed_same_grid_on_one_thread_and_many() {
        let (grid, _) = shuffled_smooth(40, 2);
        let opts = PlasOptions::default();
        let mut a = grid.clone();
        sort(&mut a, &opts, &|_, _| {});
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let mut b = grid.clone();
        pool.install(|| sort(&mut b, &opts, &|_, _| {}));
        assert_eq!(a, b);
        let mut c = grid.clone();
        sort(&mut c, &PlasOptions { seed: 5, ..opts }, &|_, _| {});
        assert_ne!(a.ids, c.ids);
    }

    #[test]
    fn rectangular_grids_are_sorted_too() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(4);
        let (w, h) = (50, 37);
        let keys: Vec<u16> = (0..w * h).map(|i| ((i * 997) % 1024) as u16).collect();
        let mut ids: Vec<u32> = (0..(w * h) as u32).collect();
        ids.shuffle(&mut rng);
        let mut grid = Grid::new(w, h, 1, &keys, &ids);
        let before = grid.neighbour_distance();
        sort(&mut grid, &PlasOptions::default(), &|_, _| {});
        assert!(grid.neighbour_distance() < 0.3 * before);
    }

    #[test]
    fn blur_matches_a_direct_box_average() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        let (w, h) = (13, 9);
        let keys: Vec<u16> = (0..w * h * 2)
            .map(|_| rng.random_range(0..=KEY_MAX))
            .collect();
        let ids: Vec<u32> = (0..(w * h) as u32).collect();
        let grid = Grid::new(w, h, 2, &keys, &ids);
        let (fx, fy) = (5, 7);
        let got = blur(&grid, fx, fy);
        let reflect = |y: i64| -> usize {
            let y = y.abs();
            (if y >= h as i64 {
                2 * (h as i64 - 1) - y
            } else {
                y
            }) as usize
        };
        for y in 0..h {
            for x in 0..w {
                for ch in 0..2 {
                    let mut s = 0u32;
                    for dy in -(fy as i64 / 2)..=fy as i64 / 2 {
                        let yy = reflect(y as i64 + dy);
                        let mut r = 0u32;
                        for dx in -(fx as i64 / 2)..=fx as i64 / 2 {
                            let xx = (x as i64 + dx).rem_euclid(w as i64) as usize;
                            r += u32::from(keys[(yy * w + xx) * 2 + ch]);
                        }
                        s += (r + fx as u32 / 2) / fx as u32;
                    }
                    let want = ((s + fy as u32 / 2) / fy as u32) as u16;
                    assert_eq!(got[(y * w + x) * 2 + ch], want, "({x},{y},{ch})");
                }
            }
        }
    }

    #[test]
    fn radius_schedule_follows_the_paper() {
        let r = radius_schedule(512, 512, 1);
        assert_eq!(r[0], 255);
        assert_eq!(*r.last().unwrap(), 1);
        assert!(r.windows(2).all(|w| w[1] <= w[0]));
        assert!((100..140).contains(&r.len()), "{}", r.len());
    }
}

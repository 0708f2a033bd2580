//! Pictures of a training run: `curves.png` (training loss and test PSNR against the step) and
//! `test_views.png` (ground truth beside the render for a few test views).
//!
//! Drawn by hand into an `image` buffer with a 3×5 pixel font for the labels: a plotting crate
//! would bring a font stack and system font lookup for two line charts.

use image::{Rgb, RgbImage};
use std::path::Path;

const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
const AXIS: Rgb<u8> = Rgb([90, 90, 90]);
const TEXT: Rgb<u8> = Rgb([40, 40, 40]);
const LOSS: Rgb<u8> = Rgb([31, 119, 180]);
const PSNR: Rgb<u8> = Rgb([214, 39, 40]);

/// 3×5 glyphs, one row per string, `#` set.
fn glyph(c: char) -> [&'static str; 5] {
    match c.to_ascii_uppercase() {
        '0' => ["###", "#.#", "#.#", "#.#", "###"],
        '1' => [".#.", "##.", ".#.", ".#.", "###"],
        '2' => ["###", "..#", "###", "#..", "###"],
        '3' => ["###", "..#", "###", "..#", "###"],
        '4' => ["#.#", "#.#", "###", "..#", "..#"],
        '5' => ["###", "#..", "###", "..#", "###"],
        '6' => ["###", "#..", "###", "#.#", "###"],
        '7' => ["###", "..#", "..#", "..#", "..#"],
        '8' => ["###", "#.#", "###", "#.#", "###"],
        '9' => ["###", "#.#", "###", "..#", "###"],
        '.' => ["...", "...", "...", "...", ".#."],
        '-' => ["...", "...", "###", "...", "..."],
        'B' => ["##.", "#.#", "##.", "#.#", "##."],
        'D' => ["##.", "#.#", "#.#", "#.#", "##."],
        'E' => ["###", "#..", "##.", "#..", "###"],
        'K' => ["#.#", "#.#", "##.", "#.#", "#.#"],
        'L' => ["#..", "#..", "#..", "#..", "###"],
        'N' => ["#.#", "###", "###", "###", "#.#"],
        'O' => ["###", "#.#", "#.#", "#.#", "###"],
        'P' => ["###", "#.#", "###", "#..", "#.."],
        'R' => ["##.", "#.#", "##.", "#.#", "#.#"],
        'S' => ["###", "#..", "###", "..#", "###"],
        'T' => ["###", ".#.", ".#.", ".#.", ".#."],
        _ => ["...", "...", "...", "...", "..."],
    }
}

const SCALE: u32 = 2;

fn text_width(s: &str) -> u32 {
    s.chars().count() as u32 * 4 * SCALE
}

fn draw_text(img: &mut RgbImage, x: i64, y: i64, s: &str, colour: Rgb<u8>) {
    for (k, c) in s.chars().enumerate() {
        for (row, bits) in glyph(c).iter().enumerate() {
            for (col, b) in bits.bytes().enumerate() {
                if b != b'#' {
                    continue;
                }
                for dy in 0..SCALE {
                    for dx in 0..SCALE {
                        let px = x + i64::from(k as u32 * 4 * SCALE + col as u32 * SCALE + dx);
                        let py = y + i64::from(row as u32 * SCALE + dy);
                        put(img, px, py, colour);
                    }
                }
            }
        }
    }
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: Rgb<u8>) {
    let n = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
    for i in 0..=n {
        let t = i as f64 / n as f64;
        let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
        for (dx, dy) in [(0, 0), (1, 0), (0, 1)] {
            put(img, x.round() as i64 + dx, y.round() as i64 + dy, c);
        }
    }
}

/// A short label for an axis value.
fn label(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        format!("{:.0}K", v / 1000.0)
    } else if v.abs() >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// One chart panel of `series` (step, value) in `colour` at (`left`, `top`).
fn panel(
    img: &mut RgbImage,
    (left, top, w, h): (f64, f64, f64, f64),
    title: &str,
    series: &[(u32, f64)],
    max_step: u32,
    colour: Rgb<u8>,
) {
    draw_text(img, left as i64, (top - 16.0) as i64, title, colour);
    let finite: Vec<(u32, f64)> = series
        .iter()
        .copied()
        .filter(|(_, v)| v.is_finite())
        .collect();
    let (mut lo, mut hi) = finite
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &(_, v)| (a.min(v), b.max(v)));
    if finite.is_empty() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    let (lo, hi) = (lo - pad, hi + pad);
    let sx = |s: u32| left + w * f64::from(s) / f64::from(max_step.max(1));
    let sy = |v: f64| top + h * (1.0 - (v - lo) / (hi - lo));
    for k in 0..=4 {
        let v = lo + (hi - lo) * f64::from(k) / 4.0;
        let y = sy(v);
        line(img, (left, y), (left + w, y), GRID);
        let l = label(v);
        draw_text(
            img,
            (left - 6.0) as i64 - i64::from(text_width(&l)),
            y as i64 - 5,
            &l,
            TEXT,
        );
        let s = (f64::from(max_step) * f64::from(k) / 4.0).round() as u32;
        let x = sx(s);
        line(img, (x, top), (x, top + h), GRID);
        let l = label(f64::from(s));
        draw_text(
            img,
            x as i64 - i64::from(text_width(&l)) / 2,
            (top + h + 8.0) as i64,
            &l,
            TEXT,
        );
    }
    line(img, (left, top + h), (left + w, top + h), AXIS);
    line(img, (left, top), (left, top + h), AXIS);
    for pair in finite.windows(2) {
        line(
            img,
            (sx(pair[0].0), sy(pair[0].1)),
            (sx(pair[1].0), sy(pair[1].1)),
            colour,
        );
    }
    if let [(s, v)] = finite[..] {
        line(img, (sx(s) - 2.0, sy(v)), (sx(s) + 2.0, sy(v)), colour);
    }
}

/// The loss and test-PSNR curves, one panel each, side by side.
pub fn curves(losses: &[(u32, f64)], psnrs: &[(u32, f64)], max_step: u32) -> RgbImage {
    let mut img = RgbImage::from_pixel(1000, 400, WHITE);
    panel(
        &mut img,
        (80.0, 40.0, 380.0, 300.0),
        "LOSS",
        losses,
        max_step,
        LOSS,
    );
    panel(
        &mut img,
        (580.0, 40.0, 380.0, 300.0),
        "TEST PSNR DB",
        psnrs,
        max_step,
        PSNR,
    );
    draw_text(&mut img, 470, 372, "STEP", TEXT);
    img
}

fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// One view of the comparison grid.
pub struct GridRow {
    pub width: u32,
    pub height: u32,
    pub truth: Vec<[f32; 3]>,
    /// RGB + alpha, as the rasterizer writes it.
    pub render: Vec<[f32; 4]>,
}

/// Ground truth (left) beside the render (right), one row per view; 4-pixel white gutters.
pub fn comparison_grid(rows: &[GridRow]) -> RgbImage {
    let gap = 4;
    let width = rows
        .iter()
        .map(|r| 2 * r.width + 3 * gap)
        .max()
        .unwrap_or(1);
    let height = rows.iter().map(|r| r.height + gap).sum::<u32>() + gap;
    let mut img = RgbImage::from_pixel(width, height, WHITE);
    let mut top = gap;
    for GridRow {
        width: w,
        height: h,
        truth,
        render,
    } in rows
    {
        for y in 0..*h {
            for x in 0..*w {
                let i = (y * w + x) as usize;
                img.put_pixel(gap + x, top + y, Rgb(truth[i].map(to_u8)));
                let r = render[i];
                img.put_pixel(2 * gap + w + x, top + y, Rgb([r[0], r[1], r[2]].map(to_u8)));
            }
        }
        top += h + gap;
    }
    img
}

/// Saves a picture atomically.
pub fn save(path: &Path, img: RgbImage) -> anyhow::Result<()> {
    splat_scene::images::save(path, &image::DynamicImage::ImageRgb8(img))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_draw_each_series_in_its_colour_and_its_panel() {
        let loss: Vec<(u32, f64)> = (0..=10)
            .map(|i| (i * 100, 1.0 / f64::from(i + 1)))
            .collect();
        let psnr = vec![(500, 20.0), (1000, 25.0)];
        let img = curves(&loss, &psnr, 1000);
        let count = |c: Rgb<u8>, x0: u32, x1: u32| {
            (x0..x1)
                .flat_map(|x| (0..img.height()).map(move |y| (x, y)))
                .filter(|&(x, y)| *img.get_pixel(x, y) == c)
                .count()
        };
        assert!(count(LOSS, 80, 470) > 300);
        assert_eq!(count(LOSS, 500, 1000), 0);
        assert!(count(PSNR, 580, 970) > 300);
        // The loss falls: its curve starts high on the left and ends low on the right.
        let lowest_row = |x0: u32, x1: u32| {
            (0..img.height())
                .filter(|&y| (x0..x1).any(|x| *img.get_pixel(x, y) == LOSS))
                .max()
                .unwrap()
        };
        assert!(lowest_row(85, 100) < lowest_row(440, 462));
    }

    #[test]
    fn the_grid_puts_truth_left_and_render_right() {
        let truth = vec![[1.0, 0.0, 0.0]; 6];
        let render = vec![[0.0, 0.0, 1.0, 1.0]; 6];
        let img = comparison_grid(&[GridRow {
            width: 3,
            height: 2,
            truth,
            render,
        }]);
        assert_eq!(img.dimensions(), (3 * 2 + 12, 2 + 8));
        assert_eq!(*img.get_pixel(4, 4), Rgb([255, 0, 0]));
        assert_eq!(*img.get_pixel(3 + 8, 4), Rgb([0, 0, 255]));
        assert_eq!(*img.get_pixel(0, 0), WHITE);
    }
}

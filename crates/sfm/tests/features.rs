//! SIFT features are invariant, within tolerance, to rotating and scaling an image: a rotated
//! and shrunk copy of a built-in view matches the original through the known transform, with
//! keypoint orientations and scales that follow it.

use nalgebra::{Matrix2, Vector2};
use splat_datasets::render_view;
use splat_sfm::features::{SiftOptions, extract};
use splat_sfm::gray::GrayImage;
use splat_sfm::matching::{DescriptorMatrix, MatchOptions, match_descriptors};

mod support;

fn view() -> GrayImage {
    let scene = support::orbit(640, 480);
    let im = scene.reconstruction.images.values().next().unwrap();
    GrayImage::from_rgb8(&render_view(
        &scene.world,
        &scene.reconstruction.cameras[&1],
        im,
        2,
    ))
}

/// `dst(p) = src(A⁻¹·(p − c₂) + c₁)` with bilinear sampling (0 outside), in continuous pixel
/// coordinates (pixel centres at +0.5).
fn warp(src: &GrayImage, a: &Matrix2<f64>, width: usize, height: usize) -> GrayImage {
    let ai = a.try_inverse().unwrap();
    let c1 = Vector2::new(src.width as f64 / 2.0, src.height as f64 / 2.0);
    let c2 = Vector2::new(width as f64 / 2.0, height as f64 / 2.0);
    let mut out = GrayImage::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let p = ai * (Vector2::new(x as f64 + 0.5, y as f64 + 0.5) - c2) + c1;
            let (fx, fy) = (p.x - 0.5, p.y - 0.5);
            let (x0, y0) = (fx.floor(), fy.floor());
            if x0 < 0.0 || y0 < 0.0 || x0 + 1.0 >= src.width as f64 || y0 + 1.0 >= src.height as f64
            {
                continue;
            }
            let (tx, ty) = ((fx - x0) as f32, (fy - y0) as f32);
            let (x0, y0) = (x0 as usize, y0 as usize);
            let top = src.at(x0, y0) * (1.0 - tx) + src.at(x0 + 1, y0) * tx;
            let bottom = src.at(x0, y0 + 1) * (1.0 - tx) + src.at(x0 + 1, y0 + 1) * tx;
            out.data[y * width + x] = top * (1.0 - ty) + bottom * ty;
        }
    }
    out
}

#[test]
fn a_rotated_and_scaled_copy_matches_through_the_known_transform() {
    let img = view();
    let (angle, scale) = (30f64.to_radians(), 0.75);
    let a = Matrix2::new(angle.cos(), -angle.sin(), angle.sin(), angle.cos()) * scale;
    let warped = warp(&img, &a, 560, 480);
    let opts = SiftOptions::default();
    let (f1, f2) = (extract(&img, &opts), extract(&warped, &opts));
    let matches = match_descriptors(
        &DescriptorMatrix::new(&f1.descriptors),
        &DescriptorMatrix::new(&f2.descriptors),
        &MatchOptions::default(),
    );
    let c1 = Vector2::new(img.width as f64 / 2.0, img.height as f64 / 2.0);
    let c2 = Vector2::new(280.0, 240.0);
    let mut good = 0;
    let mut angle_errors = Vec::new();
    let mut scale_ratios = Vec::new();
    for m in &matches {
        let (k1, k2) = (&f1.keypoints[m[0] as usize], &f2.keypoints[m[1] as usize]);
        let expected = a * (Vector2::new(f64::from(k1.x), f64::from(k1.y)) - c1) + c2;
        if (expected - Vector2::new(f64::from(k2.x), f64::from(k2.y))).norm() < 2.0 {
            good += 1;
            let d = (f64::from(k2.orientation) - f64::from(k1.orientation) - angle)
                .rem_euclid(std::f64::consts::TAU);
            angle_errors.push(d.min(std::f64::consts::TAU - d).to_degrees());
            scale_ratios.push(f64::from(k2.scale) / f64::from(k1.scale));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let precision = f64::from(good) / matches.len() as f64;
    let (angle_err, ratio) = (median(&mut angle_errors), median(&mut scale_ratios));
    eprintln!(
        "{} and {} features, {} matches, {good} through the transform ({:.1} %); median orientation error {angle_err:.2}°, median scale ratio {ratio:.3} (true {scale})",
        f1.len(),
        f2.len(),
        matches.len(),
        100.0 * precision
    );
    assert!(good >= 150, "too few correct matches");
    assert!(precision > 0.9);
    assert!(angle_err < 3.0);
    assert!((ratio - scale).abs() < 0.05 * scale);
}

#[test]
fn extraction_is_deterministic() {
    let img = view();
    let opts = SiftOptions {
        max_features: 500,
        ..SiftOptions::default()
    };
    let (a, b) = (extract(&img, &opts), extract(&img, &opts));
    assert_eq!(a, b);
    // At most 500 locations, each with at most two orientations, strongest kept.
    let mut locations: Vec<(u32, u32)> = a
        .keypoints
        .iter()
        .map(|k| (k.x.to_bits(), k.y.to_bits()))
        .collect();
    locations.dedup();
    assert!(
        locations.len() <= 500 && a.len() <= 1000 && a.len() >= 400,
        "{} features",
        a.len()
    );
}

//! The WGSL backward pass against the f64 reference's analytic gradients (relative L2 error per
//! parameter kind under 1e-3), and bitwise determinism across runs, for every tile-reduction
//! kernel the device runs (subgroup sums and the portable per-key sums; lavapipe runs both).

mod common;

use common::{photo, rasterizer, scene, view};
use rand::{Rng, SeedableRng};
use splat_test_support::gpu::context;
use splat_train::reference;
use splat_train::{
    Gaussians32, GpuGaussians, Grads32, Rasterizer, TileBounds, TileReduction, View,
};
use std::sync::OnceLock;

/// One rasterizer per tile-reduction kernel this device supports.
fn rasterizers() -> &'static [Rasterizer] {
    static R: OnceLock<Vec<Rasterizer>> = OnceLock::new();
    R.get_or_init(|| {
        let ctx = context();
        let mut kinds = vec![TileReduction::Portable];
        if TileReduction::best(ctx) == TileReduction::Subgroup {
            kinds.push(TileReduction::Subgroup);
        }
        kinds
            .into_iter()
            .map(|k| Rasterizer::with_reduction(ctx, k).expect("rasterizer kernels"))
            .collect()
    })
}

#[test]
fn subgroup_kernel_is_chosen_where_the_device_has_subgroups() {
    let ctx = context();
    let best = TileReduction::best(ctx);
    match ctx.subgroups() {
        Some((min, _)) if min >= 8 => assert_eq!(best, TileReduction::Subgroup),
        _ => assert_eq!(best, TileReduction::Portable),
    }
    assert_eq!(Rasterizer::new(ctx).expect("kernels").reduction(), best);
}

/// Random dL/d(rgb, alpha) per pixel.
fn loss_weights(v: &View, seed: u64) -> Vec<[f32; 4]> {
    let mut r = rand_pcg::Pcg64::seed_from_u64(seed);
    (0..v.width * v.height)
        .map(|_| {
            [
                r.random_range(-1.0..1.0),
                r.random_range(-1.0..1.0),
                r.random_range(-1.0..1.0),
                r.random_range(-1.0..1.0),
            ]
        })
        .collect()
}

fn gpu_grads(r: &Rasterizer, g: &Gaussians32, v: &View, w: &[[f32; 4]]) -> Grads32 {
    let ctx = context();
    let gg = GpuGaussians::upload(ctx, g).expect("upload");
    let frame = r.forward(ctx, &gg, v).expect("forward");
    let d = splat_gpu::storage_buffer(ctx, "d_image", w);
    r.backward(ctx, &gg, &frame, &d)
        .expect("backward")
        .read(ctx)
        .expect("read")
}

fn rel_err(gpu: impl Iterator<Item = f32>, cpu: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut e, mut r) = (0.0, 0.0);
    for (a, b) in gpu.zip(cpu) {
        e += (f64::from(a) - b).powi(2);
        r += b * b;
    }
    ((e / r.max(1e-300)).sqrt(), r.sqrt())
}

fn check(g: &Gaussians32, v: &View, seed: u64, what: &str) {
    for r in rasterizers() {
        check_with(
            r,
            g,
            v,
            seed,
            &format!("{what} ({:?} tile sums)", r.reduction()),
        );
    }
}

fn check_with(r: &Rasterizer, g: &Gaussians32, v: &View, seed: u64, what: &str) {
    let w = loss_weights(v, seed);
    let got = gpu_grads(r, g, v, &w);
    let gr = reference::Gaussians::from_f32(g);
    let render = reference::forward(&gr, v);
    let d_img: Vec<[f64; 3]> = w
        .iter()
        .map(|p| [p[0], p[1], p[2]].map(f64::from))
        .collect();
    let d_alpha: Vec<f64> = w.iter().map(|p| f64::from(p[3])).collect();
    let want = reference::backward(&gr, v, &render, &d_img, &d_alpha);
    let kinds: [(&str, (f64, f64)); 6] = [
        (
            "means",
            rel_err(
                got.means.iter().flatten().copied(),
                want.means.iter().flatten().copied(),
            ),
        ),
        (
            "log_scales",
            rel_err(
                got.log_scales.iter().flatten().copied(),
                want.log_scales.iter().flatten().copied(),
            ),
        ),
        (
            "quats",
            rel_err(
                got.quats.iter().flatten().copied(),
                want.quats.iter().flatten().copied(),
            ),
        ),
        (
            "opacities",
            rel_err(
                got.opacities.iter().copied(),
                want.opacities.iter().copied(),
            ),
        ),
        (
            "sh",
            rel_err(got.sh.iter().copied(), want.sh.iter().copied()),
        ),
        (
            "mean2d",
            rel_err(
                got.mean2d.iter().flatten().copied(),
                want.mean2d.iter().flatten().copied(),
            ),
        ),
    ];
    for (kind, (rel, norm)) in kinds {
        assert!(
            norm > 0.0,
            "{what}: the reference gradient of {kind} is zero"
        );
        assert!(
            rel < 1e-3,
            "{what}: {kind} relative L2 error {rel:e} (reference norm {norm:e})"
        );
    }
}

#[test]
fn gradients_match_the_reference_at_every_sh_degree() {
    for degree in 0..=3 {
        let v = view(77, 53, [0.2, 0.6, 0.9]);
        let g = scene(&v, 250, degree, 40 + u64::from(degree));
        check(&g, &v, 7 + u64::from(degree), &format!("degree {degree}"));
    }
}

#[test]
fn gradients_match_in_a_dense_scene_with_early_termination() {
    let v = view(48, 40, [1.0, 1.0, 1.0]);
    let mut g = scene(&v, 1200, 1, 9);
    for o in &mut g.opacities {
        *o = o.abs() + 1.5;
    }
    check(&g, &v, 3, "dense");
}

#[test]
fn two_runs_give_bitwise_identical_gradients() {
    let v = view(64, 48, [0.0; 3]);
    let g = scene(&v, 600, 3, 21);
    let w = loss_weights(&v, 5);
    for r in rasterizers() {
        let a = gpu_grads(r, &g, &v, &w);
        let b = gpu_grads(r, &g, &v, &w);
        assert!(
            bits(&a) == bits(&b),
            "two {:?} backward passes differ",
            r.reduction()
        );
        assert!(a.means.iter().flatten().any(|v| *v != 0.0));
    }
}

fn values(x: &Grads32) -> Vec<f32> {
    x.means
        .iter()
        .flatten()
        .chain(x.log_scales.iter().flatten())
        .chain(x.quats.iter().flatten())
        .chain(&x.opacities)
        .chain(&x.sh)
        .chain(x.mean2d.iter().flatten())
        .copied()
        .collect()
}

fn bits(x: &Grads32) -> Vec<u32> {
    values(x).into_iter().map(f32::to_bits).collect()
}

#[test]
fn active_sh_degree_renders_and_differentiates_the_truncated_model() {
    let ctx = context();
    let v = view(40, 30, [0.3; 3]);
    let full = scene(&v, 150, 3, 31);
    let mut truncated = full.clone();
    truncated.sh_degree = 1;
    truncated.sh = full
        .sh
        .chunks_exact(48)
        .flat_map(|c| c[..12].to_vec())
        .collect();
    let w = loss_weights(&v, 9);
    let d = splat_gpu::storage_buffer(ctx, "d_image", &w);

    let mut g = GpuGaussians::upload(ctx, &full).unwrap();
    g.set_active_sh_degree(1);
    let frame = rasterizer().forward(ctx, &g, &v).unwrap();
    let grads = rasterizer()
        .backward(ctx, &g, &frame, &d)
        .unwrap()
        .read(ctx)
        .unwrap();

    let t = GpuGaussians::upload(ctx, &truncated).unwrap();
    let tframe = rasterizer().forward(ctx, &t, &v).unwrap();
    let tgrads = rasterizer()
        .backward(ctx, &t, &tframe, &d)
        .unwrap()
        .read(ctx)
        .unwrap();

    assert_eq!(
        frame.read(ctx).unwrap().color,
        tframe.read(ctx).unwrap().color
    );
    assert_eq!(grads.means, tgrads.means);
    for i in 0..g.count as usize {
        assert_eq!(
            &grads.sh[i * 48..i * 48 + 12],
            &tgrads.sh[i * 12..i * 12 + 12]
        );
        assert!(
            grads.sh[i * 48 + 12..(i + 1) * 48]
                .iter()
                .all(|&x| x == 0.0)
        );
    }
}

#[test]
fn reused_gradient_and_loss_buffers_give_the_same_results_as_fresh_ones() {
    let ctx = context();
    let r = rasterizer();
    let loss = splat_train::PhotometricLoss::new(ctx).expect("loss kernels");
    let (big, small) = (view(64, 48, [0.1; 3]), view(32, 24, [0.9; 3]));
    let ga = GpuGaussians::upload(ctx, &scene(&big, 500, 2, 71)).unwrap();
    let gb = GpuGaussians::upload(ctx, &scene(&small, 60, 1, 72)).unwrap();
    let (mut frame, mut eval, mut grads) = (
        splat_train::Frame::empty(ctx),
        splat_train::LossEval::empty(ctx),
        splat_train::GpuGrads::empty(ctx),
    );
    let target = |v: &View| {
        photo(
            loss_weights(v, 3)
                .iter()
                .map(|p| [0, 1, 2].map(|c| f64::from(p[c].abs()))),
        )
        .0
    };
    // Big, small (stale key gradients past the end must not leak), big again.
    for (g, v) in [(&ga, &big), (&gb, &small), (&ga, &big)] {
        let t = target(v);
        r.forward_into(ctx, g, v, &mut frame).unwrap();
        loss.evaluate_into(
            ctx,
            &frame.out_color,
            &t,
            (v.width, v.height),
            0.2,
            &mut eval,
        )
        .unwrap();
        r.backward_into(ctx, g, &frame, &eval.d_image, &mut grads)
            .unwrap();
        let reused = grads.read(ctx).unwrap();
        let fresh_frame = r.forward(ctx, g, v).unwrap();
        let fresh_eval = loss
            .evaluate(ctx, &fresh_frame.out_color, &t, v.width, v.height, 0.2)
            .unwrap();
        let fresh = r
            .backward(ctx, g, &fresh_frame, &fresh_eval.d_image)
            .unwrap()
            .read(ctx)
            .unwrap();
        assert_eq!(eval.terms(ctx).unwrap(), fresh_eval.terms(ctx).unwrap());
        assert!(reused == fresh, "reused buffers changed the gradients");
    }
}

/// A frame no Gaussian lands on (all behind the camera) has no keys; its gradients are zero,
/// not an error about an empty binding.
#[test]
fn a_frame_without_keys_has_zero_gradients() {
    let v = view(40, 30, [0.3; 3]);
    let mut g = scene(&v, 20, 1, 8);
    let behind = v.rotation.transpose() * (nalgebra::Vector3::new(0.0, 0.0, -2.0) - v.translation);
    for m in g.means.chunks_mut(3) {
        m.copy_from_slice(&[behind.x as f32, behind.y as f32, behind.z as f32]);
    }
    for r in rasterizers() {
        let ctx = context();
        let gg = GpuGaussians::upload(ctx, &g).expect("upload");
        let frame = r.forward(ctx, &gg, &v).expect("forward");
        assert_eq!(frame.keys, 0);
        let d = splat_gpu::storage_buffer(ctx, "d_image", &loss_weights(&v, 3));
        let grads = r
            .backward(ctx, &gg, &frame, &d)
            .expect("backward of an empty frame")
            .read(ctx)
            .expect("read");
        assert!(grads.means.iter().flatten().all(|&x| x == 0.0));
        assert!(grads.opacities.iter().all(|&x| x == 0.0));
        assert!(grads.sh.iter().all(|&x| x == 0.0));
    }
}

/// The blending weight each Gaussian paints (Σ αT over the pixels, what compaction ranks by),
/// summed over two views, against the f64 reference, with every tile-reduction kernel; dense
/// enough that pixels terminate early and many Gaussians paint nothing.
#[test]
fn blend_weights_match_the_reference_summed_over_views() {
    let ctx = context();
    let v1 = view(61, 47, [0.0; 3]);
    let mut v2 = view(61, 47, [0.0; 3]);
    v2.translation.x += 0.05;
    let g = scene(&v1, 900, 2, 77);
    let reference_g = reference::Gaussians::from_f32(&g);
    let want: Vec<f64> = reference::blend_weights(&reference_g, &v1)
        .iter()
        .zip(reference::blend_weights(&reference_g, &v2))
        .map(|(a, b)| a + b)
        .collect();
    let painting = want.iter().filter(|&&w| w > 1e-3).count();
    assert!(
        painting > 50 && painting < g.len(),
        "a scene where some Gaussians paint and some do not: {painting} of {}",
        g.len()
    );
    for r in rasterizers() {
        let gg = GpuGaussians::upload(ctx, &g).expect("upload");
        let weights = splat_gpu::storage_buffer_zeroed(ctx, "weights", g.len() as u64 * 4);
        let mut grads = splat_train::GpuGrads::empty(ctx);
        for v in [&v1, &v2] {
            let frame = r.forward(ctx, &gg, v).expect("forward");
            let ones = vec![[1.0f32, 0.0, 0.0, 0.0]; (v.width * v.height) as usize];
            let ones = splat_gpu::storage_buffer(ctx, "ones", &ones);
            r.accumulate_weights(ctx, &gg, &frame, &ones, &mut grads, &weights)
                .expect("weights");
        }
        let got: Vec<f32> = splat_gpu::readback(ctx, &weights, g.len()).expect("read");
        let (err, norm) = rel_err(got.iter().copied(), want.iter().copied());
        assert!(norm > 1.0, "weights too small to test: {norm}");
        assert!(
            err < 1e-4,
            "{:?}: blend weights' relative L2 error {err:e}",
            r.reduction()
        );
        // Every pixel's weights sum to its alpha: the totals agree with the image's coverage.
        let total: f64 = got.iter().map(|&w| f64::from(w)).sum();
        let want_total: f64 = want.iter().sum();
        assert!((total - want_total).abs() < 1e-3 * want_total);
    }
}

/// Opacity-aware tile bounds drop keys, not contributions: against the 3σ bounds, the same image
/// and depth and the same gradients, bit for bit, from far fewer keys, on a scene with faint
/// (some below 1/255 everywhere), elongated and huge Gaussians, for every tile-reduction kernel.
#[test]
fn opacity_aware_bounds_give_the_same_frame_and_gradients_from_fewer_keys() {
    let ctx = context();
    let v = view(96, 80, [0.2, 0.4, 0.6]);
    let mut g = scene(&v, 3000, 2, 41);
    let mut r = rand_pcg::Pcg64::seed_from_u64(42);
    for (i, o) in g.opacities.iter_mut().enumerate() {
        if i % 4 == 0 {
            // σ(−8) ≈ 0.0003 to σ(−3) ≈ 0.047: either side of the blend's 1/255.
            *o = r.random_range(-8.0..-3.0);
        } else if i % 4 == 1 {
            // Opaque and a pixel or two across, the box's edges anywhere in a tile.
            *o = r.random_range(2.0..6.0);
            g.log_scales[3 * i..3 * i + 3].fill(r.random_range(-5.5..-4.0));
        }
    }
    let w = loss_weights(&v, 43);
    let gg = GpuGaussians::upload(ctx, &g).expect("upload");
    for reduction in rasterizers().iter().map(Rasterizer::reduction) {
        let run = |bounds: TileBounds| {
            let r = Rasterizer::with_reduction(ctx, reduction)
                .expect("rasterizer kernels")
                .with_bounds(bounds);
            assert_eq!(r.bounds(), bounds);
            (
                r.render(ctx, &gg, &v).expect("render"),
                gpu_grads(&r, &g, &v, &w),
            )
        };
        let (wide, wide_grads) = run(TileBounds::ThreeSigma);
        let (tight, tight_grads) = run(TileBounds::OpacityAware);
        let pixel_bits = |f: &splat_train::RenderOutput| {
            f.color
                .iter()
                .flatten()
                .chain(&f.depth)
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
        };
        assert!(
            pixel_bits(&tight) == pixel_bits(&wide),
            "{reduction:?}: the frames differ"
        );
        // Equal as numbers (a Gaussian that gets no key has +0 where a product with its
        // zero sums gave −0).
        let (a, b) = (values(&tight_grads), values(&wide_grads));
        let first = a.iter().zip(&b).position(|(x, y)| x != y);
        assert!(
            first.is_none(),
            "{reduction:?}: the gradients differ, first at {first:?}: {:?}",
            first.map(|i| (a[i], b[i]))
        );
        assert!(
            f64::from(tight.keys) < 0.7 * f64::from(wide.keys),
            "{reduction:?}: {} keys with opacity-aware bounds, {} with 3σ",
            tight.keys,
            wide.keys
        );
        eprintln!(
            "{reduction:?}: {} keys instead of {}",
            tight.keys, wide.keys
        );
    }
}

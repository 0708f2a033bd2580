//! Adaptive density control on the GPU against a plain-Rust reference: the accumulated
//! screen-space statistics, the clone / split / prune decisions with the arrays and Adam moments
//! they produce (split positions from an independent copy of the hash generator), and the
//! opacity reset.

mod common;

use common::{rasterizer, rotation, scene, view};
use nalgebra::{Matrix3, Vector3};
use rand::{Rng, SeedableRng};
use splat_test_support::gpu::context;
use splat_train::{AdamState, Densifier, DensifyRule, Gaussians32, GpuGaussians};

fn pcg(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

fn unit(h: u32) -> f64 {
    f64::from((h >> 8) + 1) / 16_777_216.0
}

/// The standard normals the kernel draws for copy `c` of Gaussian `i`.
fn normals(seed: u32, step: u32, i: u32, c: u32) -> Vector3<f64> {
    let key = pcg(pcg(pcg(i) ^ c.wrapping_mul(0x9e37_79b9).wrapping_add(step)) ^ seed);
    let r0 = (-2.0 * unit(pcg(key)).ln()).sqrt();
    let t0 = std::f64::consts::TAU * unit(pcg(key.wrapping_add(1)));
    let r1 = (-2.0 * unit(pcg(key.wrapping_add(2))).ln()).sqrt();
    let t1 = std::f64::consts::TAU * unit(pcg(key.wrapping_add(3)));
    Vector3::new(r0 * t0.cos(), r0 * t0.sin(), r1 * t1.cos())
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

#[test]
fn accumulated_statistics_match_the_gradients_of_each_view() {
    let ctx = context();
    let v = view(64, 48, [0.0; 3]);
    let g = scene(&v, 400, 1, 11);
    let gg = GpuGaussians::upload(ctx, &g).unwrap();
    let frame = rasterizer().forward(ctx, &gg, &v).unwrap();
    let mut r = rand_pcg::Pcg64::seed_from_u64(3);
    let w: Vec<[f32; 4]> = (0..64 * 48)
        .map(|_| [0; 4].map(|_| r.random_range(-1.0..1.0)))
        .collect();
    let d = splat_gpu::storage_buffer(ctx, "d_image", &w);
    let grads = rasterizer().backward(ctx, &gg, &frame, &d).unwrap();
    let host = grads.read(ctx).unwrap();
    let rects: Vec<[u32; 4]> = splat_gpu::readback(ctx, frame.tile_rects(), g.len()).unwrap();
    let xy: Vec<[f32; 4]> = splat_gpu::readback(ctx, frame.xy_depth_radius(), g.len()).unwrap();

    let densifier = Densifier::new(ctx, g.len() as u32).expect("densify kernels");
    let mut enc = ctx.encoder("test");
    densifier.accumulate(ctx, &mut enc, &frame, &grads);
    densifier.accumulate(ctx, &mut enc, &frame, &grads);
    ctx.queue.submit([enc.finish()]);
    let stats = densifier.stats(ctx).unwrap();
    let mut seen = 0;
    for i in 0..g.len() {
        let visible = rects[i][2] > rects[i][0] && rects[i][3] > rects[i][1];
        let [gx, gy] = host.mean2d[i].map(f64::from);
        let norm = (gx * 32.0).hypot(gy * 24.0);
        let want = if visible {
            seen += 1;
            [2.0 * norm, 2.0, f64::from(xy[i][3])]
        } else {
            [0.0; 3]
        };
        for k in 0..3 {
            let got = f64::from(stats[i][k]);
            assert!(
                (got - want[k]).abs() <= 1e-5 * (1.0 + want[k].abs()),
                "Gaussian {i} stat {k}: {got} vs {}",
                want[k]
            );
        }
    }
    assert!(seen > 100 && seen < g.len(), "{seen} visible");
}

/// Moves values off a threshold so that f32 and f64 decide alike.
fn off_edge(x: f64, edge: f64) -> f64 {
    if (x - edge).abs() < 0.05 {
        edge + 0.1
    } else {
        x
    }
}

/// A reference densification of `g` (f64) with the given stats and moments.
struct Expected {
    g: Gaussians32,
    moments: Vec<Vec<f32>>,
    tally: [u32; 4],
    actions: Vec<usize>,
}

fn rotation_and_log_scale(g: &Gaussians32, i: usize) -> (Matrix3<f64>, Vec<f64>) {
    let rot = rotation(&g.quats[4 * i..4 * i + 4]);
    let ls = g.log_scales[3 * i..3 * i + 3]
        .iter()
        .map(|&x| f64::from(x))
        .collect();
    (rot, ls)
}

fn reference(
    g: &Gaussians32,
    stats: &[[f32; 4]],
    moments: &[Vec<f32>],
    dims: &[usize],
    rule: &DensifyRule,
) -> Expected {
    let k = splat_train::sh::coeff_count(g.sh_degree) * 3;
    let mut out = Gaussians32 {
        sh_degree: g.sh_degree,
        means: vec![],
        log_scales: vec![],
        quats: vec![],
        opacities: vec![],
        sh: vec![],
    };
    let mut new_moments = vec![Vec::new(); moments.len()];
    let mut tally = [0u32; 4];
    let mut actions = Vec::new();
    for i in 0..g.len() {
        let s = stats[i];
        let grad = if s[1] > 0.0 {
            f64::from(s[0]) / f64::from(s[1])
        } else {
            0.0
        };
        let (rot, ls) = rotation_and_log_scale(g, i);
        let scale = ls.iter().copied().fold(f64::MIN, f64::max).exp();
        let mut action = 1;
        if grad >= f64::from(rule.grad_threshold) {
            action = if scale <= f64::from(rule.clone_max_scale) {
                2
            } else {
                3
            };
        }
        let kept_scale = if action == 3 { scale / 1.6 } else { scale };
        if f64::from(g.opacities[i]) < logit(f64::from(rule.min_opacity))
            || kept_scale > f64::from(rule.max_world_scale)
            || f64::from(s[2]) > f64::from(rule.max_screen_radius)
        {
            action = 0;
        }
        tally[action] += 1;
        actions.push(action);
        let copies = [0, 1, 2, 2][action];
        let q = &g.quats[4 * i..4 * i + 4];
        for c in 0..copies {
            let mean = Vector3::new(
                f64::from(g.means[3 * i]),
                f64::from(g.means[3 * i + 1]),
                f64::from(g.means[3 * i + 2]),
            );
            if action == 3 {
                let z = normals(rule.seed as u32, rule.step, i as u32, c);
                let offset =
                    rot * Vector3::new(ls[0].exp(), ls[1].exp(), ls[2].exp()).component_mul(&z);
                out.means.extend((mean + offset).iter().map(|&x| x as f32));
                out.log_scales
                    .extend(ls.iter().map(|&x| (x - 1.6f64.ln()) as f32));
            } else {
                out.means.extend_from_slice(&g.means[3 * i..3 * i + 3]);
                out.log_scales
                    .extend_from_slice(&g.log_scales[3 * i..3 * i + 3]);
            }
            out.quats.extend_from_slice(q);
            out.opacities.push(g.opacities[i]);
            out.sh.extend_from_slice(&g.sh[k * i..k * (i + 1)]);
            for (m, (src, &dim)) in new_moments.iter_mut().zip(moments.iter().zip(dims)) {
                let keep = action == 1 || (action == 2 && c == 0);
                for d in 0..dim {
                    m.push(if keep { src[i * dim + d] } else { 0.0 });
                }
            }
        }
    }
    Expected {
        g: out,
        moments: new_moments,
        tally,
        actions,
    }
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let (a, b) = (f64::from(*a), f64::from(*b));
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}[{i}]: {a} vs {b}"
        );
    }
}

#[test]
fn clone_split_and_prune_match_the_reference_and_carry_adam_moments() {
    let ctx = context();
    let v = view(64, 48, [0.0; 3]);
    let mut g = scene(&v, 3000, 2, 5);
    let rule = DensifyRule {
        grad_threshold: 2e-4,
        clone_max_scale: (-2.5f32).exp(),
        min_opacity: 0.005,
        max_world_scale: (-0.2f32).exp(),
        max_screen_radius: 30.0,
        seed: 77,
        step: 1200,
    };
    let mut r = rand_pcg::Pcg64::seed_from_u64(9);
    let n = g.len();
    for i in 0..n {
        let ls = &mut g.log_scales[3 * i..3 * i + 3];
        let max = f64::from(ls.iter().copied().fold(f32::MIN, f32::max));
        let mut moved = off_edge(max, f64::from(rule.clone_max_scale).ln()) - max;
        moved = off_edge(max + moved, f64::from(rule.max_world_scale).ln()) - max;
        moved = off_edge(
            max + moved - 1.6f64.ln(),
            f64::from(rule.max_world_scale).ln(),
        ) + 1.6f64.ln()
            - max;
        for x in ls.iter_mut() {
            *x += moved as f32;
        }
        let o = f64::from(g.opacities[i]);
        g.opacities[i] = if i % 9 == 0 {
            -7.0
        } else {
            off_edge(o, logit(0.005)) as f32
        };
    }
    let stats: Vec<[f32; 4]> = (0..n)
        .map(|_| {
            let views = r.random_range(0..4) as f32;
            let mean = if r.random_bool(0.5) { 3e-4 } else { 1e-4 };
            let radius = if r.random_bool(0.1) { 45.0 } else { 12.0 };
            [mean * views, views, radius, 0.0]
        })
        .collect();
    let dims = [3usize, 3, 4, 1, 3, 9, 15, 21];
    let rows = |b: usize| if b < 7 { n } else { 0 };
    let moments: Vec<(Vec<f32>, Vec<f32>)> = (0..8)
        .map(|b| {
            let len = rows(b) * dims[b];
            (
                (0..len).map(|_| r.random_range(-1.0..1.0)).collect(),
                (0..len).map(|_| r.random_range(0.0..1.0)).collect(),
            )
        })
        .collect();

    let mut gg = GpuGaussians::upload(ctx, &g).unwrap();
    let mut states: [AdamState; 8] = std::array::from_fn(|b| {
        let mut s = AdamState::new(ctx, rows(b) as u32, dims[b] as u32);
        s.m1 = splat_gpu::storage_buffer(ctx, "m1", &moments[b].0);
        s.m2 = splat_gpu::storage_buffer(ctx, "m2", &moments[b].1);
        s
    });
    let mut densifier = Densifier::new(ctx, n as u32).expect("densify kernels");
    densifier.set_stats(ctx, &stats);
    let report = densifier.densify(ctx, &mut gg, &mut states, &rule).unwrap();

    let flat: Vec<Vec<f32>> = moments
        .iter()
        .take(7)
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    let flat_dims: Vec<usize> = dims.iter().take(7).flat_map(|&d| [d, d]).collect();
    let want = reference(&g, &stats, &flat, &flat_dims, &rule);
    assert_eq!(
        [
            report.pruned,
            report.before - report.pruned - report.cloned - report.split,
            report.cloned,
            report.split
        ],
        want.tally
    );
    assert!(
        want.tally.iter().all(|&t| t > 100),
        "every action must be exercised: {:?}",
        want.tally
    );
    assert_eq!(report.after as usize, want.g.len());
    let got = gg.read(ctx).unwrap();
    assert_close("means", &got.means, &want.g.means, 1e-5);
    assert_close("log_scales", &got.log_scales, &want.g.log_scales, 1e-6);
    assert_eq!(got.quats, want.g.quats);
    assert_eq!(got.opacities, want.g.opacities);
    assert_eq!(got.sh, want.g.sh);
    for (b, s) in states.iter().enumerate().take(7) {
        assert_eq!(s.count, report.after);
        let m1: Vec<f32> = splat_gpu::readback(ctx, &s.m1, want.moments[2 * b].len()).unwrap();
        let m2: Vec<f32> = splat_gpu::readback(ctx, &s.m2, want.moments[2 * b + 1].len()).unwrap();
        assert_eq!(m1, want.moments[2 * b], "first moment of group {b}");
        assert_eq!(m2, want.moments[2 * b + 1], "second moment of group {b}");
    }
    assert_eq!(states[7].count, 0, "no band-3 state at degree 2");
    let cleared = densifier.stats(ctx).unwrap();
    assert_eq!(cleared.len(), report.after as usize);
    assert!(cleared.iter().all(|s| *s == [0.0; 4]));

    // Split children scatter like the parent Gaussian: their offsets, whitened by the parent's
    // rotation and scale, are standard normal.
    let mut z = Vec::new();
    let mut o = 0;
    for i in 0..n {
        let copies = [0, 1, 2, 2][want.actions[i]];
        if want.actions[i] == 3 {
            let (rot, ls) = rotation_and_log_scale(&g, i);
            for c in 0..2 {
                let child = Vector3::from_iterator(
                    got.means[3 * (o + c)..3 * (o + c) + 3]
                        .iter()
                        .map(|&x| f64::from(x)),
                );
                let parent =
                    Vector3::from_iterator(g.means[3 * i..3 * i + 3].iter().map(|&x| f64::from(x)));
                let w = rot.transpose() * (child - parent);
                z.extend((0..3).map(|k| w[k] / ls[k].exp()));
            }
        }
        o += copies;
    }
    let mean = z.iter().sum::<f64>() / z.len() as f64;
    let var = z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / z.len() as f64;
    assert!(z.len() > 600, "{} samples", z.len());
    assert!(
        mean.abs() < 0.1 && (var - 1.0).abs() < 0.15,
        "mean {mean}, variance {var}"
    );
}

#[test]
fn opacity_reset_clamps_opacities_and_clears_their_moments() {
    let ctx = context();
    let v = view(32, 24, [0.0; 3]);
    let g = scene(&v, 700, 0, 2);
    let gg = GpuGaussians::upload(ctx, &g).unwrap();
    let state = AdamState::new(ctx, 700, 1);
    let state = AdamState {
        m1: splat_gpu::storage_buffer(ctx, "m1", &vec![0.5f32; 700]),
        m2: splat_gpu::storage_buffer(ctx, "m2", &vec![0.25f32; 700]),
        ..state
    };
    let d = Densifier::new(ctx, 700).expect("densify kernels");
    d.reset_opacity(ctx, &gg, &state, 0.01);
    let got: Vec<f32> = splat_gpu::readback(ctx, &gg.opacities, 700).unwrap();
    let ceiling = logit(0.01);
    let mut clamped = 0;
    for (a, b) in got.iter().zip(&g.opacities) {
        let want = f64::from(*b).min(ceiling);
        clamped += usize::from(f64::from(*b) > ceiling);
        assert!((f64::from(*a) - want).abs() < 1e-5, "{a} vs {want}");
    }
    assert!(clamped > 100);
    let m1: Vec<f32> = splat_gpu::readback(ctx, &state.m1, 700).unwrap();
    let m2: Vec<f32> = splat_gpu::readback(ctx, &state.m2, 700).unwrap();
    assert!(m1.iter().chain(&m2).all(|&x| x == 0.0));
}

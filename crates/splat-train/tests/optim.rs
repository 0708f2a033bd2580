//! Adam on the GPU against the f64 step, and the whole differentiable loop — render, loss,
//! backward, Adam — fitting Gaussians to a target image on the real device.

mod common;

use common::{photo, rasterizer, scene, view};
use rand::{Rng, SeedableRng};
use splat_test_support::gpu::context;
use splat_train::optim::adam_step_reference;
use splat_train::{
    Adam, AdamConfig, AdamState, GpuGaussians, GradLayout, GroupStep, PhotometricLoss,
};

/// A parameter group of the Adam test, with its f64 reference state.
struct Group {
    dim: usize,
    offset: usize,
    param: wgpu::Buffer,
    state: AdamState,
    p: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
}

/// One Adam kernel per group width: groups of every width the model has (opacity 1, positions 3,
/// rotations 4, SH rest 45), stepped in turn by one `Adam`, each against the f64 step.
#[test]
fn gpu_adam_matches_the_reference_step() {
    let ctx = context();
    let mut r = rand_pcg::Pcg64::seed_from_u64(1);
    let (count, stride) = (1000usize, 64usize);
    let adam = Adam::new(AdamConfig::default()).expect("adam kernel");
    let mut groups: Vec<Group> = [(3usize, 3usize), (1, 0), (45, 11), (4, 56)]
        .into_iter()
        .map(|(dim, offset)| {
            let p0: Vec<f32> = (0..count * dim)
                .map(|_| r.random_range(-1.0..1.0))
                .collect();
            Group {
                dim,
                offset,
                param: splat_gpu::storage_buffer(ctx, "p", &p0),
                state: AdamState::new(ctx, count as u32, dim as u32),
                p: p0.iter().map(|&x| f64::from(x)).collect(),
                m: vec![0.0; count * dim],
                v: vec![0.0; count * dim],
            }
        })
        .collect();
    for t in 1..=3 {
        let g_rows: Vec<f32> = (0..count * stride)
            .map(|_| r.random_range(-2.0..2.0))
            .collect();
        let grad = splat_gpu::storage_buffer(ctx, "g", &g_rows);
        let mut enc = ctx.encoder("adam test");
        for group in &mut groups {
            let layout = GradLayout {
                stride: stride as u32,
                offset: group.offset as u32,
            };
            let step = GroupStep {
                param: &group.param,
                grad: &grad,
                layout,
                lr: 0.01,
            };
            adam.step(ctx, &mut enc, &mut group.state, step).unwrap();
        }
        ctx.queue.submit([enc.finish()]);
        for group in &mut groups {
            let (dim, offset) = (group.dim, group.offset);
            let g: Vec<f64> = (0..count * dim)
                .map(|i| f64::from(g_rows[(i / dim) * stride + offset + i % dim]))
                .collect();
            let config = AdamConfig::default();
            adam_step_reference(
                &mut group.p,
                &g,
                &mut group.m,
                &mut group.v,
                0.01,
                t,
                config,
            );
            let got: Vec<f32> = splat_gpu::readback(ctx, &group.param, count * dim).unwrap();
            let worst = got
                .iter()
                .zip(&group.p)
                .map(|(a, b)| (f64::from(*a) - b).abs())
                .fold(0.0, f64::max);
            assert!(
                worst < 1e-5,
                "width {dim}, step {t}: max difference {worst}"
            );
        }
    }
}

#[test]
fn render_loss_backward_adam_fits_a_target_image() {
    let ctx = context();
    let v = view(48, 40, [0.0, 0.0, 0.0]);
    let mut target_scene = scene(&v, 60, 1, 77);
    // A Gaussian holding the camera in the target but not in the start (or the other way round)
    // would be drawn in one and culled, without a gradient, in the other.
    common::keep_camera_outside(&mut target_scene, &v);
    let target = GpuGaussians::upload(ctx, &target_scene).unwrap();
    let target_frame = rasterizer().forward(ctx, &target, &v).unwrap();
    let (target_photo, _) = photo(
        target_frame
            .read_color(ctx)
            .unwrap()
            .iter()
            .map(|p| [0, 1, 2].map(|c| f64::from(p[c]))),
    );

    // Start from a perturbed copy: means moved, colours and opacities scrambled.
    let mut r = rand_pcg::Pcg64::seed_from_u64(5);
    let mut start = target_scene.clone();
    for m in &mut start.means {
        *m += r.random_range(-0.05..0.05);
    }
    for s in &mut start.sh {
        *s = r.random_range(-0.5..0.5);
    }
    for o in &mut start.opacities {
        *o = 0.0;
    }
    let g = GpuGaussians::upload(ctx, &start).unwrap();
    let loss = PhotometricLoss::new(ctx).expect("loss kernels");
    let adam = Adam::new(AdamConfig::default()).expect("adam kernel");
    let mut frame = splat_train::Frame::empty(ctx);
    let mut eval = splat_train::LossEval::empty(ctx);
    let mut grads = splat_train::GpuGrads::empty(ctx);
    let mut states = g.param_groups(&grads).map(|group| group.adam_state(ctx));
    // Means, log-scales, rotations, opacities, SH bands 0–3 (the model has degree 1).
    let lrs = [0.002, 0.005, 0.001, 0.05, 0.01, 0.0025, 0.0, 0.0];
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..120 {
        rasterizer().forward_into(ctx, &g, &v, &mut frame).unwrap();
        loss.evaluate_into(
            ctx,
            &frame.out_color,
            &target_photo,
            (v.width, v.height),
            0.2,
            &mut eval,
        )
        .unwrap();
        rasterizer()
            .backward_into(ctx, &g, &frame, &eval.d_image, &mut grads)
            .unwrap();
        let mut enc = ctx.encoder("adam");
        for ((state, group), lr) in states.iter_mut().zip(g.param_groups(&grads)).zip(lrs) {
            adam.step(ctx, &mut enc, state, group.step(lr)).unwrap();
        }
        ctx.queue.submit([enc.finish()]);
        last = eval.terms(ctx).unwrap().total;
        first.get_or_insert(last);
    }
    let first = first.unwrap();
    assert!(last < 0.15 * first, "loss went from {first} to {last}");
}

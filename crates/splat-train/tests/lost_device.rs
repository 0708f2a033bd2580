//! A lost device (issue 24): once the driver reports the device lost (here: destroyed mid-run,
//! as a driver reset or a removed GPU ends it), every later step and every readback is an error
//! saying so; nothing the device computes afterwards is used.

use splat_train::train::{Strategy, TrainConfig, Trainer, initial_gaussians};

mod common;

#[test]
fn a_lost_device_stops_training_and_nothing_after_it_is_used() {
    // A device of its own: the shared one must outlive this test.
    let ctx: &'static splat_gpu::GpuContext =
        Box::leak(Box::new(splat_gpu::GpuContext::new().unwrap_or_else(|e| {
            panic!("no GPU adapter: {e}\n{}", splat_gpu::LAVAPIPE_HINT)
        })));
    let dir = tempfile::tempdir().unwrap();
    let data = common::built_in(dir.path(), 8, 48, 36, 500);
    let cfg = TrainConfig {
        steps: 100,
        seed: 3,
        strategy: Strategy::Fixed,
        ..TrainConfig::default()
    };
    let init = initial_gaussians(&data.model, cfg.max_sh_degree, cfg.seed, None);
    let mut t = Trainer::new(ctx, &data, &init, cfg).unwrap();
    for _ in 0..5 {
        t.step(true).unwrap();
    }
    assert!(t.state_intact());
    ctx.device.destroy();
    let e = t
        .step(true)
        .expect_err("a step on a destroyed device succeeded");
    let msg = e.to_string();
    assert!(msg.contains("device was lost"), "{msg}");
    assert!(!t.state_intact());
    let again = t
        .step(false)
        .expect_err("a second step on a lost device succeeded");
    assert!(again.to_string().contains("device was lost"), "{again}");
    let read = t
        .download()
        .expect_err("the model was read back from a lost device");
    assert!(read.to_string().contains("device was lost"), "{read}");
}

//! Rebuilding the model at a new Gaussian count. Densification and MCMC relocation both write
//! every parameter array and Adam moment anew — one kernel dispatch per array into a fresh
//! buffer — and then swap the new arrays in; this is that shared part.

use crate::model::GpuGaussians;
use crate::optim::AdamState;
use splat_gpu::{GpuContext, GpuError, storage_buffer_zeroed};

/// Which array a rebuild is writing (kernels treat some specially).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Means,
    LogScales,
    Rotations,
    Opacities,
    Sh,
    /// An Adam moment of any group.
    Moment,
}

/// Records, for each parameter array of `g` and each Adam moment in `states`,
/// `write(encoder, source, destination, floats per Gaussian, role)` — a dispatch that fills a
/// new zeroed buffer sized for `count` Gaussians — submits it, and swaps the new arrays in.
/// Fails before touching anything when `count` Gaussians do not fit the device.
pub fn rebuild(
    ctx: &GpuContext,
    g: &mut GpuGaussians,
    states: &mut [AdamState; 8],
    count: u32,
    what: &str,
    mut write: impl FnMut(&mut wgpu::CommandEncoder, &wgpu::Buffer, &wgpu::Buffer, u32, Role),
) -> Result<(), GpuError> {
    check_fits(ctx, count, g.sh_degree)?;
    let mut sources = vec![
        (&g.means, 3, Role::Means),
        (&g.log_scales, 3, Role::LogScales),
        (&g.quats, 4, Role::Rotations),
        (&g.opacities, 1, Role::Opacities),
    ];
    for b in 0..=g.sh_degree as usize {
        sources.push((&g.sh[b], 3 * (2 * b as u32 + 1), Role::Sh));
    }
    for s in states.iter().filter(|s| s.count > 0) {
        sources.push((&s.m1, s.dim, Role::Moment));
        sources.push((&s.m2, s.dim, Role::Moment));
    }
    let written = ctx.checked(what, || {
        let mut enc = ctx.encoder(what);
        let written: Vec<wgpu::Buffer> = sources
            .iter()
            .map(|&(src, dim, role)| {
                let dst = storage_buffer_zeroed(ctx, what, u64::from(count) * u64::from(dim) * 4);
                write(&mut enc, src, &dst, dim, role);
                dst
            })
            .collect();
        ctx.queue.submit([enc.finish()]);
        Ok(written)
    })?;
    let mut written = written.into_iter();
    #[allow(
        clippy::expect_used,
        reason = "one new buffer was written per array above"
    )]
    let mut next = || written.next().expect("one new buffer per array");
    g.means = next();
    g.log_scales = next();
    g.quats = next();
    g.opacities = next();
    for b in 0..=g.sh_degree as usize {
        g.sh[b] = next();
    }
    g.count = count;
    for s in states.iter_mut().filter(|s| s.count > 0) {
        s.m1 = next();
        s.m2 = next();
        s.count = count;
    }
    Ok(())
}

/// Fails when `count` Gaussians at `sh_degree` would not fit one binding of the device.
pub fn check_fits(ctx: &GpuContext, count: u32, sh_degree: u32) -> Result<(), GpuError> {
    let widest = (3 * (2 * u64::from(sh_degree) + 1)).max(4);
    ctx.check_binding(
        "the Gaussians' widest parameter array",
        u64::from(count) * widest * 4,
    )
}

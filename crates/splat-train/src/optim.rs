//! Adam on the GPU (host side of `adam.wgsl`) and the same step in f64 for tests.

use crate::model::{GradLayout, ParamGroup};
use splat_gpu::{
    Constant, GpuContext, GpuError, Kernel, Shader, ShaderSource, storage_buffer_zeroed,
    uniform_buffer, wgsl_layout,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The Adam kernel's source for parameter groups `dim` floats wide.
pub fn adam_source(dim: u32) -> ShaderSource {
    ShaderSource {
        label: "adam",
        parts: vec![include_str!("adam.wgsl")],
        constants: vec![Constant::U32("DIM", dim)],
        layouts: vec![wgsl_layout!(AdamParams as "AdamParams" {
            count, grad_stride, grad_offset, lr, beta1, beta2, eps, bias1, bias2_sqrt
        })],
    }
}

/// Adam's hyper-parameters; the 3DGS reference uses ε = 1e-15.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-15,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AdamParams {
    count: u32,
    grad_stride: u32,
    grad_offset: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    bias1: f32,
    bias2_sqrt: f32,
    pad: [f32; 3],
}

/// What one Adam step of a group reads and writes.
#[derive(Clone, Copy)]
pub struct GroupStep<'a> {
    /// The group's parameters, updated in place.
    pub param: &'a wgpu::Buffer,
    pub grad: &'a wgpu::Buffer,
    pub layout: GradLayout,
    pub lr: f32,
}

impl<'a> ParamGroup<'a> {
    /// This group's Adam step at learning rate `lr`.
    pub fn step(&self, lr: f32) -> GroupStep<'a> {
        GroupStep {
            param: self.param,
            grad: self.grad,
            layout: self.layout,
            lr,
        }
    }

    /// Zeroed Adam moments for this group.
    pub fn adam_state(&self, ctx: &GpuContext) -> AdamState {
        AdamState::new(ctx, self.rows, self.dim)
    }
}

/// Adam's moments for one parameter group of `count` rows × `dim` floats.
pub struct AdamState {
    pub count: u32,
    pub dim: u32,
    /// First and second moments, `count × dim` floats each.
    pub m1: wgpu::Buffer,
    pub m2: wgpu::Buffer,
    /// Steps taken.
    pub step: u32,
}

impl AdamState {
    pub fn new(ctx: &GpuContext, count: u32, dim: u32) -> Self {
        let bytes = u64::from(count) * u64::from(dim) * 4;
        Self {
            count,
            dim,
            m1: storage_buffer_zeroed(ctx, "adam m1", bytes),
            m2: storage_buffer_zeroed(ctx, "adam m2", bytes),
            step: 0,
        }
    }
}

/// The Adam kernels, one per group width, compiled when a group of that width first steps.
pub struct Adam {
    kernels: Mutex<HashMap<u32, Arc<Kernel>>>,
    pub config: AdamConfig,
}

impl Adam {
    /// Checks the kernel's source; the pipelines are made as the group widths show up.
    pub fn new(config: AdamConfig) -> Result<Self, GpuError> {
        Shader::compose(&adam_source(1))?;
        Ok(Self {
            kernels: Mutex::new(HashMap::new()),
            config,
        })
    }

    /// The kernel for groups `dim` floats wide.
    fn kernel(&self, ctx: &GpuContext, dim: u32) -> Result<Arc<Kernel>, GpuError> {
        let mut kernels = self.kernels.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(k) = kernels.get(&dim) {
            return Ok(Arc::clone(k));
        }
        let k = Arc::new(Shader::compose(&adam_source(dim))?.kernel(ctx, "adam_step")?);
        kernels.insert(dim, Arc::clone(&k));
        Ok(k)
    }

    /// Records one Adam step of a group's parameters (`state.count × state.dim` floats).
    pub fn step(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        state: &mut AdamState,
        group: GroupStep<'_>,
    ) -> Result<(), GpuError> {
        let GroupStep {
            param,
            grad,
            layout,
            lr,
        } = group;
        if state.count == 0 || state.dim == 0 {
            return Ok(());
        }
        state.step += 1;
        let t = state.step as i32;
        let c = self.config;
        let kernel = self.kernel(ctx, state.dim)?;
        let params = AdamParams {
            count: state.count,
            grad_stride: layout.stride,
            grad_offset: layout.offset,
            lr,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            bias1: 1.0 - c.beta1.powi(t),
            bias2_sqrt: (1.0 - c.beta2.powi(t)).sqrt(),
            pad: [0.0; 3],
        };
        let u = uniform_buffer(ctx, "adam params", &params);
        let bind = kernel.bind(
            ctx,
            &[
                ("ap", &u),
                ("param", param),
                ("grad", grad),
                ("m1", &state.m1),
                ("m2", &state.m2),
            ],
        );
        kernel.dispatch_items(ctx, enc, &bind, state.count * state.dim);
        Ok(())
    }
}

/// The same step in f64 (for tests): updates `p`, `m`, `v` in place.
pub fn adam_step_reference(
    p: &mut [f64],
    g: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    lr: f64,
    t: i32,
    c: AdamConfig,
) {
    let (b1, b2, eps) = (f64::from(c.beta1), f64::from(c.beta2), f64::from(c.eps));
    for i in 0..p.len() {
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
        let mhat = m[i] / (1.0 - b1.powi(t));
        let vhat = v[i] / (1.0 - b2.powi(t));
        p[i] -= lr * mhat / (vhat.sqrt() + eps);
    }
}

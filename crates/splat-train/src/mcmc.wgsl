// The MCMC densification strategy ("3D Gaussian Splatting as Markov Chain Monte Carlo";
// host side: `splat_train::mcmc`):
//   regularize  one thread per Gaussian, before Adam: adds the gradients of
//               opacity_reg·mean(σ(opacity)) + scale_reg·mean(exp(log-scale)) to the record
//   perturb     one thread per Gaussian, after Adam: moves the mean by Σ·z·scaler·f(opacity),
//               z standard normal, Σ = R S² Rᵀ, f ≈ 1 for Gaussians about to die, ≈ 0 otherwise
//   gather      one thread per output Gaussian: relocation and growth as one gather — output j
//               copies Gaussian `src_of[j]`, optionally with a new opacity and a log-scale
//               shift (flag 2), and Adam moments zeroed (flag 1)
// Random numbers are a hash of (seed, step, Gaussian) (`random_common.wgsl`).

struct McmcParams {
    count: u32,
    dim: u32,
    // gather: 0 a parameter copied as is, 1 opacities, 2 log-scales, 3 an Adam moment
    kind: u32,
    step: u32,
    seed: u32,
    opacity_reg: f32,
    scale_reg: f32,
    // perturb: the learning rate of the means times the noise rate
    scaler: f32,
}

@group(0) @binding(0) var<uniform> mp: McmcParams;
@group(0) @binding(1) var<storage, read_write> grad_geom: array<f32>;
@group(0) @binding(2) var<storage, read> opacities: array<f32>;
@group(0) @binding(3) var<storage, read> log_scales: array<f32>;
@group(0) @binding(4) var<storage, read> quats: array<f32>;
@group(0) @binding(5) var<storage, read_write> means: array<f32>;
@group(0) @binding(6) var<storage, read> src_of: array<u32>;
// Per output Gaussian: new opacity logit (used with flag 2), log-scale shift, flags.
@group(0) @binding(7) var<storage, read> new_opacity: array<f32>;
@group(0) @binding(8) var<storage, read> scale_shift: array<f32>;
@group(0) @binding(9) var<storage, read> flags: array<u32>;
@group(0) @binding(10) var<storage, read> src: array<f32>;
@group(0) @binding(11) var<storage, read_write> dst: array<f32>;

// GEOM_* (the gradient record layout) and the slot flags FLAG_* come from the host.

fn index_of(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

@compute @workgroup_size(256)
fn regularize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index_of(gid, nwg);
    if (i >= mp.count) {
        return;
    }
    let n = f32(mp.count);
    let o = sigmoid(opacities[i]);
    grad_geom[i * GEOM_STRIDE + GEOM_OPACITY] += mp.opacity_reg / n * o * (1.0 - o);
    for (var k = 0u; k < 3u; k++) {
        grad_geom[i * GEOM_STRIDE + GEOM_SCALE + k] += mp.scale_reg / (3.0 * n) * exp(log_scales[3u * i + k]);
    }
}

fn normals(i: u32) -> vec3<f32> {
    return normals_from(pcg(pcg(pcg(i) ^ mp.step) ^ mp.seed));
}

@compute @workgroup_size(256)
fn perturb(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index_of(gid, nwg);
    if (i >= mp.count) {
        return;
    }
    // 1 / (1 + exp(-k (x − x0))) at x = 1 − opacity, k = 100, x0 = 0.995.
    let gate = 1.0 / (1.0 + exp(-100.0 * ((1.0 - sigmoid(opacities[i])) - 0.995)));
    if (!(gate * mp.scaler > 0.0)) {
        return;
    }
    let r = quat_rotation(quat_of(i));
    let s2 = exp(2.0 * vec3<f32>(log_scales[3u * i], log_scales[3u * i + 1u], log_scales[3u * i + 2u]));
    // Σ z = R (S² (Rᵀ z)).
    let d = r * (s2 * (transpose(r) * normals(i))) * (gate * mp.scaler);
    for (var k = 0u; k < 3u; k++) {
        means[3u * i + k] += d[k];
    }
}

@compute @workgroup_size(256)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = index_of(gid, nwg);
    if (j >= mp.count) {
        return;
    }
    let i = src_of[j];
    for (var d = 0u; d < mp.dim; d++) {
        var v = src[i * mp.dim + d];
        if (mp.kind == 1u && (flags[j] & FLAG_OPACITY) != 0u) {
            v = new_opacity[j];
        } else if (mp.kind == 2u) {
            v += scale_shift[j];
        } else if (mp.kind == 3u && (flags[j] & FLAG_RESET) != 0u) {
            v = 0.0;
        }
        dst[j * mp.dim + d] = v;
    }
}

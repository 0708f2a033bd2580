// Adaptive density control of the 3DGS paper (host side: `splat_train::densify`):
//   accumulate     one thread per Gaussian after each backward pass: the norm of the
//                  screen-space mean gradient (in NDC units, as the reference), the number of
//                  views that saw it and its largest screen radius
//   decide         one thread per Gaussian: prune (0), keep (1), clone (2) or split (3), and the
//                  number of output slots it takes; the slots are then scanned into offsets
//   scatter        one thread per Gaussian: writes its copies of one parameter array (or of one
//                  Adam moment) at its offset; split copies sample new means inside the
//                  Gaussian and shrink its scale by 1.6; new Gaussians start with zero moments
//   reset_opacity  one thread per Gaussian: opacity clamped down to a ceiling
// Random numbers come from a hash of (seed, step, Gaussian, copy) (`random_common.wgsl`), so a
// run is reproducible and can resume from a checkpoint without carrying a GPU random state.

struct DensifyParams {
    count: u32,
    dim: u32,
    // scatter: 0 a parameter copied as is, 1 means, 2 log-scales, 3 an Adam moment
    kind: u32,
    step: u32,
    seed: u32,
    half_width: f32,
    half_height: f32,
    grad_threshold: f32,
    // largest scale a Gaussian may have and still be cloned (larger ones are split)
    clone_max_scale: f32,
    // decide: prune below this opacity logit; reset_opacity: clamp to it
    opacity_logit: f32,
    // prune above this world-space scale (0: never)
    max_world_scale: f32,
    // prune above this screen radius in pixels (0: never)
    max_screen_radius: f32,
}

const ACTION_PRUNE: u32 = 0u;
const ACTION_KEEP: u32 = 1u;
const ACTION_CLONE: u32 = 2u;
const ACTION_SPLIT: u32 = 3u;
// ln(1.6): a split Gaussian's children have 1/1.6 of its scale.
const LN_SPLIT_SHRINK: f32 = 0.47000363;

@group(0) @binding(0) var<uniform> dp: DensifyParams;
@group(0) @binding(1) var<storage, read_write> stats: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grad_geom: array<f32>;
@group(0) @binding(3) var<storage, read> xy_depth: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> rects: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read> log_scales: array<f32>;
@group(0) @binding(6) var<storage, read> opacities: array<f32>;
@group(0) @binding(7) var<storage, read_write> action: array<u32>;
// `count + 1` slots; the exclusive scan turns them into output offsets and the total.
@group(0) @binding(8) var<storage, read_write> slots: array<u32>;
@group(0) @binding(9) var<storage, read> src: array<f32>;
@group(0) @binding(10) var<storage, read_write> dst: array<f32>;
@group(0) @binding(11) var<storage, read> quats: array<f32>;
@group(0) @binding(12) var<storage, read_write> opacities_rw: array<f32>;
// How many Gaussians took each action.
@group(0) @binding(13) var<storage, read_write> tally: array<atomic<u32>, 4>;

// The per-Gaussian gradient record of `rasterize_backward.wgsl`: screen-space mean at 12.
// GEOM_STRIDE and GEOM_MEAN2D (the gradient record layout) come from the host.

fn index_of(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

@compute @workgroup_size(256)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index_of(gid, nwg);
    if (i >= dp.count) {
        return;
    }
    let r = rects[i];
    if (r.z <= r.x || r.w <= r.y) {
        return;
    }
    // d/d(NDC) = d/d(pixel) · (size / 2).
    let g = vec2<f32>(
        grad_geom[i * GEOM_STRIDE + GEOM_MEAN2D] * dp.half_width,
        grad_geom[i * GEOM_STRIDE + GEOM_MEAN2D + 1u] * dp.half_height,
    );
    let s = stats[i];
    stats[i] = vec4<f32>(s.x + length(g), s.y + 1.0, max(s.z, xy_depth[i].w), 0.0);
}

fn max_log_scale(i: u32) -> f32 {
    return max(log_scales[3u * i], max(log_scales[3u * i + 1u], log_scales[3u * i + 2u]));
}

@compute @workgroup_size(256)
fn decide(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index_of(gid, nwg);
    if (i > dp.count) {
        return;
    }
    if (i == dp.count) {
        slots[i] = 0u;
        return;
    }
    let s = stats[i];
    var grad = 0.0;
    if (s.y > 0.0) {
        grad = s.x / s.y;
    }
    let scale = exp(max_log_scale(i));
    var a = ACTION_KEEP;
    if (grad >= dp.grad_threshold) {
        if (scale <= dp.clone_max_scale) {
            a = ACTION_CLONE;
        } else {
            a = ACTION_SPLIT;
        }
    }
    // The size test applies to what would be written: split children are 1.6 times smaller.
    var kept_scale = scale;
    if (a == ACTION_SPLIT) {
        kept_scale = scale * exp(-LN_SPLIT_SHRINK);
    }
    // Written so that a NaN opacity or scale prunes too.
    let faint = !(opacities[i] >= dp.opacity_logit);
    let huge_world = dp.max_world_scale > 0.0 && !(kept_scale <= dp.max_world_scale);
    let huge_screen = dp.max_screen_radius > 0.0 && s.z > dp.max_screen_radius;
    if (faint || huge_world || huge_screen) {
        a = ACTION_PRUNE;
    }
    action[i] = a;
    atomicAdd(&tally[a], 1u);
    var n = 1u;
    if (a == ACTION_PRUNE) {
        n = 0u;
    } else if (a != ACTION_KEEP) {
        n = 2u;
    }
    slots[i] = n;
}

// Three standard normal samples for copy `c` of Gaussian `i`.
fn normals(i: u32, c: u32) -> vec3<f32> {
    return normals_from(pcg(pcg(pcg(i) ^ (c * 0x9e3779b9u + dp.step)) ^ dp.seed));
}

// Value `d` of copy `c` of Gaussian `i`.
fn copied(i: u32, a: u32, c: u32, d: u32) -> f32 {
    let v = src[i * dp.dim + d];
    if (dp.kind == 3u) {
        // Adam moments: a kept Gaussian and the original of a clone keep theirs.
        if (a == ACTION_SPLIT || c == 1u) {
            return 0.0;
        }
        return v;
    }
    if (a != ACTION_SPLIT) {
        return v;
    }
    if (dp.kind == 2u) {
        return v - LN_SPLIT_SHRINK;
    }
    if (dp.kind == 1u) {
        let s = exp(vec3<f32>(log_scales[3u * i], log_scales[3u * i + 1u], log_scales[3u * i + 2u]));
        let offset = quat_rotation(quat_of(i)) * (s * normals(i, c));
        return v + offset[d];
    }
    return v;
}

@compute @workgroup_size(256)
fn scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index_of(gid, nwg);
    if (i >= dp.count) {
        return;
    }
    let a = action[i];
    let first = slots[i];
    let copies = slots[i + 1u] - first;
    for (var c = 0u; c < copies; c++) {
        for (var d = 0u; d < dp.dim; d++) {
            dst[(first + c) * dp.dim + d] = copied(i, a, c, d);
        }
    }
}

@compute @workgroup_size(256)
fn reset_opacity(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index_of(gid, nwg);
    if (i >= dp.count) {
        return;
    }
    opacities_rw[i] = min(opacities_rw[i], dp.opacity_logit);
}

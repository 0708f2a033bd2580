// The neighbour smoothness loss of compression-aware training (Self-Organizing Gaussians): the
// Gaussians sit in a 2D grid (the order their SOG images will store them in), and each
// attribute is pulled towards a blur of its grid neighbours, so that the images the codec sees
// are smooth. For one attribute of `dim` floats per Gaussian, over occupied cells c:
//   b_c = Σ_j K_cj x_j,  K_cj = w(c − j) / W_c,  W_c = Σ_{occupied j in c's window} w(c − j)
//   L   = scale · Σ_c Σ_d huber(x_c,d − b_c,d)
// with w(dx, dy) = exp(−(dx² + dy²) / 2σ²) over a (2·RADIUS + 1)² window (the cell itself
// included) and empty cells left out of every window. The blur is linear, so
//   dL/dx_k = r_k − Σ_{occupied c in k's window} r_c · w(c − k) / W_c,  r = scale · huber'(x − b).
// Two passes, one invocation per cell:
//   smooth_residual  r_c (→ resid), 1 / W_c (→ inv_w), and the cell's loss added to cell_loss
//   smooth_grad      the gradient above, added to the Gaussian's row of the gradient buffer
// Each Gaussian sits in at most one cell, so the additions never race.

struct SmoothParams {
    width: u32,
    height: u32,
    // Floats per Gaussian of this attribute (the parameter array is `count × dim`, packed).
    dim: u32,
    // Where the attribute's gradient lives: rows of grad_stride floats, this one at grad_offset.
    grad_stride: u32,
    grad_offset: u32,
    // λ · (the attribute's share of the weights) / (occupied cells · floats per cell).
    scale: f32,
    // Huber's threshold.
    delta: f32,
    // 1 / (2σ²) of the blur.
    inv_two_sigma2: f32,
}

// RADIUS comes from the host (`smooth.rs`, shared with the f64 reference).
const EMPTY: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> sp: SmoothParams;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> resid: array<f32>;
@group(0) @binding(4) var<storage, read_write> inv_w: array<f32>;
@group(0) @binding(5) var<storage, read_write> cell_loss: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad: array<f32>;

fn cell_of(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

fn blur_weight(dx: i32, dy: i32) -> f32 {
    return exp(-f32(dx * dx + dy * dy) * sp.inv_two_sigma2);
}

// The cell at (x, y), or EMPTY outside the grid.
fn id_at(x: i32, y: i32) -> u32 {
    if (x < 0 || y < 0 || x >= i32(sp.width) || y >= i32(sp.height)) {
        return EMPTY;
    }
    return ids[u32(y) * sp.width + u32(x)];
}

// The Gaussian in cell c, or EMPTY (also past the grid's end).
fn gaussian_in(c: u32) -> u32 {
    if (c >= sp.width * sp.height) {
        return EMPTY;
    }
    return ids[c];
}

fn huber(d: f32) -> f32 {
    let a = abs(d);
    if (a <= sp.delta) {
        return 0.5 * d * d;
    }
    return sp.delta * (a - 0.5 * sp.delta);
}

// (Measured on lavapipe: gathering the window or its weights into private arrays once per
// invocation is slower than recomputing them per float; private arrays spill there.)
@compute @workgroup_size(256)
fn smooth_residual(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = cell_of(gid, nwg);
    let id = gaussian_in(c);
    if (id == EMPTY) {
        return;
    }
    let cx = i32(c % sp.width);
    let cy = i32(c / sp.width);
    var wsum = 0.0;
    for (var dy = -RADIUS; dy <= RADIUS; dy++) {
        for (var dx = -RADIUS; dx <= RADIUS; dx++) {
            if (id_at(cx + dx, cy + dy) != EMPTY) {
                wsum += blur_weight(dx, dy);
            }
        }
    }
    let inv = 1.0 / wsum;
    inv_w[c] = inv;
    var loss = 0.0;
    for (var d = 0u; d < sp.dim; d++) {
        var blurred = 0.0;
        for (var dy = -RADIUS; dy <= RADIUS; dy++) {
            for (var dx = -RADIUS; dx <= RADIUS; dx++) {
                let j = id_at(cx + dx, cy + dy);
                if (j != EMPTY) {
                    blurred += blur_weight(dx, dy) * param[j * sp.dim + d];
                }
            }
        }
        let diff = param[id * sp.dim + d] - blurred * inv;
        resid[c * sp.dim + d] = sp.scale * clamp(diff, -sp.delta, sp.delta);
        loss += huber(diff);
    }
    cell_loss[c] += sp.scale * loss;
}

@compute @workgroup_size(256)
fn smooth_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = cell_of(gid, nwg);
    let id = gaussian_in(c);
    if (id == EMPTY) {
        return;
    }
    let cx = i32(c % sp.width);
    let cy = i32(c / sp.width);
    // The window is symmetric: the cells whose blur uses this one are its own neighbours.
    for (var d = 0u; d < sp.dim; d++) {
        var g = resid[c * sp.dim + d];
        for (var dy = -RADIUS; dy <= RADIUS; dy++) {
            for (var dx = -RADIUS; dx <= RADIUS; dx++) {
                let x = cx + dx;
                let y = cy + dy;
                if (id_at(x, y) != EMPTY) {
                    let n = u32(y) * sp.width + u32(x);
                    g -= resid[n * sp.dim + d] * inv_w[n] * blur_weight(dx, dy);
                }
            }
        }
        grad[id * sp.grad_stride + sp.grad_offset + d] += g;
    }
}

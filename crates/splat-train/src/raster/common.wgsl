// Shared by forward.wgsl and backward.wgsl (the host composes this file in front of each): the view uniform, constants, the per-Gaussian parameter and per-frame buffer
// bindings, and SH evaluation.

struct ViewParams {
    // Rows of the world -> camera rotation; w holds the translation component.
    rot0: vec4<f32>,
    rot1: vec4<f32>,
    rot2: vec4<f32>,
    campos: vec4<f32>,
    background: vec4<f32>,
    // fx, fy, cx, cy
    focal: vec4<f32>,
    // Jacobian clamp limits on x/z and y/z, near plane, unused.
    limits: vec4<f32>,
    // width, height, tiles_x, tiles_y
    size: vec4<u32>,
    // Gaussians, SH coefficients per channel, number of keys, tile bounds (0: 3σ circle, 1:
    // opacity-aware; see `blend_tiles`).
    counts: vec4<u32>,
}

// TILE, ALPHA_MAX, ALPHA_MIN, T_MIN, DILATION, the SH constants SH_C0..SH_C3 and the gradient
// record layout GEOM_* come from the host (`constants.rs`, shared with the f64 reference).
const BATCH: u32 = 256u;

@group(0) @binding(0) var<storage, read> view: ViewParams;
@group(0) @binding(1) var<storage, read> means: array<f32>;
@group(0) @binding(2) var<storage, read> log_scales: array<f32>;
@group(0) @binding(3) var<storage, read> quats: array<f32>;
@group(0) @binding(4) var<storage, read> opacities: array<f32>;
// SH coefficients per band (so that no single buffer outgrows a device's binding limit):
// band b holds 2b+1 coefficients x 3 channels per Gaussian, coefficient-major.
@group(0) @binding(5) var<storage, read> sh0: array<f32>;
@group(0) @binding(23) var<storage, read> sh1: array<f32>;
@group(0) @binding(24) var<storage, read> sh2: array<f32>;
@group(0) @binding(25) var<storage, read> sh3: array<f32>;
@group(0) @binding(6) var<storage, read_write> xy_depth: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> conic_opacity: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> colors: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> rects: array<vec4<u32>>;
// Per Gaussian: the tiles it covers after `project`; from `emit_keys` on, where its keys start.
@group(0) @binding(10) var<storage, read_write> touched: array<u32>;
// Per Gaussian: its depth's bits (all ones when culled) and, sorted by them, the Gaussian ids.
@group(0) @binding(11) var<storage, read_write> depth_keys: array<u32>;
@group(0) @binding(26) var<storage, read_write> depth_order: array<u32>;
// Per depth rank (plus one slot for the total): tiles covered, then their exclusive scan.
@group(0) @binding(27) var<storage, read_write> rank_offsets: array<u32>;
// Per key: the tile it belongs to.
@group(0) @binding(12) var<storage, read_write> key_tiles: array<u32>;
@group(0) @binding(13) var<storage, read_write> key_values: array<u32>;
@group(0) @binding(14) var<storage, read_write> ranges: array<vec2<u32>>;
@group(0) @binding(15) var<storage, read_write> out_color: array<vec4<f32>>;
@group(0) @binding(16) var<storage, read_write> out_last: array<u32>;
@group(0) @binding(17) var<storage, read_write> out_depth: array<f32>;
// The Gaussian that emitted each key (keys carry their emission index through the sort).
@group(0) @binding(18) var<storage, read_write> owner: array<u32>;

fn linear_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// Tile index of a coordinate, truncated toward zero and clamped to [0, max].
fn tile_index(v: f32, max_tiles: u32) -> u32 {
    return u32(clamp(trunc(v), 0.0, f32(max_tiles)));
}

// The SH basis for a unit direction (first `k` entries are meaningful) and, when `grads` is
// true, its gradients with respect to the direction.
struct ShBasis {
    b: array<f32, 16>,
    g: array<vec3<f32>, 16>,
}

fn sh_basis(k: u32, dir: vec3<f32>, grads: bool) -> ShBasis {
    var o: ShBasis;
    let x = dir.x;
    let y = dir.y;
    let z = dir.z;
    o.b[0] = SH_C0;
    if (k > 1u) {
        o.b[1] = -SH_C1 * y;
        o.b[2] = SH_C1 * z;
        o.b[3] = -SH_C1 * x;
        if (grads) {
            o.g[1] = vec3<f32>(0.0, -SH_C1, 0.0);
            o.g[2] = vec3<f32>(0.0, 0.0, SH_C1);
            o.g[3] = vec3<f32>(-SH_C1, 0.0, 0.0);
        }
    }
    if (k > 4u) {
        let xx = x * x;
        let yy = y * y;
        let zz = z * z;
        o.b[4] = SH_C2[0] * x * y;
        o.b[5] = SH_C2[1] * y * z;
        o.b[6] = SH_C2[2] * (2.0 * zz - xx - yy);
        o.b[7] = SH_C2[3] * x * z;
        o.b[8] = SH_C2[4] * (xx - yy);
        if (grads) {
            o.g[4] = SH_C2[0] * vec3<f32>(y, x, 0.0);
            o.g[5] = SH_C2[1] * vec3<f32>(0.0, z, y);
            o.g[6] = SH_C2[2] * vec3<f32>(-2.0 * x, -2.0 * y, 4.0 * z);
            o.g[7] = SH_C2[3] * vec3<f32>(z, 0.0, x);
            o.g[8] = SH_C2[4] * vec3<f32>(2.0 * x, -2.0 * y, 0.0);
        }
        if (k > 9u) {
            o.b[9] = SH_C3[0] * y * (3.0 * xx - yy);
            o.b[10] = SH_C3[1] * x * y * z;
            o.b[11] = SH_C3[2] * y * (4.0 * zz - xx - yy);
            o.b[12] = SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy);
            o.b[13] = SH_C3[4] * x * (4.0 * zz - xx - yy);
            o.b[14] = SH_C3[5] * z * (xx - yy);
            o.b[15] = SH_C3[6] * x * (xx - 3.0 * yy);
            if (grads) {
                o.g[9] = SH_C3[0] * vec3<f32>(6.0 * x * y, 3.0 * xx - 3.0 * yy, 0.0);
                o.g[10] = SH_C3[1] * vec3<f32>(y * z, x * z, x * y);
                o.g[11] = SH_C3[2] * vec3<f32>(-2.0 * x * y, 4.0 * zz - xx - 3.0 * yy, 8.0 * y * z);
                o.g[12] = SH_C3[3] * vec3<f32>(-6.0 * x * z, -6.0 * y * z, 6.0 * zz - 3.0 * xx - 3.0 * yy);
                o.g[13] = SH_C3[4] * vec3<f32>(4.0 * zz - 3.0 * xx - yy, -2.0 * x * y, 8.0 * x * z);
                o.g[14] = SH_C3[5] * vec3<f32>(2.0 * x * z, -2.0 * y * z, xx - yy);
                o.g[15] = SH_C3[6] * vec3<f32>(3.0 * xx - 3.0 * yy, -6.0 * x * y, 0.0);
            }
        }
    }
    return o;
}

// Band and index within the band's buffer of coefficient j (0..16) of Gaussian i, channel 0.
fn sh_slot(i: u32, j: u32) -> vec2<u32> {
    if (j == 0u) {
        return vec2<u32>(0u, 3u * i);
    } else if (j < 4u) {
        return vec2<u32>(1u, 3u * (3u * i + j - 1u));
    } else if (j < 9u) {
        return vec2<u32>(2u, 3u * (5u * i + j - 4u));
    }
    return vec2<u32>(3u, 3u * (7u * i + j - 9u));
}

// SH coefficient j of Gaussian i (RGB).
fn sh_coeff(i: u32, j: u32) -> vec3<f32> {
    let s = sh_slot(i, j);
    let o = s.y;
    switch s.x {
        case 0u: {
            return vec3<f32>(sh0[o], sh0[o + 1u], sh0[o + 2u]);
        }
        case 1u: {
            return vec3<f32>(sh1[o], sh1[o + 1u], sh1[o + 2u]);
        }
        case 2u: {
            return vec3<f32>(sh2[o], sh2[o + 1u], sh2[o + 2u]);
        }
        default: {
            return vec3<f32>(sh3[o], sh3[o + 1u], sh3[o + 2u]);
        }
    }
}

// SH colour + 0.5, before the clamp at 0. The bands are written out with constant indices
// into the basis (here and in `project_backward`): a loop to the run-time coefficient count
// indexes the basis arrays dynamically, which keeps them in memory instead of registers
// (on lavapipe that made the backward projection three times the forward one).
fn sh_color(i: u32, dir: vec3<f32>) -> vec3<f32> {
    let k = view.counts.y;
    let b = sh_basis(k, dir, false);
    var c = vec3<f32>(0.5) + b.b[0] * sh_coeff(i, 0u);
    if (k > 1u) {
        c += b.b[1] * sh_coeff(i, 1u) + b.b[2] * sh_coeff(i, 2u) + b.b[3] * sh_coeff(i, 3u);
    }
    if (k > 4u) {
        c += b.b[4] * sh_coeff(i, 4u) + b.b[5] * sh_coeff(i, 5u) + b.b[6] * sh_coeff(i, 6u)
            + b.b[7] * sh_coeff(i, 7u) + b.b[8] * sh_coeff(i, 8u);
    }
    if (k > 9u) {
        c += b.b[9] * sh_coeff(i, 9u) + b.b[10] * sh_coeff(i, 10u) + b.b[11] * sh_coeff(i, 11u)
            + b.b[12] * sh_coeff(i, 12u) + b.b[13] * sh_coeff(i, 13u) + b.b[14] * sh_coeff(i, 14u)
            + b.b[15] * sh_coeff(i, 15u);
    }
    return c;
}

fn mean_of(i: u32) -> vec3<f32> {
    return vec3<f32>(means[3u * i], means[3u * i + 1u], means[3u * i + 2u]);
}

// World -> camera.
fn camera_point(m: vec3<f32>) -> vec3<f32> {
    return vec3<f32>(
        dot(view.rot0.xyz, m) + view.rot0.w,
        dot(view.rot1.xyz, m) + view.rot1.w,
        dot(view.rot2.xyz, m) + view.rot2.w,
    );
}

// The world -> camera rotation W.
fn view_rotation() -> mat3x3<f32> {
    return transpose(mat3x3<f32>(view.rot0.xyz, view.rot1.xyz, view.rot2.xyz));
}

// A Gaussian's 3D shape: normalised quaternion, its length, rotation R, scales s, and
// M = R diag(s) (so that Sigma = M M^T).
struct Shape3d {
    q: vec4<f32>,
    qlen: f32,
    rot: mat3x3<f32>,
    s: vec3<f32>,
    m: mat3x3<f32>,
}

fn shape_of(i: u32) -> Shape3d {
    var o: Shape3d;
    let raw = vec4<f32>(quats[4u * i], quats[4u * i + 1u], quats[4u * i + 2u], quats[4u * i + 3u]);
    o.qlen = length(raw);
    o.q = raw / o.qlen;
    let r = o.q.x;
    let x = o.q.y;
    let y = o.q.z;
    let z = o.q.w;
    // Columns of the rotation matrix.
    o.rot = mat3x3<f32>(
        vec3<f32>(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + r * z), 2.0 * (x * z - r * y)),
        vec3<f32>(2.0 * (x * y - r * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + r * x)),
        vec3<f32>(2.0 * (x * z + r * y), 2.0 * (y * z - r * x), 1.0 - 2.0 * (x * x + y * y)),
    );
    o.s = exp(vec3<f32>(log_scales[3u * i], log_scales[3u * i + 1u], log_scales[3u * i + 2u]));
    o.m = mat3x3<f32>(o.rot[0] * o.s.x, o.rot[1] * o.s.y, o.rot[2] * o.s.z);
    return o;
}

// The perspective Jacobian at camera point p, x/z and y/z clamped to the widened field of view;
// `u` holds the clamped ratios.
struct Jacobian {
    j: mat3x2<f32>,
    u: vec2<f32>,
}

fn jacobian_at(p: vec3<f32>) -> Jacobian {
    var o: Jacobian;
    o.u = vec2<f32>(clamp(p.x / p.z, -view.limits.x, view.limits.x), clamp(p.y / p.z, -view.limits.y, view.limits.y));
    let fx = view.focal.x;
    let fy = view.focal.y;
    o.j = mat3x2<f32>(
        vec2<f32>(fx / p.z, 0.0),
        vec2<f32>(0.0, fy / p.z),
        vec2<f32>(-fx * o.u.x / p.z, -fy * o.u.y / p.z),
    );
    return o;
}

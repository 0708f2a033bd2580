// Shared by rasterize_forward.wgsl and rasterize_backward.wgsl (the host concatenates this file
// in front of each): the view uniform, constants, the per-Gaussian parameter and per-frame buffer
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
    // Gaussians, SH coefficients per channel, number of keys, unused.
    counts: vec4<u32>,
}

const TILE: u32 = 16u;
const BATCH: u32 = 256u;
const ALPHA_MAX: f32 = 0.99;
const ALPHA_MIN: f32 = 0.003921568627450980; // 1/255
const T_MIN: f32 = 0.0001;
const DILATION: f32 = 0.3;

const SH_C0: f32 = 0.28209479177387814;
const SH_C1: f32 = 0.4886025119029199;
const SH_C2 = array<f32, 5>(1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396);
const SH_C3 = array<f32, 7>(-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154, -0.4570457994644658, 1.445305721320277, -0.5900435899266435);

@group(0) @binding(0) var<uniform> view: ViewParams;
@group(0) @binding(1) var<storage, read> means: array<f32>;
@group(0) @binding(2) var<storage, read> log_scales: array<f32>;
@group(0) @binding(3) var<storage, read> quats: array<f32>;
@group(0) @binding(4) var<storage, read> opacities: array<f32>;
@group(0) @binding(5) var<storage, read> sh: array<f32>;
@group(0) @binding(6) var<storage, read_write> xy_depth: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> conic_opacity: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> colors: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> rects: array<vec4<u32>>;
@group(0) @binding(10) var<storage, read_write> touched: array<u32>;
@group(0) @binding(11) var<storage, read_write> keys_lo: array<u32>;
@group(0) @binding(12) var<storage, read_write> keys_hi: array<u32>;
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

fn sh_color(i: u32, dir: vec3<f32>) -> vec3<f32> {
    let k = view.counts.y;
    let base = i * k * 3u;
    var c = SH_C0 * vec3<f32>(sh[base], sh[base + 1u], sh[base + 2u]);
    if (k > 1u) {
        let x = dir.x;
        let y = dir.y;
        let z = dir.z;
        var b: array<f32, 16>;
        b[1] = -SH_C1 * y;
        b[2] = SH_C1 * z;
        b[3] = -SH_C1 * x;
        if (k > 4u) {
            let xx = x * x;
            let yy = y * y;
            let zz = z * z;
            b[4] = SH_C2[0] * x * y;
            b[5] = SH_C2[1] * y * z;
            b[6] = SH_C2[2] * (2.0 * zz - xx - yy);
            b[7] = SH_C2[3] * x * z;
            b[8] = SH_C2[4] * (xx - yy);
            if (k > 9u) {
                b[9] = SH_C3[0] * y * (3.0 * xx - yy);
                b[10] = SH_C3[1] * x * y * z;
                b[11] = SH_C3[2] * y * (4.0 * zz - xx - yy);
                b[12] = SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy);
                b[13] = SH_C3[4] * x * (4.0 * zz - xx - yy);
                b[14] = SH_C3[5] * z * (xx - yy);
                b[15] = SH_C3[6] * x * (xx - 3.0 * yy);
            }
        }
        for (var j = 1u; j < k; j++) {
            let o = base + 3u * j;
            c += b[j] * vec3<f32>(sh[o], sh[o + 1u], sh[o + 2u]);
        }
    }
    return c + vec3<f32>(0.5);
}


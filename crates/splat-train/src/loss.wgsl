// The photometric loss of the 3DGS paper and its gradient: (1-λ)·L1 + λ·(1 − SSIM), SSIM with an
// 11x11 Gaussian window (σ = 1.5), zero padding, C1 = 0.01², C2 = 0.03², averaged over pixels and
// channels. Separable passes, one thread per pixel:
//   blur_h_stats   horizontal blur of x, y, x², y², xy          -> t0..t4
//   ssim_map       vertical blur, SSIM per pixel and its partials A, B, C (-> m0..m2), and per
//                  workgroup the sums of SSIM and |x − y| (deterministic tree) -> partial_sums
//   blur_h_partials horizontal blur of A, B, C                   -> t0..t2
//   loss_grad      vertical blur, dL/dx = ((1−λ)·sign(x−y) − λ·(G⋆A + 2x·G⋆B + y·G⋆C)) / N
// x is the render (`[r, g, b, a]` f32), y the ground truth: a photo packed at 8 bits a channel
// (`unpack4x8unorm`: red in the low byte), 4 bytes a pixel instead of 16, so that four times as
// many photos fit the GPU's image cache; the render's alpha is carried but not used.

struct LossParams {
    width: u32,
    height: u32,
    // Weight of the D-SSIM term.
    lambda: f32,
    // 1 / (pixels · 3).
    inv_count: f32,
}

// C1, C2 and RADIUS come from the host (`constants.rs`, shared with the f64 reference).
// G (the window's weights for offsets 0..5) comes from the host too.

@group(0) @binding(0) var<uniform> lp: LossParams;
@group(0) @binding(1) var<storage, read> render: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> target_img: array<u32>;
@group(0) @binding(3) var<storage, read_write> t0: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> t1: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> t2: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> t3: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> t4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> m0: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> m1: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> m2: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> partial_sums: array<vec2<f32>>;
@group(0) @binding(12) var<storage, read_write> d_image: array<vec4<f32>>;

var<workgroup> sums: array<vec2<f32>, 256>;

fn pixel_of(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

// The photo's colour at pixel `p`, each channel in [0, 1].
fn photo(p: u32) -> vec3<f32> {
    return unpack4x8unorm(target_img[p]).xyz;
}

fn weight(k: i32) -> f32 {
    return G[abs(k)];
}

@compute @workgroup_size(256)
fn blur_h_stats(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = pixel_of(gid, nwg);
    if (p >= lp.width * lp.height) {
        return;
    }
    let x0 = i32(p % lp.width);
    let row = p - p % lp.width;
    var sx = vec3<f32>(0.0);
    var sy = vec3<f32>(0.0);
    var sxx = vec3<f32>(0.0);
    var syy = vec3<f32>(0.0);
    var sxy = vec3<f32>(0.0);
    for (var k = -RADIUS; k <= RADIUS; k++) {
        let xx = x0 + k;
        if (xx < 0 || xx >= i32(lp.width)) {
            continue;
        }
        let w = weight(k);
        let a = render[row + u32(xx)].xyz;
        let b = photo(row + u32(xx));
        sx += w * a;
        sy += w * b;
        sxx += w * a * a;
        syy += w * b * b;
        sxy += w * a * b;
    }
    t0[p] = vec4<f32>(sx, 0.0);
    t1[p] = vec4<f32>(sy, 0.0);
    t2[p] = vec4<f32>(sxx, 0.0);
    t3[p] = vec4<f32>(syy, 0.0);
    t4[p] = vec4<f32>(sxy, 0.0);
}

@compute @workgroup_size(256)
fn ssim_map(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let p = pixel_of(gid, nwg);
    var local_sums = vec2<f32>(0.0);
    if (p < lp.width * lp.height) {
        let x0 = p % lp.width;
        let y0 = i32(p / lp.width);
        var mx = vec3<f32>(0.0);
        var my = vec3<f32>(0.0);
        var exx = vec3<f32>(0.0);
        var eyy = vec3<f32>(0.0);
        var exy = vec3<f32>(0.0);
        for (var k = -RADIUS; k <= RADIUS; k++) {
            let yy = y0 + k;
            if (yy < 0 || yy >= i32(lp.height)) {
                continue;
            }
            let w = weight(k);
            let q = u32(yy) * lp.width + x0;
            mx += w * t0[q].xyz;
            my += w * t1[q].xyz;
            exx += w * t2[q].xyz;
            eyy += w * t3[q].xyz;
            exy += w * t4[q].xyz;
        }
        let vx = exx - mx * mx;
        let vy = eyy - my * my;
        let cxy = exy - mx * my;
        let a = 2.0 * mx * my + C1;
        let b = 2.0 * cxy + C2;
        let c = mx * mx + my * my + C1;
        let d = vx + vy + C2;
        let s = a * b / (c * d);
        let ds_dmx = 2.0 * my * b / (c * d) - s * 2.0 * mx / c;
        let ds_dvx = -s / d;
        let ds_dcxy = 2.0 * a / (c * d);
        m0[p] = vec4<f32>(ds_dmx - 2.0 * mx * ds_dvx - my * ds_dcxy, 0.0);
        m1[p] = vec4<f32>(ds_dvx, 0.0);
        m2[p] = vec4<f32>(ds_dcxy, 0.0);
        let diff = abs(render[p].xyz - photo(p));
        local_sums = vec2<f32>(s.x + s.y + s.z, diff.x + diff.y + diff.z);
    }
    sums[li] = local_sums;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (li < stride) {
            sums[li] += sums[li + stride];
        }
        workgroupBarrier();
    }
    let group = wid.x + wid.y * nwg.x;
    if (li == 0u && group < (lp.width * lp.height + 255u) / 256u) {
        partial_sums[group] = sums[0];
    }
}

@compute @workgroup_size(256)
fn blur_h_partials(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = pixel_of(gid, nwg);
    if (p >= lp.width * lp.height) {
        return;
    }
    let x0 = i32(p % lp.width);
    let row = p - p % lp.width;
    var sa = vec3<f32>(0.0);
    var sb = vec3<f32>(0.0);
    var sc = vec3<f32>(0.0);
    for (var k = -RADIUS; k <= RADIUS; k++) {
        let xx = x0 + k;
        if (xx < 0 || xx >= i32(lp.width)) {
            continue;
        }
        let w = weight(k);
        let q = row + u32(xx);
        sa += w * m0[q].xyz;
        sb += w * m1[q].xyz;
        sc += w * m2[q].xyz;
    }
    t0[p] = vec4<f32>(sa, 0.0);
    t1[p] = vec4<f32>(sb, 0.0);
    t2[p] = vec4<f32>(sc, 0.0);
}

@compute @workgroup_size(256)
fn loss_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = pixel_of(gid, nwg);
    if (p >= lp.width * lp.height) {
        return;
    }
    let x0 = p % lp.width;
    let y0 = i32(p / lp.width);
    var ga = vec3<f32>(0.0);
    var gb = vec3<f32>(0.0);
    var gc = vec3<f32>(0.0);
    for (var k = -RADIUS; k <= RADIUS; k++) {
        let yy = y0 + k;
        if (yy < 0 || yy >= i32(lp.height)) {
            continue;
        }
        let w = weight(k);
        let q = u32(yy) * lp.width + x0;
        ga += w * t0[q].xyz;
        gb += w * t1[q].xyz;
        gc += w * t2[q].xyz;
    }
    let x = render[p].xyz;
    let y = photo(p);
    let d_ssim = ga + 2.0 * x * gb + y * gc;
    let grad = ((1.0 - lp.lambda) * sign(x - y) - lp.lambda * d_ssim) * lp.inv_count;
    d_image[p] = vec4<f32>(grad, 0.0);
}

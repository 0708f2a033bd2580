// Backward pass of the tile rasterizer (the maths of `splat_train::reference::backward`, in f32).
// No float atomics: every sum has a fixed order, so two runs give the same bits.
//   rasterize_backward  one 16x16 workgroup per tile, keys back to front from the tile's last
//                       contributor: each pixel's gradient with respect to the Gaussian's screen
//                       parameters, summed over the tile (each row's 16 pixels in order, then
//                       the 16 rows in order; two barriers per key) into `key_grads` at the key's
//                       emission index
//   (rasterize_backward_subgroup.wgsl holds the same pass with subgroup sums.)
//   project_backward    one thread per Gaussian: its keys' gradients summed in emission order, then
//                       pushed through the projection to the stored parameters
//   accumulate_weights  one thread per Gaussian: with dL/d(red) = 1 at every pixel, a key's red
//                       colour gradient is the Gaussian's blending weight (alpha T) summed over
//                       the tile; their sum over its keys is added to `blend_weights`

// Per pixel: dL/d(r, g, b) and dL/d(alpha).
@group(0) @binding(19) var<storage, read> d_image: array<vec4<f32>>;
// Per key (emission order), three vec4: (mean2d xy, conic ab), (conic c, opacity, colour rg),
// (colour b, unused x3).
@group(0) @binding(20) var<storage, read_write> key_grads: array<KeyGrad>;

struct KeyGrad {
    a: vec4<f32>,
    b: vec4<f32>,
    c: vec4<f32>,
}
// Per Gaussian: mean xyz, log-scale xyz, quaternion wxyz, opacity logit, mean2d xy (pixels), unused x2.
@group(0) @binding(21) var<storage, read_write> grad_geom: array<array<f32, GEOM_STRIDE>>;
// Per band, in the layout of sh0..sh3.
@group(0) @binding(22) var<storage, read_write> grad_sh0: array<f32>;
@group(0) @binding(26) var<storage, read_write> grad_sh1: array<f32>;
@group(0) @binding(27) var<storage, read_write> grad_sh2: array<f32>;
@group(0) @binding(28) var<storage, read_write> grad_sh3: array<f32>;

// Per Gaussian: blending weight summed over the pixels of every frame accumulated so far.
@group(0) @binding(29) var<storage, read_write> blend_weights: array<f32>;

fn set_grad_sh(i: u32, j: u32, v: vec3<f32>) {
    let s = sh_slot(i, j);
    let o = s.y;
    switch s.x {
        case 0u: {
            grad_sh0[o] = v.x;
            grad_sh0[o + 1u] = v.y;
            grad_sh0[o + 2u] = v.z;
        }
        case 1u: {
            grad_sh1[o] = v.x;
            grad_sh1[o + 1u] = v.y;
            grad_sh1[o + 2u] = v.z;
        }
        case 2u: {
            grad_sh2[o] = v.x;
            grad_sh2[o + 1u] = v.y;
            grad_sh2[o + 2u] = v.z;
        }
        default: {
            grad_sh3[o] = v.x;
            grad_sh3[o + 1u] = v.y;
            grad_sh3[o + 2u] = v.z;
        }
    }
}

// One pixel's running state while its keys are walked back to front.
struct PixelState {
    // Forward position (1-based) of the pixel's last contributing key; 0: none.
    last: u32,
    t_final: f32,
    dpix: vec3<f32>,
    dalpha: f32,
    bg_dot: f32,
    // Transmittance in front of the current key.
    t: f32,
    // Colour composited behind the current key, and the previous (further) key's alpha and colour.
    behind: vec3<f32>,
    last_alpha: f32,
    last_color: vec3<f32>,
}

struct Contribution {
    g: KeyGrad,
    has: bool,
}

fn pixel_start(inside: bool, pix: u32) -> PixelState {
    var st: PixelState;
    st.t_final = 1.0;
    if (inside) {
        st.last = out_last[pix];
        st.t_final = 1.0 - out_color[pix].w;
        let d = d_image[pix];
        st.dpix = d.xyz;
        st.dalpha = d.w;
    }
    st.bg_dot = dot(view.background.xyz, st.dpix);
    st.t = st.t_final;
    return st;
}

// The pixel's gradient with respect to one key's screen parameters (zero where the key does not
// touch it), advancing the pixel's state past that key. `live`: the pixel is inside the image
// and the key is at or before its last contributor.
fn pixel_gradient(
    st: ptr<function, PixelState>,
    live: bool,
    centre: vec2<f32>,
    xy: vec2<f32>,
    co: vec4<f32>,
    col: vec3<f32>,
) -> Contribution {
    var out: Contribution;
    if (!live) {
        return out;
    }
    let d = xy - centre;
    let power = -0.5 * (co.x * d.x * d.x + co.z * d.y * d.y) - co.y * d.x * d.y;
    let gauss = exp(power);
    let raw = co.w * gauss;
    let alpha = min(ALPHA_MAX, raw);
    if (power > 0.0 || alpha < ALPHA_MIN) {
        return out;
    }
    out.has = true;
    (*st).t = (*st).t / (1.0 - alpha);
    let t = (*st).t;
    let dcol = (alpha * t) * (*st).dpix;
    (*st).behind = (*st).last_alpha * (*st).last_color + (1.0 - (*st).last_alpha) * (*st).behind;
    (*st).last_alpha = alpha;
    (*st).last_color = col;
    var dl_dalpha = dot(col - (*st).behind, (*st).dpix) * t;
    dl_dalpha += ((*st).dalpha - (*st).bg_dot) * (*st).t_final / (1.0 - alpha);
    out.g.b = vec4<f32>(0.0, 0.0, dcol.x, dcol.y);
    out.g.c = vec4<f32>(dcol.z, 0.0, 0.0, 0.0);
    if (raw <= ALPHA_MAX) {
        let dl_dpower = dl_dalpha * alpha;
        out.g.a = dl_dpower * vec4<f32>(-(co.x * d.x + co.y * d.y), -(co.z * d.y + co.y * d.x), -0.5 * d.x * d.x, -d.x * d.y);
        out.g.b.x = dl_dpower * -0.5 * d.y * d.y;
        out.g.b.y = gauss * dl_dalpha;
    }
    return out;
}

var<workgroup> b_key: array<u32, BATCH>;
var<workgroup> b_xy: array<vec2<f32>, BATCH>;
var<workgroup> b_conic: array<vec4<f32>, BATCH>;
var<workgroup> b_color: array<vec4<f32>, BATCH>;
var<workgroup> red: array<KeyGrad, BATCH>;
var<workgroup> row_sums: array<KeyGrad, TILE>;
// Per row, which pixels wrote a non-zero contribution to `red` for the current key.
var<workgroup> row_mask: array<atomic<u32>, TILE>;
var<workgroup> bw_range: vec2<u32>;
var<workgroup> max_last: atomic<u32>;
var<workgroup> max_last_plain: u32;

// The tile's first key and one past the last key any of its pixels uses (keys past every pixel's
// last contributor have zero gradient; the buffer is cleared). Workgroup-uniform; has barriers.
fn tile_keys(li: u32, tile: u32, inside: bool, last: u32) -> vec2<u32> {
    if (li == 0u) {
        bw_range = ranges[tile];
        atomicStore(&max_last, 0u);
    }
    workgroupBarrier();
    if (inside) {
        atomicMax(&max_last, last);
    }
    workgroupBarrier();
    if (li == 0u) {
        max_last_plain = atomicLoad(&max_last);
    }
    let first = workgroupUniformLoad(&bw_range).x;
    return vec2<u32>(first, first + workgroupUniformLoad(&max_last_plain));
}

// Loads keys k_top, k_top-1, ... (in_batch of them) into workgroup memory, between barriers;
// `lanes` invocations share the work.
fn load_batch(li: u32, lanes: u32, k_top: u32, in_batch: u32) {
    workgroupBarrier();
    for (var i = li; i < in_batch; i += lanes) {
        let e = key_values[k_top - i];
        let g = owner[e];
        b_key[i] = e;
        b_xy[i] = xy_depth[g].xy;
        b_conic[i] = conic_opacity[g];
        b_color[i] = colors[g];
    }
    workgroupBarrier();
}

@compute @workgroup_size(16, 16)
fn rasterize_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let px = wid.x * TILE + lid.x;
    let py = wid.y * TILE + lid.y;
    let inside = px < view.size.x && py < view.size.y;
    let pix = py * view.size.x + px;
    if (li < TILE) {
        atomicStore(&row_mask[li], 0u);
    }
    var st = pixel_start(inside, pix);
    let keys = tile_keys(li, wid.y * view.size.z + wid.x, inside, st.last);
    let range = keys.x;
    let end = keys.y;
    let centre = vec2<f32>(f32(px) + 0.5, f32(py) + 0.5);
    let count = end - range;
    let rounds = (count + BATCH - 1u) / BATCH;
    for (var round = 0u; round < rounds; round++) {
        // Batch `round` holds keys end-1-round*BATCH downwards.
        let k_top = end - 1u - round * BATCH;
        let in_batch = min(BATCH, count - round * BATCH);
        load_batch(li, TILE * TILE, k_top, in_batch);
        for (var j = 0u; j < in_batch; j++) {
            // Forward position (1-based) of this key within the tile.
            let position = k_top - j - range + 1u;
            let c = pixel_gradient(&st, inside && position <= st.last, centre, b_xy[j], b_conic[j], b_color[j].xyz);
            // Only pixels the Gaussian touches write; most (pixel, key) pairs are empty.
            if (c.has) {
                red[li] = c.g;
                atomicOr(&row_mask[lid.y], 1u << lid.x);
            }
            workgroupBarrier();
            // Row sums in pixel order, then the tile sum in row order.
            if (lid.x == 0u) {
                var mask = atomicLoad(&row_mask[lid.y]);
                atomicStore(&row_mask[lid.y], 0u);
                var acc: KeyGrad;
                while (mask != 0u) {
                    let x = firstTrailingBit(mask);
                    mask &= mask - 1u;
                    let r = red[li + x];
                    acc.a += r.a;
                    acc.b += r.b;
                    acc.c += r.c;
                }
                row_sums[lid.y] = acc;
            }
            workgroupBarrier();
            if (li == 0u) {
                var acc = row_sums[0];
                for (var y = 1u; y < TILE; y++) {
                    let r = row_sums[y];
                    acc.a += r.a;
                    acc.b += r.b;
                    acc.c += r.c;
                }
                key_grads[b_key[j]] = acc;
            }
        }
    }
}

// SH coefficient j's gradient (colour gradient `dcol` times its basis value `bj`), written; returns
// its term of the gradient with respect to the view direction (`gj`: the basis value's gradient).
fn sh_term_backward(i: u32, j: u32, bj: f32, gj: vec3<f32>, dcol: vec3<f32>) -> vec3<f32> {
    set_grad_sh(i, j, dcol * bj);
    return gj * dot(dcol, sh_coeff(i, j));
}

@compute @workgroup_size(256)
fn project_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= view.counts.x) {
        return;
    }
    var out: array<f32, GEOM_STRIDE>;
    let k = view.counts.y;
    let rect = rects[i];
    let n_keys = (rect.z - rect.x) * (rect.w - rect.y);
    if (rect.z <= rect.x || rect.w <= rect.y) {
        grad_geom[i] = out;
        for (var j = 0u; j < k; j++) {
            set_grad_sh(i, j, vec3<f32>(0.0));
        }
        return;
    }
    // Sum this Gaussian's keys in emission order.
    var sa = vec4<f32>(0.0);
    var sb = vec4<f32>(0.0);
    var sc = vec4<f32>(0.0);
    let first = touched[i];
    for (var e = first; e < first + n_keys; e++) {
        let kg = key_grads[e];
        sa += kg.a;
        sb += kg.b;
        sc += kg.c;
    }
    let d_mean2d = sa.xy;
    let d_conic = vec3<f32>(sa.z, sa.w, sb.x);
    let co = conic_opacity[i];
    out[GEOM_MEAN2D] = d_mean2d.x;
    out[GEOM_MEAN2D + 1u] = d_mean2d.y;
    out[GEOM_OPACITY] = sb.y * co.w * (1.0 - co.w);

    // Colour -> SH and view direction.
    let m = mean_of(i);
    let v = m - view.campos.xyz;
    let vn = length(v);
    let dir = v / vn;
    // The forward pass stored the colour clamped at 0: a channel at 0 passes no gradient.
    let dcol = select(vec3<f32>(sb.z, sb.w, sc.x), vec3<f32>(0.0), colors[i].xyz <= vec3<f32>(0.0));
    // Band by band with constant indices, as in `sh_color`.
    let b = sh_basis(k, dir, true);
    set_grad_sh(i, 0u, dcol * b.b[0]);
    var d_dir = vec3<f32>(0.0);
    if (k > 1u) {
        d_dir += sh_term_backward(i, 1u, b.b[1], b.g[1], dcol) + sh_term_backward(i, 2u, b.b[2], b.g[2], dcol)
            + sh_term_backward(i, 3u, b.b[3], b.g[3], dcol);
    }
    if (k > 4u) {
        d_dir += sh_term_backward(i, 4u, b.b[4], b.g[4], dcol) + sh_term_backward(i, 5u, b.b[5], b.g[5], dcol)
            + sh_term_backward(i, 6u, b.b[6], b.g[6], dcol) + sh_term_backward(i, 7u, b.b[7], b.g[7], dcol)
            + sh_term_backward(i, 8u, b.b[8], b.g[8], dcol);
    }
    if (k > 9u) {
        d_dir += sh_term_backward(i, 9u, b.b[9], b.g[9], dcol) + sh_term_backward(i, 10u, b.b[10], b.g[10], dcol)
            + sh_term_backward(i, 11u, b.b[11], b.g[11], dcol) + sh_term_backward(i, 12u, b.b[12], b.g[12], dcol)
            + sh_term_backward(i, 13u, b.b[13], b.g[13], dcol) + sh_term_backward(i, 14u, b.b[14], b.g[14], dcol)
            + sh_term_backward(i, 15u, b.b[15], b.g[15], dcol);
    }
    var d_mean = (d_dir - dir * dot(dir, d_dir)) / vn;

    // Conic -> 2D covariance.
    let q2 = mat2x2<f32>(vec2<f32>(co.x, co.y), vec2<f32>(co.y, co.z));
    let dq = mat2x2<f32>(vec2<f32>(d_conic.x, 0.5 * d_conic.y), vec2<f32>(0.5 * d_conic.y, d_conic.z));
    let d_cov2 = (q2 * dq * q2) * -1.0;

    // Recompute the forward quantities.
    let p = camera_point(m);
    let shape = shape_of(i);
    let q = shape.q;
    let qlen = shape.qlen;
    let qr = q.x;
    let qx = q.y;
    let qy = q.z;
    let qz = q.w;
    let rot = shape.rot;
    let s = shape.s;
    let mm = shape.m;
    let sigma = mm * transpose(mm);
    let fx = view.focal.x;
    let fy = view.focal.y;
    let rx = p.x / p.z;
    let ry = p.y / p.z;
    let jacobian = jacobian_at(p);
    let ux = jacobian.u.x;
    let uy = jacobian.u.y;
    let w = view_rotation();
    let tm = jacobian.j * w;
    let d_sigma = transpose(tm) * d_cov2 * tm;
    let d_t = 2.0 * (d_cov2 * tm * sigma);
    let d_j = d_t * transpose(w);

    // J -> camera point.
    let z1 = p.z;
    let z2 = p.z * p.z;
    var dux_dx = 1.0 / z1;
    var dux_dz = -p.x / z2;
    if (ux != rx) {
        dux_dx = 0.0;
        dux_dz = 0.0;
    }
    var duy_dy = 1.0 / z1;
    var duy_dz = -p.y / z2;
    if (uy != ry) {
        duy_dy = 0.0;
        duy_dz = 0.0;
    }
    // d_j[col][row]: J00 = d_j[0][0], J11 = d_j[1][1], J02 = d_j[2][0], J12 = d_j[2][1].
    var d_pc = vec3<f32>(0.0);
    d_pc.z += d_j[0][0] * (-fx / z2) + d_j[1][1] * (-fy / z2);
    d_pc.x += d_j[2][0] * (-fx / z1 * dux_dx);
    d_pc.z += d_j[2][0] * (fx * ux / z2 - fx / z1 * dux_dz);
    d_pc.y += d_j[2][1] * (-fy / z1 * duy_dy);
    d_pc.z += d_j[2][1] * (fy * uy / z2 - fy / z1 * duy_dz);
    d_pc.x += d_mean2d.x * fx / z1;
    d_pc.y += d_mean2d.y * fy / z1;
    d_pc.z += -d_mean2d.x * fx * p.x / z2 - d_mean2d.y * fy * p.y / z2;
    d_mean += transpose(w) * d_pc;
    out[GEOM_MEAN] = d_mean.x;
    out[GEOM_MEAN + 1u] = d_mean.y;
    out[GEOM_MEAN + 2u] = d_mean.z;

    // Sigma = M M^T, M = R diag(s).
    let d_m = 2.0 * (d_sigma * mm);
    out[GEOM_SCALE] = dot(d_m[0], rot[0]) * s.x;
    out[GEOM_SCALE + 1u] = dot(d_m[1], rot[1]) * s.y;
    out[GEOM_SCALE + 2u] = dot(d_m[2], rot[2]) * s.z;
    let d_r = mat3x3<f32>(d_m[0] * s.x, d_m[1] * s.y, d_m[2] * s.z);
    // dR/dq for the normalised quaternion, summed against d_r (column-major: d_r[col][row]).
    let g_r = 2.0 * (-qz * d_r[1][0] + qy * d_r[2][0] + qz * d_r[0][1] - qx * d_r[2][1] - qy * d_r[0][2] + qx * d_r[1][2]);
    let g_x = 2.0 * (qy * d_r[1][0] + qz * d_r[2][0] + qy * d_r[0][1] - 2.0 * qx * d_r[1][1] - qr * d_r[2][1] + qz * d_r[0][2] + qr * d_r[1][2] - 2.0 * qx * d_r[2][2]);
    let g_y = 2.0 * (-2.0 * qy * d_r[0][0] + qx * d_r[1][0] + qr * d_r[2][0] + qx * d_r[0][1] + qz * d_r[2][1] - qr * d_r[0][2] + qz * d_r[1][2] - 2.0 * qy * d_r[2][2]);
    let g_z = 2.0 * (-2.0 * qz * d_r[0][0] - qr * d_r[1][0] + qx * d_r[2][0] + qr * d_r[0][1] - 2.0 * qz * d_r[1][1] + qy * d_r[2][1] + qx * d_r[0][2] + qy * d_r[1][2]);
    let d_qn = vec4<f32>(g_r, g_x, g_y, g_z);
    let d_q = (d_qn - q * dot(q, d_qn)) / qlen;
    out[GEOM_QUAT] = d_q.x;
    out[GEOM_QUAT + 1u] = d_q.y;
    out[GEOM_QUAT + 2u] = d_q.z;
    out[GEOM_QUAT + 3u] = d_q.w;
    grad_geom[i] = out;
}

@compute @workgroup_size(256)
fn accumulate_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= view.counts.x) {
        return;
    }
    let rect = rects[i];
    if (rect.z <= rect.x || rect.w <= rect.y) {
        return;
    }
    let n_keys = (rect.z - rect.x) * (rect.w - rect.y);
    let first = touched[i];
    var sum = 0.0;
    for (var e = first; e < first + n_keys; e++) {
        sum += key_grads[e].b.z;
    }
    blend_weights[i] += sum;
}

// The tile pass of the backward rasterizer with subgroup sums, for devices that have subgroups of
// at least 8 invocations (appended to rasterize_common.wgsl and rasterize_backward.wgsl; the device
// needs wgpu's SUBGROUP feature). Same per-pixel maths as `rasterize_backward` (`pixel_gradient`); only the
// sum over the tile's 256 pixels differs: each subgroup adds its lanes with `subgroupAdd`, its
// first lane parks the partial sum, and every SG_KEYS keys the partials are summed in subgroup
// order. Two barriers per SG_KEYS keys instead of two per key, and no serial per-row loops.
// Subgroup sums have a fixed order on a given device and driver, so runs stay bit-identical.

const SG_KEYS: u32 = 8u;
// 256 invocations in subgroups of at least 8.
const SG_MAX: u32 = 32u;

// Per (key of the current group of SG_KEYS, subgroup): the subgroup's sum, as three vec4.
var<workgroup> sg_partial: array<vec4<f32>, 768>; // SG_KEYS * SG_MAX * 3

// A one-dimensional workgroup (Naga's subgroup built-ins need one), pixel li of the tile row-major.
@compute @workgroup_size(256)
fn rasterize_backward_subgroup(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_id) sub: u32,
    @builtin(num_subgroups) subgroups: u32,
) {
    let px = wid.x * TILE + li % TILE;
    let py = wid.y * TILE + li / TILE;
    let inside = px < view.size.x && py < view.size.y;
    let pix = py * view.size.x + px;
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
        load_batch(li, k_top, in_batch);
        for (var j0 = 0u; j0 < in_batch; j0 += SG_KEYS) {
            let group = min(SG_KEYS, in_batch - j0);
            for (var s = 0u; s < group; s++) {
                let j = j0 + s;
                // Forward position (1-based) of this key within the tile.
                let position = k_top - j - range + 1u;
                let c = pixel_gradient(&st, inside && position <= st.last, centre, b_xy[j], b_conic[j], b_color[j].xyz);
                // Most (pixel, key) pairs are empty: a subgroup none of whose pixels the key
                // touches skips the adds and parks zeros.
                var a = vec4<f32>(0.0);
                var b = vec4<f32>(0.0);
                var cc = vec4<f32>(0.0);
                if (subgroupAny(c.has)) {
                    a = subgroupAdd(c.g.a);
                    b = subgroupAdd(c.g.b);
                    cc = subgroupAdd(c.g.c);
                }
                if (lane == 0u) {
                    let slot = 3u * (s * SG_MAX + sub);
                    sg_partial[slot] = a;
                    sg_partial[slot + 1u] = b;
                    sg_partial[slot + 2u] = cc;
                }
            }
            workgroupBarrier();
            // One invocation per (key, vec4): the subgroups' partials in subgroup order.
            if (li < 3u * group) {
                let s = li / 3u;
                let part = li % 3u;
                var acc = vec4<f32>(0.0);
                for (var u = 0u; u < subgroups; u++) {
                    acc += sg_partial[3u * (s * SG_MAX + u) + part];
                }
                let e = b_key[j0 + s];
                switch part {
                    case 0u: {
                        key_grads[e].a = acc;
                    }
                    case 1u: {
                        key_grads[e].b = acc;
                    }
                    default: {
                        key_grads[e].c = acc;
                    }
                }
            }
            workgroupBarrier();
        }
    }
}

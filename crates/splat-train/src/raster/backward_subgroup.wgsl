// The tile pass of the backward rasterizer with subgroup sums, for devices that have subgroups of
// at least 8 invocations (appended to rasterize_common.wgsl and rasterize_backward.wgsl; the device
// needs wgpu's SUBGROUP feature). Same per-pixel maths as `rasterize_backward` (`pixel_gradient`);
// only the sum over the tile's 256 pixels differs. Each of 32 invocations walks PIXELS pixels of
// the tile (rows r, r+2, ..., r+14 of one column) and adds their contributions to a key in
// registers first, so the cross-invocation sums run over 32 invocations instead of 256: each
// subgroup adds its lanes with `subgroupAdd` (nine floats: the third vec4 of a key's gradient has
// one used component), its first lane parks the partial sum, and every SG_KEYS keys the partials
// are summed in subgroup order. Subgroup reductions cost far more than the pixel maths on CPU
// devices (lavapipe loops over the lanes of each one), and on GPUs eight independent pixels per
// invocation overlap their latencies and halve the instructions per key. Every sum has a fixed
// order on a given device and driver, so runs stay bit-identical.

const SG_KEYS: u32 = 8u;
// Pixels per invocation, and invocations per tile.
const PIXELS: u32 = 8u;
const LANES: u32 = 32u; // TILE * TILE / PIXELS
// 32 invocations in subgroups of at least 8.
const SG_MAX: u32 = 4u;

// Per (key of the current group of SG_KEYS, subgroup): the subgroup's sum, as three vec4.
var<workgroup> sg_partial: array<vec4<f32>, 96>; // SG_KEYS * SG_MAX * 3

// Pixel `q` (0..PIXELS) of invocation `li` in tile `wid`: column li % 16, row li / 16 + 2q.
fn tile_pixel(wid: vec3<u32>, li: u32, q: u32) -> vec2<u32> {
    let t = li + q * LANES;
    return vec2<u32>(wid.x * TILE + t % TILE, wid.y * TILE + t / TILE);
}

fn tile_pixel_start(wid: vec3<u32>, li: u32, q: u32) -> PixelState {
    let p = tile_pixel(wid, li, q);
    let inside = p.x < view.size.x && p.y < view.size.y;
    return pixel_start(inside, p.y * view.size.x + p.x);
}

fn tile_pixel_centre(wid: vec3<u32>, li: u32, q: u32) -> vec2<f32> {
    return vec2<f32>(tile_pixel(wid, li, q)) + 0.5;
}

// A one-dimensional workgroup (Naga's subgroup built-ins need one).
@compute @workgroup_size(32)
fn rasterize_backward_subgroup(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_id) sub: u32,
    @builtin(num_subgroups) subgroups: u32,
) {
    // The eight pixels, each with its own running state (explicit variables, not an array, so
    // that every compiler keeps them in registers). A pixel outside the image has no last
    // contributor (`last` 0), so `position <= last` below is false for it.
    var s0 = tile_pixel_start(wid, li, 0u);
    var s1 = tile_pixel_start(wid, li, 1u);
    var s2 = tile_pixel_start(wid, li, 2u);
    var s3 = tile_pixel_start(wid, li, 3u);
    var s4 = tile_pixel_start(wid, li, 4u);
    var s5 = tile_pixel_start(wid, li, 5u);
    var s6 = tile_pixel_start(wid, li, 6u);
    var s7 = tile_pixel_start(wid, li, 7u);
    let c0 = tile_pixel_centre(wid, li, 0u);
    let c1 = tile_pixel_centre(wid, li, 1u);
    let c2 = tile_pixel_centre(wid, li, 2u);
    let c3 = tile_pixel_centre(wid, li, 3u);
    let c4 = tile_pixel_centre(wid, li, 4u);
    let c5 = tile_pixel_centre(wid, li, 5u);
    let c6 = tile_pixel_centre(wid, li, 6u);
    let c7 = tile_pixel_centre(wid, li, 7u);
    let last = max(max(max(s0.last, s1.last), max(s2.last, s3.last)), max(max(s4.last, s5.last), max(s6.last, s7.last)));
    let keys = tile_keys(li, wid.y * view.size.z + wid.x, true, last);
    let range = keys.x;
    let end = keys.y;
    let count = end - range;
    let rounds = (count + BATCH - 1u) / BATCH;
    for (var round = 0u; round < rounds; round++) {
        // Batch `round` holds keys end-1-round*BATCH downwards.
        let k_top = end - 1u - round * BATCH;
        let in_batch = min(BATCH, count - round * BATCH);
        load_batch(li, LANES, k_top, in_batch);
        for (var j0 = 0u; j0 < in_batch; j0 += SG_KEYS) {
            let group = min(SG_KEYS, in_batch - j0);
            for (var s = 0u; s < group; s++) {
                let j = j0 + s;
                // Forward position (1-based) of this key within the tile.
                let position = k_top - j - range + 1u;
                let xy = b_xy[j];
                let co = b_conic[j];
                let col = b_color[j].xyz;
                let g0 = pixel_gradient(&s0, position <= s0.last, c0, xy, co, col);
                let g1 = pixel_gradient(&s1, position <= s1.last, c1, xy, co, col);
                let g2 = pixel_gradient(&s2, position <= s2.last, c2, xy, co, col);
                let g3 = pixel_gradient(&s3, position <= s3.last, c3, xy, co, col);
                let g4 = pixel_gradient(&s4, position <= s4.last, c4, xy, co, col);
                let g5 = pixel_gradient(&s5, position <= s5.last, c5, xy, co, col);
                let g6 = pixel_gradient(&s6, position <= s6.last, c6, xy, co, col);
                let g7 = pixel_gradient(&s7, position <= s7.last, c7, xy, co, col);
                // Most (pixel, key) pairs are empty: a subgroup none of whose pixels the key
                // touches skips the adds and parks zeros.
                var a = vec4<f32>(0.0);
                var b = vec4<f32>(0.0);
                var cc = 0.0;
                if (subgroupAny(g0.has || g1.has || g2.has || g3.has || g4.has || g5.has || g6.has || g7.has)) {
                    a = subgroupAdd(((g0.g.a + g1.g.a) + (g2.g.a + g3.g.a)) + ((g4.g.a + g5.g.a) + (g6.g.a + g7.g.a)));
                    b = subgroupAdd(((g0.g.b + g1.g.b) + (g2.g.b + g3.g.b)) + ((g4.g.b + g5.g.b) + (g6.g.b + g7.g.b)));
                    cc = subgroupAdd(((g0.g.c.x + g1.g.c.x) + (g2.g.c.x + g3.g.c.x)) + ((g4.g.c.x + g5.g.c.x) + (g6.g.c.x + g7.g.c.x)));
                }
                if (lane == 0u) {
                    let slot = 3u * (s * SG_MAX + sub);
                    sg_partial[slot] = a;
                    sg_partial[slot + 1u] = b;
                    sg_partial[slot + 2u] = vec4<f32>(cc, 0.0, 0.0, 0.0);
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

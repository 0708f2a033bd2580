// Forward pass of the tile rasterizer (the maths of `splat_train::reference`, in f32):
//   project      one thread per Gaussian: camera point, EWA 2D covariance, conic, radius, tile
//                rectangle, SH colour; `touched` = tiles covered (0 when culled: behind the near
//                plane, degenerate, off screen, or the camera inside it); its depth's bits as a
//                sort key
//   (host)       radix sort of the Gaussians by depth
//   rank_counts  one thread per depth rank: the tiles its Gaussian covers, for an exclusive scan
//   emit_keys    one thread per depth rank: a (tile, emission index) pair per covered tile, its
//                Gaussian recorded in `owner`, at the offset the scan gives; `touched` becomes
//                the Gaussian's first key
//   (host)       stable radix sort of the keys by tile only: keys were emitted front to back, so
//                each tile's run comes out in depth order, ties by Gaussian id, as one sort of
//                (tile, depth) keys would give it, for a fraction of the passes
//   tile_ranges  one thread per sorted key: where each tile's run starts and ends
//   rasterize    one 32-invocation workgroup per tile, eight pixels each: Gaussians in batches
//                through workgroup memory, front-to-back blending with early stop

// The tiles (x0, y0, x1, y1; x1 and y1 exclusive) a Gaussian centred at `pc` (pixel-index
// coordinates) blends into, given the tiles of its 3σ circle `wide`, its opacity and its 2D
// covariance's diagonal (a, c). With `view.counts.w` = 0: `wide`. With 1 (opacity-aware): the
// blend skips a pixel where α = o·exp(−q/2) < ALPHA_MIN (q = dᵀΣ⁻¹d), i.e. past
// q = 2·ln(o / ALPHA_MIN); the box of that ellipse is ±√(q·a) by ±√(q·c), and only the tiles of
// `wide` that hold a pixel of that box are kept: for most Gaussians far fewer tiles, with the
// same image and gradients (every pixel dropped would have been skipped). A Gaussian with
// o < ALPHA_MIN blends nowhere: no tiles.
fn blend_tiles(wide: vec4<u32>, pc: vec2<f32>, opacity: f32, a: f32, c: f32) -> vec4<u32> {
    if (view.counts.w == 0u) {
        return wide;
    }
    if (!(opacity >= ALPHA_MIN)) {
        return vec4<u32>(0u);
    }
    // A thousandth more, so that float rounding in the blend's own q never reaches a pixel
    // outside the box.
    let extent = 1.001 * sqrt(2.0 * log(opacity / ALPHA_MIN) * vec2<f32>(a, c)) + 0.01;
    // The first and last pixel indices inside the box (a pixel's centre is its index + 0.5).
    let first = ceil(pc - extent);
    let last = floor(pc + extent);
    let tile = f32(TILE);
    let tight = vec4<u32>(
        tile_index(first.x / tile, view.size.z),
        tile_index(first.y / tile, view.size.w),
        tile_index(last.x / tile + 1.0, view.size.z),
        tile_index(last.y / tile + 1.0, view.size.w),
    );
    return vec4<u32>(max(wide.xy, tight.xy), min(wide.zw, tight.zw));
}

@compute @workgroup_size(256)
fn project(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= view.counts.x) {
        return;
    }
    touched[i] = 0u;
    rects[i] = vec4<u32>(0u);
    // Culled Gaussians sort last; they emit no keys.
    depth_keys[i] = 0xffffffffu;
    depth_order[i] = i;
    let m = mean_of(i);
    let p = camera_point(m);
    // Written so that NaN fails the test too.
    if (!(p.z >= view.limits.z) || !(abs(p.x) < 3.0e38) || !(abs(p.y) < 3.0e38)) {
        return;
    }
    let shape = shape_of(i);
    if (!(shape.qlen > 0.0)) {
        return;
    }
    // The camera inside the Gaussian's INSIDE_SIGMAS ellipsoid: |S⁻¹ Rᵀ (c − μ)|² < k² (NaN
    // draws, as in the reference).
    let d = view.campos.xyz - m;
    let v = vec3<f32>(dot(shape.rot[0], d), dot(shape.rot[1], d), dot(shape.rot[2], d)) / shape.s;
    if (dot(v, v) < INSIDE_SIGMAS * INSIDE_SIGMAS) {
        return;
    }
    let sigma = shape.m * transpose(shape.m);
    let t = jacobian_at(p).j * view_rotation();
    let cov = t * sigma * transpose(t);
    let a = cov[0][0] + DILATION;
    let b = cov[0][1];
    let c = cov[1][1] + DILATION;
    let det = a * c - b * b;
    if (!(det > 0.0) || !(det < 3.0e38)) {
        return;
    }
    let mid = 0.5 * (a + c);
    let lambda1 = mid + sqrt(max(0.1, mid * mid - det));
    let radius = ceil(3.0 * sqrt(lambda1));
    let opacity = sigmoid(opacities[i]);
    let mean2d = vec2<f32>(view.focal.x * p.x / p.z + view.focal.z, view.focal.y * p.y / p.z + view.focal.w);
    let pc = mean2d - vec2<f32>(0.5);
    let tile = f32(TILE);
    let wide = vec4<u32>(
        tile_index((pc.x - radius) / tile, view.size.z),
        tile_index((pc.y - radius) / tile, view.size.w),
        tile_index((pc.x + radius + tile - 1.0) / tile, view.size.z),
        tile_index((pc.y + radius + tile - 1.0) / tile, view.size.w),
    );
    let rect = blend_tiles(wide, pc, opacity, a, c);
    if (rect.z <= rect.x || rect.w <= rect.y) {
        return;
    }
    let dir = normalize(m - view.campos.xyz);
    let color = max(sh_color(i, dir), vec3<f32>(0.0));
    xy_depth[i] = vec4<f32>(mean2d, p.z, radius);
    conic_opacity[i] = vec4<f32>(c / det, -b / det, a / det, opacity);
    colors[i] = vec4<f32>(color, 0.0);
    rects[i] = rect;
    touched[i] = (rect.z - rect.x) * (rect.w - rect.y);
    // p.z > 0, so the float's bits order as the depths do.
    depth_keys[i] = bitcast<u32>(p.z);
}

@compute @workgroup_size(256)
fn rank_counts(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    let n = view.counts.x;
    if (r < n) {
        rank_offsets[r] = touched[depth_order[r]];
    } else if (r == n) {
        // The extra slot makes the exclusive scan's last element the total.
        rank_offsets[r] = 0u;
    }
}

@compute @workgroup_size(256)
fn emit_keys(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = linear_id(gid, nwg);
    if (r >= view.counts.x) {
        return;
    }
    let i = depth_order[r];
    var o = rank_offsets[r];
    touched[i] = o;
    let rect = rects[i];
    for (var ty = rect.y; ty < rect.w; ty++) {
        for (var tx = rect.x; tx < rect.z; tx++) {
            key_tiles[o] = ty * view.size.z + tx;
            key_values[o] = o;
            owner[o] = i;
            o++;
        }
    }
}

@compute @workgroup_size(256)
fn tile_ranges(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    let total = view.counts.z;
    if (i >= total) {
        return;
    }
    let tile = key_tiles[i];
    if (i == 0u || key_tiles[i - 1u] != tile) {
        ranges[tile].x = i;
    }
    if (i + 1u == total || key_tiles[i + 1u] != tile) {
        ranges[tile].y = i + 1u;
    }
}

var<workgroup> batch_xy: array<vec2<f32>, BATCH>;
var<workgroup> batch_conic: array<vec4<f32>, BATCH>;
var<workgroup> batch_color: array<vec4<f32>, BATCH>;
var<workgroup> tile_range: vec2<u32>;
var<workgroup> done_count: atomic<u32>;
var<workgroup> all_done: u32;

// Pixels per invocation of `rasterize`, and invocations per tile.
const FWD_PIXELS: u32 = 8u;
const FWD_LANES: u32 = 32u; // TILE * TILE / FWD_PIXELS

// One pixel's blending state.
struct Blend {
    // Still blending: inside the image and not yet opaque.
    live: bool,
    centre: vec2<f32>,
    t: f32,
    c: vec3<f32>,
    depth: f32,
    // Position (1-based, within the tile) of the last key that contributed.
    last: u32,
}

fn blend_start(px: u32, py: u32) -> Blend {
    var b: Blend;
    b.live = px < view.size.x && py < view.size.y;
    b.centre = vec2<f32>(f32(px) + 0.5, f32(py) + 0.5);
    b.t = 1.0;
    return b;
}

// Blends the key at tile position `position` (1-based) into the pixel, front to back.
fn blend_key(b: ptr<function, Blend>, position: u32, xy: vec2<f32>, co: vec4<f32>, col: vec4<f32>) {
    if (!(*b).live) {
        return;
    }
    let d = xy - (*b).centre;
    let power = -0.5 * (co.x * d.x * d.x + co.z * d.y * d.y) - co.y * d.x * d.y;
    if (power > 0.0) {
        return;
    }
    let alpha = min(ALPHA_MAX, co.w * exp(power));
    if (alpha < ALPHA_MIN) {
        return;
    }
    let next = (*b).t * (1.0 - alpha);
    if (next < T_MIN) {
        (*b).live = false;
        return;
    }
    (*b).c += col.xyz * (alpha * (*b).t);
    (*b).depth += col.w * (alpha * (*b).t);
    (*b).t = next;
    (*b).last = position;
}

fn blend_write(b: Blend, px: u32, py: u32) {
    if (px < view.size.x && py < view.size.y) {
        let pix = py * view.size.x + px;
        out_color[pix] = vec4<f32>(b.c + b.t * view.background.xyz, 1.0 - b.t);
        out_last[pix] = b.last;
        out_depth[pix] = b.depth;
    }
}

// One workgroup of 32 invocations per tile; invocation li blends the pixels of column li % 16 in
// rows li / 16 + 2q (q < 8), each key's data read once from workgroup memory for all eight (on
// CPU devices those reads, not the arithmetic, dominate a one-pixel-per-invocation kernel).
@compute @workgroup_size(32)
fn rasterize(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let px = wid.x * TILE + li % TILE;
    let py0 = wid.y * TILE + li / TILE;
    // Explicit variables, not an array, so that every compiler keeps them in registers.
    var b0 = blend_start(px, py0);
    var b1 = blend_start(px, py0 + 2u);
    var b2 = blend_start(px, py0 + 4u);
    var b3 = blend_start(px, py0 + 6u);
    var b4 = blend_start(px, py0 + 8u);
    var b5 = blend_start(px, py0 + 10u);
    var b6 = blend_start(px, py0 + 12u);
    var b7 = blend_start(px, py0 + 14u);
    if (li == 0u) {
        tile_range = ranges[wid.y * view.size.z + wid.x];
    }
    let range = workgroupUniformLoad(&tile_range);
    let count = range.y - range.x;
    let rounds = (count + BATCH - 1u) / BATCH;
    for (var round = 0u; round < rounds; round++) {
        if (li == 0u) {
            atomicStore(&done_count, 0u);
        }
        workgroupBarrier();
        let live = b0.live || b1.live || b2.live || b3.live || b4.live || b5.live || b6.live || b7.live;
        if (!live) {
            atomicAdd(&done_count, 1u);
        }
        workgroupBarrier();
        if (li == 0u) {
            all_done = atomicLoad(&done_count);
        }
        if (workgroupUniformLoad(&all_done) == FWD_LANES) {
            break;
        }
        let in_batch = min(BATCH, count - round * BATCH);
        for (var i = li; i < in_batch; i += FWD_LANES) {
            let g = owner[key_values[range.x + round * BATCH + i]];
            batch_xy[i] = xy_depth[g].xy;
            batch_conic[i] = conic_opacity[g];
            batch_color[i] = vec4<f32>(colors[g].xyz, xy_depth[g].z);
        }
        workgroupBarrier();
        if (live) {
            for (var j = 0u; j < in_batch; j++) {
                let position = round * BATCH + j + 1u;
                let xy = batch_xy[j];
                let co = batch_conic[j];
                let col = batch_color[j];
                blend_key(&b0, position, xy, co, col);
                blend_key(&b1, position, xy, co, col);
                blend_key(&b2, position, xy, co, col);
                blend_key(&b3, position, xy, co, col);
                blend_key(&b4, position, xy, co, col);
                blend_key(&b5, position, xy, co, col);
                blend_key(&b6, position, xy, co, col);
                blend_key(&b7, position, xy, co, col);
                if (!(b0.live || b1.live || b2.live || b3.live || b4.live || b5.live || b6.live || b7.live)) {
                    break;
                }
            }
        }
        workgroupBarrier();
    }
    blend_write(b0, px, py0);
    blend_write(b1, px, py0 + 2u);
    blend_write(b2, px, py0 + 4u);
    blend_write(b3, px, py0 + 6u);
    blend_write(b4, px, py0 + 8u);
    blend_write(b5, px, py0 + 10u);
    blend_write(b6, px, py0 + 12u);
    blend_write(b7, px, py0 + 14u);
}

// Forward pass of the tile rasterizer (the maths of `splat_train::reference`, in f32):
//   project      one thread per Gaussian: camera point, EWA 2D covariance, conic, radius, tile
//                rectangle, SH colour; `touched` = tiles covered (0 when culled)
//   emit_keys    one thread per Gaussian: a (tile << 32 | depth bits, emission index) pair per
//                covered tile, its owner recorded in `owner`,
//                at the offset the exclusive scan of `touched` gives
//   tile_ranges  one thread per sorted key: where each tile's run starts and ends
//   rasterize    one 16x16 workgroup per tile: Gaussians in batches through workgroup memory,
//                front-to-back blending with early stop

@compute @workgroup_size(256)
fn project(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    let n = view.counts.x;
    if (i > n) {
        return;
    }
    // The extra slot makes the exclusive scan's last element the total.
    touched[i] = 0u;
    if (i == n) {
        return;
    }
    rects[i] = vec4<u32>(0u);
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
    let mean2d = vec2<f32>(view.focal.x * p.x / p.z + view.focal.z, view.focal.y * p.y / p.z + view.focal.w);
    let pc = mean2d - vec2<f32>(0.5);
    let tile = f32(TILE);
    let rect = vec4<u32>(
        tile_index((pc.x - radius) / tile, view.size.z),
        tile_index((pc.y - radius) / tile, view.size.w),
        tile_index((pc.x + radius + tile - 1.0) / tile, view.size.z),
        tile_index((pc.y + radius + tile - 1.0) / tile, view.size.w),
    );
    if (rect.z <= rect.x || rect.w <= rect.y) {
        return;
    }
    let dir = normalize(m - view.campos.xyz);
    let color = max(sh_color(i, dir), vec3<f32>(0.0));
    xy_depth[i] = vec4<f32>(mean2d, p.z, radius);
    conic_opacity[i] = vec4<f32>(c / det, -b / det, a / det, sigmoid(opacities[i]));
    colors[i] = vec4<f32>(color, 0.0);
    rects[i] = rect;
    touched[i] = (rect.z - rect.x) * (rect.w - rect.y);
}

@compute @workgroup_size(256)
fn emit_keys(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg);
    if (i >= view.counts.x) {
        return;
    }
    let rect = rects[i];
    if (rect.z <= rect.x) {
        return;
    }
    var o = touched[i];
    let depth_bits = bitcast<u32>(xy_depth[i].z);
    for (var ty = rect.y; ty < rect.w; ty++) {
        for (var tx = rect.x; tx < rect.z; tx++) {
            keys_lo[o] = depth_bits;
            keys_hi[o] = ty * view.size.z + tx;
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
    let tile = keys_hi[i];
    if (i == 0u || keys_hi[i - 1u] != tile) {
        ranges[tile].x = i;
    }
    if (i + 1u == total || keys_hi[i + 1u] != tile) {
        ranges[tile].y = i + 1u;
    }
}

var<workgroup> batch_xy: array<vec2<f32>, BATCH>;
var<workgroup> batch_conic: array<vec4<f32>, BATCH>;
var<workgroup> batch_color: array<vec4<f32>, BATCH>;
var<workgroup> tile_range: vec2<u32>;
var<workgroup> done_count: atomic<u32>;
var<workgroup> all_done: u32;

@compute @workgroup_size(16, 16)
fn rasterize(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let px = wid.x * TILE + lid.x;
    let py = wid.y * TILE + lid.y;
    let inside = px < view.size.x && py < view.size.y;
    if (li == 0u) {
        tile_range = ranges[wid.y * view.size.z + wid.x];
    }
    let range = workgroupUniformLoad(&tile_range);
    let centre = vec2<f32>(f32(px) + 0.5, f32(py) + 0.5);
    var done = !inside;
    var t = 1.0;
    var c = vec3<f32>(0.0);
    var depth = 0.0;
    var visited = 0u;
    var last = 0u;
    let count = range.y - range.x;
    let rounds = (count + BATCH - 1u) / BATCH;
    for (var round = 0u; round < rounds; round++) {
        if (li == 0u) {
            atomicStore(&done_count, 0u);
        }
        workgroupBarrier();
        if (done) {
            atomicAdd(&done_count, 1u);
        }
        workgroupBarrier();
        if (li == 0u) {
            all_done = atomicLoad(&done_count);
        }
        if (workgroupUniformLoad(&all_done) == BATCH) {
            break;
        }
        let k = range.x + round * BATCH + li;
        if (k < range.y) {
            let g = owner[key_values[k]];
            batch_xy[li] = xy_depth[g].xy;
            batch_conic[li] = conic_opacity[g];
            batch_color[li] = vec4<f32>(colors[g].xyz, xy_depth[g].z);
        }
        workgroupBarrier();
        let in_batch = min(BATCH, count - round * BATCH);
        for (var j = 0u; j < in_batch && !done; j++) {
            visited++;
            let co = batch_conic[j];
            let d = batch_xy[j] - centre;
            let power = -0.5 * (co.x * d.x * d.x + co.z * d.y * d.y) - co.y * d.x * d.y;
            if (power > 0.0) {
                continue;
            }
            let alpha = min(ALPHA_MAX, co.w * exp(power));
            if (alpha < ALPHA_MIN) {
                continue;
            }
            let next = t * (1.0 - alpha);
            if (next < T_MIN) {
                done = true;
                break;
            }
            let col = batch_color[j];
            c += col.xyz * (alpha * t);
            depth += col.w * (alpha * t);
            t = next;
            last = visited;
        }
        workgroupBarrier();
    }
    if (inside) {
        let pix = py * view.size.x + px;
        out_color[pix] = vec4<f32>(c + t * view.background.xyz, 1.0 - t);
        out_last[pix] = last;
        out_depth[pix] = depth;
    }
}

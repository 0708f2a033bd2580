// PLAS (parallel linear assignment sorting) on the GPU: the same integer steps as the rayon
// backend in crates/sogs/src/plas.rs, so a seed gives the same grid on either.
//   blur_x / blur_y: the target, a rounded box blur (x circular, y reflected), one invocation
//     per key channel of a cell.
//   swap: one invocation per group of four cells; it tries the 24 ways to place the four keys on
//     the four cells (cost = squared distance to the target), keeps the cheapest (the identity
//     on ties, then the first in lexicographic order), moves keys and ids, and adds the costs
//     before and after into one u32 pair per workgroup (64 groups of at most 4·12·1023² fit).
// Keys are 10-bit values, one per u32; at most 12 channels.

struct Params {
    width: u32,
    height: u32,
    channels: u32,
    block: u32,
    nbx: u32,
    nby: u32,
    shift_x: u32,
    shift_y: u32,
    groups_per_block: u32,
    groups: u32,
    fx: u32,
    fy: u32,
}

// WG and MAX_CHANNELS come from the host (plas_gpu.rs).

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> blurred: array<u32>;
@group(0) @binding(4) var<storage, read_write> rows: array<u32>;
@group(0) @binding(5) var<storage, read> order: array<u32>;
@group(0) @binding(6) var<storage, read_write> partial: array<u32>;

var<workgroup> sum_before: array<u32, WG>;
var<workgroup> sum_after: array<u32, WG>;

const PERMS = array<vec4<u32>, 24>(
    vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(0u, 1u, 3u, 2u), vec4<u32>(0u, 2u, 1u, 3u),
    vec4<u32>(0u, 2u, 3u, 1u), vec4<u32>(0u, 3u, 1u, 2u), vec4<u32>(0u, 3u, 2u, 1u),
    vec4<u32>(1u, 0u, 2u, 3u), vec4<u32>(1u, 0u, 3u, 2u), vec4<u32>(1u, 2u, 0u, 3u),
    vec4<u32>(1u, 2u, 3u, 0u), vec4<u32>(1u, 3u, 0u, 2u), vec4<u32>(1u, 3u, 2u, 0u),
    vec4<u32>(2u, 0u, 1u, 3u), vec4<u32>(2u, 0u, 3u, 1u), vec4<u32>(2u, 1u, 0u, 3u),
    vec4<u32>(2u, 1u, 3u, 0u), vec4<u32>(2u, 3u, 0u, 1u), vec4<u32>(2u, 3u, 1u, 0u),
    vec4<u32>(3u, 0u, 1u, 2u), vec4<u32>(3u, 0u, 2u, 1u), vec4<u32>(3u, 1u, 0u, 2u),
    vec4<u32>(3u, 1u, 2u, 0u), vec4<u32>(3u, 2u, 0u, 1u), vec4<u32>(3u, 2u, 1u, 0u),
);

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn blur_x(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear(wid, nwg, lid);
    if i >= p.width * p.height * p.channels {
        return;
    }
    let cell = i / p.channels;
    let ch = i % p.channels;
    let x = cell % p.width;
    let y = cell / p.width;
    let h = p.fx / 2u;
    var s = 0u;
    for (var k = 0u; k < p.fx; k++) {
        let xx = (x + k + p.width - h) % p.width;
        s += keys[(y * p.width + xx) * p.channels + ch];
    }
    rows[i] = (s + p.fx / 2u) / p.fx;
}

fn reflect(y: i32, n: i32) -> u32 {
    var r = abs(y);
    if r >= n {
        r = 2 * (n - 1) - r;
    }
    return u32(r);
}

@compute @workgroup_size(WG)
fn blur_y(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear(wid, nwg, lid);
    if i >= p.width * p.height * p.channels {
        return;
    }
    let cell = i / p.channels;
    let ch = i % p.channels;
    let x = cell % p.width;
    let y = i32(cell / p.width);
    let h = i32(p.fy / 2u);
    var s = 0u;
    for (var d = -h; d <= h; d++) {
        let yy = reflect(y + d, i32(p.height));
        s += rows[(yy * p.width + x) * p.channels + ch];
    }
    blurred[i] = (s + p.fy / 2u) / p.fy;
}

fn tile_cell(b: u32, pos: u32) -> u32 {
    let bx = b % p.nbx;
    let by = b / p.nbx;
    let x = (bx * p.block + pos % p.block + p.shift_x) % p.width;
    let y = (by * p.block + pos / p.block + p.shift_y) % p.height;
    return y * p.width + x;
}

@compute @workgroup_size(WG)
fn swap(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = linear(wid, nwg, lid);
    var before = 0u;
    var after = 0u;
    if g < p.groups {
        let b = g / p.groups_per_block;
        let q = g % p.groups_per_block;
        var cells: array<u32, 4>;
        for (var i = 0u; i < 4u; i++) {
            cells[i] = tile_cell(b, order[4u * q + i]);
        }
        var vals: array<u32, 48>;
        for (var i = 0u; i < 4u; i++) {
            for (var c = 0u; c < p.channels; c++) {
                vals[i * MAX_CHANNELS + c] = keys[cells[i] * p.channels + c];
            }
        }
        var cost: array<array<u32, 4>, 4>;
        for (var i = 0u; i < 4u; i++) {
            for (var j = 0u; j < 4u; j++) {
                var s = 0u;
                for (var c = 0u; c < p.channels; c++) {
                    let d = i32(vals[i * MAX_CHANNELS + c]) - i32(blurred[cells[j] * p.channels + c]);
                    s += u32(d * d);
                }
                cost[i][j] = s;
            }
        }
        var best = 0xffffffffu;
        var best_perm = 0u;
        for (var k = 0u; k < 24u; k++) {
            let pm = PERMS[k];
            let s = cost[0][pm.x] + cost[1][pm.y] + cost[2][pm.z] + cost[3][pm.w];
            if s < best {
                best = s;
                best_perm = k;
            }
        }
        before = cost[0][0] + cost[1][1] + cost[2][2] + cost[3][3];
        after = best;
        if best_perm != 0u {
            let pm = PERMS[best_perm];
            var old_ids: array<u32, 4>;
            for (var i = 0u; i < 4u; i++) {
                old_ids[i] = ids[cells[i]];
            }
            for (var i = 0u; i < 4u; i++) {
                let dst = cells[pm[i]];
                for (var c = 0u; c < p.channels; c++) {
                    keys[dst * p.channels + c] = vals[i * MAX_CHANNELS + c];
                }
                ids[dst] = old_ids[i];
            }
        }
    }
    sum_before[lid] = before;
    sum_after[lid] = after;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid < stride {
            sum_before[lid] += sum_before[lid + stride];
            sum_after[lid] += sum_after[lid + stride];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        let w = wid.x + wid.y * nwg.x;
        partial[2u * w] = sum_before[0];
        partial[2u * w + 1u] = sum_after[0];
    }
}

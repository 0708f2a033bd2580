// Exclusive prefix scan over u32, in blocks of 1024 elements (256 threads x 4 items).
// `scan_blocks` scans each block in place and writes the block's total to `block_sums`;
// the host scans `block_sums` recursively and `add_offsets` adds them back.
// Sums wrap modulo 2^32, as u32 addition does.

struct Params {
    n: u32,
    num_blocks: u32,
    _pad0: u32,
    _pad1: u32,
}

// BLOCK (elements per workgroup) comes from the host (`SCAN_BLOCK` in scan.rs).
const WG: u32 = 256u;
const ITEMS: u32 = 4u;
const_assert BLOCK == WG * ITEMS;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> data: array<u32>;
@group(0) @binding(2) var<storage, read_write> block_sums: array<u32>;

var<workgroup> partial: array<u32, WG>;
// The raking scan's threads and the sums each scans (RAKE × RAKE_ROWS = WG).
const RAKE: u32 = 32u;
const RAKE_ROWS: u32 = 8u;
const_assert RAKE * RAKE_ROWS == WG;
var<workgroup> rake_total: array<u32, RAKE>;

fn block_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

@compute @workgroup_size(256)
fn scan_blocks(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let block = block_index(wid, nwg);
    if (block >= params.num_blocks) {
        return;
    }
    let base = block * BLOCK + lid * ITEMS;
    var local_excl: array<u32, 4>;
    var sum = 0u;
    for (var i = 0u; i < ITEMS; i++) {
        let idx = base + i;
        var x = 0u;
        if (idx < params.n) {
            x = data[idx];
        }
        local_excl[i] = sum;
        sum += x;
    }
    partial[lid] = sum;
    workgroupBarrier();
    // Inclusive scan of the per-thread sums, raking: RAKE threads each scan RAKE_ROWS
    // consecutive sums serially, one thread scans the rakes' totals, every thread adds its
    // rake's offset. Three barriers where a Hillis-Steele scan takes sixteen (CPU devices run a
    // barrier as a switch of every invocation: it dominated there).
    if (lid < RAKE) {
        var acc = 0u;
        for (var j = 0u; j < RAKE_ROWS; j++) {
            let row = lid * RAKE_ROWS + j;
            acc += partial[row];
            partial[row] = acc;
        }
        rake_total[lid] = acc;
    }
    workgroupBarrier();
    if (lid == 0u) {
        var run = 0u;
        for (var r = 0u; r < RAKE; r++) {
            let t = rake_total[r];
            rake_total[r] = run;
            run += t;
        }
    }
    workgroupBarrier();
    let inclusive = partial[lid] + rake_total[lid / RAKE_ROWS];
    let before = inclusive - sum;
    for (var i = 0u; i < ITEMS; i++) {
        let idx = base + i;
        if (idx < params.n) {
            data[idx] = before + local_excl[i];
        }
    }
    if (lid == WG - 1u) {
        block_sums[block] = inclusive;
    }
}

@compute @workgroup_size(256)
fn add_offsets(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let block = block_index(wid, nwg);
    if (block >= params.num_blocks) {
        return;
    }
    let offset = block_sums[block];
    let base = block * BLOCK + lid * ITEMS;
    for (var i = 0u; i < ITEMS; i++) {
        let idx = base + i;
        if (idx < params.n) {
            data[idx] += offset;
        }
    }
}

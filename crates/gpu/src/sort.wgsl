// One pass of a stable LSD radix sort on a 4-bit digit, for u32 keys (`keys_lo` only) or u64 keys
// (`keys_lo` + `keys_hi`, the high words), carrying a u32 value per key.
// `histogram` counts the digits of each BLOCK-element block into `hist[digit * num_blocks + block]`;
// the host exclusive-scans `hist` (digit-major, so the scan gives every (digit, block) its global
// start); `scatter` then moves each element to its place, keeping input order within a digit.

struct Params {
    n: u32,
    shift: u32,
    num_blocks: u32,
    has_hi: u32,
}

// BLOCK (elements per workgroup) and DIGITS come from the host (sort.rs).
const WG: u32 = 256u;
const ITEMS: u32 = 8u;
const_assert BLOCK == WG * ITEMS;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> keys_lo_in: array<u32>;
@group(0) @binding(2) var<storage, read> keys_hi_in: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<u32>;
@group(0) @binding(4) var<storage, read> vals_in: array<u32>;
@group(0) @binding(5) var<storage, read_write> keys_lo_out: array<u32>;
@group(0) @binding(6) var<storage, read_write> keys_hi_out: array<u32>;
@group(0) @binding(7) var<storage, read_write> vals_out: array<u32>;

var<workgroup> counts: array<atomic<u32>, DIGITS>;
// Per thread, 16 digit counters packed two per word (16 bits each).
var<workgroup> packed: array<array<u32, 8>, WG>;
var<workgroup> start: array<u32, DIGITS>;
// The raking scan's threads and the threads' counters each scans (RAKE × RAKE_ROWS = WG).
const RAKE: u32 = 32u;
const RAKE_ROWS: u32 = 8u;
const_assert RAKE * RAKE_ROWS == WG;
var<workgroup> rake_total: array<array<u32, 8>, RAKE>;

fn block_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

fn digit_of(i: u32) -> u32 {
    if (params.shift >= 32u) {
        return (keys_hi_in[i] >> (params.shift - 32u)) & (DIGITS - 1u);
    }
    return (keys_lo_in[i] >> params.shift) & (DIGITS - 1u);
}

@compute @workgroup_size(256)
fn histogram(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let block = block_index(wid, nwg);
    if (block >= params.num_blocks) {
        return;
    }
    if (lid < DIGITS) {
        atomicStore(&counts[lid], 0u);
    }
    workgroupBarrier();
    for (var k = 0u; k < ITEMS; k++) {
        let i = block * BLOCK + lid * ITEMS + k;
        if (i < params.n) {
            atomicAdd(&counts[digit_of(i)], 1u);
        }
    }
    workgroupBarrier();
    if (lid < DIGITS) {
        hist[lid * params.num_blocks + block] = atomicLoad(&counts[lid]);
    }
}

@compute @workgroup_size(256)
fn scatter(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let block = block_index(wid, nwg);
    if (block >= params.num_blocks) {
        return;
    }
    if (lid < DIGITS) {
        start[lid] = hist[lid * params.num_blocks + block];
    }
    // Each thread ranks ITEMS consecutive elements; counts per digit (at most 2048 per block)
    // are packed two per word, 16 bits each.
    let first = block * BLOCK + lid * ITEMS;
    var digit: array<u32, ITEMS>;
    var rank_here: array<u32, ITEMS>;
    var mine: array<u32, 8>;
    for (var k = 0u; k < ITEMS; k++) {
        let i = first + k;
        if (i < params.n) {
            let d = digit_of(i);
            let sh = (d & 1u) * 16u;
            digit[k] = d;
            rank_here[k] = (mine[d >> 1u] >> sh) & 0xffffu;
            mine[d >> 1u] += 1u << sh;
        }
    }
    packed[lid] = mine;
    workgroupBarrier();
    // Inclusive scan of the packed counters across the workgroup, raking: RAKE threads each
    // scan RAKE_ROWS consecutive threads' counters serially, DIGITS / 2 threads scan the
    // rakes' totals, and every thread adds its rake's offset. Three barriers and about three
    // passes over the counters, where a Hillis-Steele scan takes sixteen barriers and eight
    // passes (CPU devices run a barrier as a switch of every invocation: it dominated there).
    if (lid < RAKE) {
        var acc: array<u32, 8>;
        for (var j = 0u; j < RAKE_ROWS; j++) {
            let row = lid * RAKE_ROWS + j;
            for (var w = 0u; w < 8u; w++) {
                acc[w] += packed[row][w];
                packed[row][w] = acc[w];
            }
        }
        rake_total[lid] = acc;
    }
    workgroupBarrier();
    if (lid < 8u) {
        var run = 0u;
        for (var r = 0u; r < RAKE; r++) {
            let t = rake_total[r][lid];
            rake_total[r][lid] = run;
            run += t;
        }
    }
    workgroupBarrier();
    var inclusive = packed[lid];
    let offset = rake_total[lid / RAKE_ROWS];
    for (var w = 0u; w < 8u; w++) {
        inclusive[w] += offset[w];
    }
    for (var k = 0u; k < ITEMS; k++) {
        let i = first + k;
        if (i < params.n) {
            let d = digit[k];
            let sh = (d & 1u) * 16u;
            // Elements of digit d in earlier threads = inclusive count minus this thread's own.
            let before = ((inclusive[d >> 1u] >> sh) & 0xffffu) - ((mine[d >> 1u] >> sh) & 0xffffu);
            let dst = start[d] + before + rank_here[k];
            keys_lo_out[dst] = keys_lo_in[i];
            if (params.has_hi != 0u) {
                keys_hi_out[dst] = keys_hi_in[i];
            }
            vals_out[dst] = vals_in[i];
        }
    }
}

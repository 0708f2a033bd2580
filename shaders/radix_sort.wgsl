// One pass of a stable LSD radix sort on a 4-bit digit, for u32 keys (`keys_lo` only) or u64 keys
// (`keys_lo` + `keys_hi`, the high words), carrying a u32 value per key.
// `histogram` counts the digits of each 1024-element block into `hist[digit * num_blocks + block]`;
// the host exclusive-scans `hist` (digit-major, so the scan gives every (digit, block) its global
// start); `scatter` then moves each element to its place, keeping input order within a digit.

struct Params {
    n: u32,
    shift: u32,
    num_blocks: u32,
    has_hi: u32,
}

const WG: u32 = 256u;
const ROUNDS: u32 = 4u;
const BLOCK: u32 = 1024u;
const DIGITS: u32 = 16u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> keys_lo_in: array<u32>;
@group(0) @binding(2) var<storage, read> keys_hi_in: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<u32>;
@group(0) @binding(4) var<storage, read> vals_in: array<u32>;
@group(0) @binding(5) var<storage, read_write> keys_lo_out: array<u32>;
@group(0) @binding(6) var<storage, read_write> keys_hi_out: array<u32>;
@group(0) @binding(7) var<storage, read_write> vals_out: array<u32>;

var<workgroup> counts: array<atomic<u32>, DIGITS>;
// Per thread, 16 one-hot digit counters packed two per word (16 bits each; a round has 256 items).
var<workgroup> packed: array<array<u32, 8>, WG>;
var<workgroup> running: array<u32, DIGITS>;

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
    for (var r = 0u; r < ROUNDS; r++) {
        let i = block * BLOCK + r * WG + lid;
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
        running[lid] = hist[lid * params.num_blocks + block];
    }
    workgroupBarrier();
    for (var r = 0u; r < ROUNDS; r++) {
        let i = block * BLOCK + r * WG + lid;
        let valid = i < params.n;
        var d = 0u;
        var mine: array<u32, 8>;
        if (valid) {
            d = digit_of(i);
            mine[d >> 1u] = 1u << ((d & 1u) * 16u);
        }
        packed[lid] = mine;
        workgroupBarrier();
        // Inclusive Hillis-Steele scan of the packed counters across the workgroup.
        for (var off = 1u; off < WG; off <<= 1u) {
            var t: array<u32, 8>;
            if (lid >= off) {
                t = packed[lid - off];
            }
            workgroupBarrier();
            if (lid >= off) {
                for (var w = 0u; w < 8u; w++) {
                    packed[lid][w] += t[w];
                }
            }
            workgroupBarrier();
        }
        if (valid) {
            let inclusive = (packed[lid][d >> 1u] >> ((d & 1u) * 16u)) & 0xffffu;
            let dst = running[d] + inclusive - 1u;
            keys_lo_out[dst] = keys_lo_in[i];
            if (params.has_hi != 0u) {
                keys_hi_out[dst] = keys_hi_in[i];
            }
            vals_out[dst] = vals_in[i];
        }
        workgroupBarrier();
        if (lid < DIGITS) {
            running[lid] += (packed[WG - 1u][lid >> 1u] >> ((lid & 1u) * 16u)) & 0xffffu;
        }
        workgroupBarrier();
    }
}

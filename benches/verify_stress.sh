#!/usr/bin/env bash
# Stress run of geometric verification (issue 19): `splat match` over every pair of each photo
# set at several extraction sizes, then, per set and size, the time per pair's verification
# (median, 99th percentile, slowest), the samples refused as degenerate, the decompositions that
# reached their iteration cap (and how many the bracketing fallback answered), and the pairs
# abandoned at their time limit. Everything must finish: before the caps, some captures spun
# forever inside nalgebra's Schur decomposition.
#
#   bash benches/verify_stress.sh [OUT] [SIZES] [SETS...]
#
# OUT defaults to runs/verify-stress (kept between runs: a set and size already done is read
# back, not redone); SIZES is a comma list (default 640,1024,1600); SETS are image folders
# (default: every photo set in ../shared/datasets). A size above a set's own is the same run as
# its own size (photos are never upscaled), so it is skipped and said so.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/runs/verify-stress}
sizes=${2:-640,1024,1600}
shift $(( $# > 2 ? 2 : $# ))
sets=("$@")
if [ ${#sets[@]} -eq 0 ]; then
    shared=$root/../shared/datasets
    sets=("$shared/fountain-P11/images" "$shared/sceaux-castle/images" "$shared/south-building/images" "$shared/chair/train")
fi
cargo build --release -q -p splat-pipeline --manifest-path "$root/Cargo.toml"
splat="$root/target/release/splat"
mkdir -p "$out"
for set in "${sets[@]}"; do
    name=$(basename "$(dirname "$set")")
    longest=$(python3 - "$set" <<'PY'
import struct, sys, os, zlib
from pathlib import Path
def size(p):
    b = p.read_bytes()
    if b[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">II", b[16:24])
    i = 2
    while i < len(b):
        if b[i] != 0xFF: i += 1; continue
        m = b[i + 1]
        if m in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", b[i + 5:i + 9]); return w, h
        i += 2 + struct.unpack(">H", b[i + 2:i + 4])[0]
    return 0, 0
print(max(max(size(p)) for p in Path(sys.argv[1]).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")))
PY
)
    previous=0
    for size in ${sizes//,/ }; do
        effective=$(( size < longest ? size : longest ))
        if [ "$effective" -le "$previous" ]; then
            echo "$name @ $size px: same as @ $previous px (the photos are $longest px), skipped"
            continue
        fi
        previous=$effective
        dir="$out/$name-$size"
        if [ ! -f "$dir/match-report.json" ]; then
            /usr/bin/time -f "%U %S %e" -o "$dir.time" "$splat" match "$set" -o "$dir" --max-image-size "$size" > "$dir.log" 2>&1 \
                || { echo "$name @ $size px: splat match failed"; tail -5 "$dir.log"; exit 1; }
        fi
        python3 - "$dir/match-report.json" "$dir.time" "$name" "$size" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
user, sys_, wall = map(float, open(sys.argv[2]).read().split())
ms = sorted(p.get("verify_ms", 0.0) for p in r["pairs"])
pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
v = r.get("verification", {})
s = v.get("solver", {})
print(f"{sys.argv[3]:>15} {sys.argv[4]:>5} px | {len(r['images']):>4} images {len(ms):>5} pairs, {r['verified_pairs']:>5} verified"
      f" | verify ms/pair median {pick(0.5):7.1f}, p99 {pick(0.99):7.1f}, max {ms[-1]:8.1f}, total {sum(ms)/1e3:7.1f} s"
      f" | degenerate samples {s.get('degenerate_samples', 0):>6}, capped {s.get('not_converged', 0)}"
      f" (recovered {s.get('recovered', 0)}), non-finite {s.get('non_finite', 0)}, abandoned {v.get('abandoned_pairs', 0)}"
      f" | match run {wall:.0f} s wall, {user + sys_:.0f} CPU-s")
PY
    done
done

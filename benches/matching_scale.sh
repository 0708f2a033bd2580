#!/usr/bin/env bash
# How matching and mapping grow with the number of photos, exhaustive against retrieval:
# `splat sfm --matcher exhaustive|retrieval` on the first N photos of IMAGES for each N, and
# on the built-in scene's orbit of V views (`splat generate --views V`). Prints, per run, the
# pairs matched and verified, the CPU seconds of pair selection + matching + verification and
# of mapping (from the match and sfm reports), and the model's registered images.
#
#   bash benches/matching_scale.sh IMAGES "32 64 128" "300" [WORK]
#
# Runs already in WORK (default runs/matching-scale) are reused; matchers skipped for a size
# with SKIP="exhaustive:600 …".
set -euo pipefail
images=$(realpath "$1")
counts=${2:-"32 64 128"}
views=${3:-"300"}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${4:-$root/runs/matching-scale}
mkdir -p "$work"
cargo build --release -q -p splat-pipeline --manifest-path "$root/Cargo.toml"
splat="$root/target/release/splat"
skip=" ${SKIP:-} "

run_sfm() { # name folder matcher
    local name=$1 folder=$2 matcher=$3 out="$work/$1-$3"
    if [[ "$skip" == *" $matcher:${name#*-} "* ]]; then return; fi
    if [ ! -f "$out/sfm-report.json" ]; then
        "$splat" sfm "$folder" -o "$out" --matcher "$matcher" --no-undistort > "$out.log" 2>&1 || { tail -5 "$out.log"; return; }
    fi
    python3 - "$name" "$matcher" "$out" <<'PY'
import json, sys
name, matcher, out = sys.argv[1:4]
m = json.load(open(f"{out}/match-report.json"))
s = json.load(open(f"{out}/sfm-report.json"))
t = m["time"]
front = sum(t[k]["cpu_s"] for k in ("pair_selection", "matching", "verification") if k in t)
models = s.get("models") or []
best = models[0] if models else {}
mapping = s.get("time", {}).get("mapping", {}).get("cpu_s", float("nan"))
print(f"| {name} | {matcher} | {len(m['images'])} | {len(m['pairs']):,} | {m['verified_pairs']:,} | "
      f"{front:.1f} | {mapping:.1f} | {best.get('registered', 0)}/{len(m['images'])} |")
PY
}

echo "| set | matcher | images | pairs matched | verified | select+match+verify CPU-s | mapping CPU-s | registered |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for n in $counts; do
    sub="$work/photos-$n"
    if [ ! -d "$sub" ]; then
        mkdir -p "$sub"
        ls "$images" | sort | head -n "$n" | while read -r f; do ln -s "$images/$f" "$sub/$f"; done
    fi
    for matcher in exhaustive retrieval; do run_sfm "photos-$n" "$sub" "$matcher"; done
done
for v in $views; do
    scene="$work/builtin-$v"
    [ -d "$scene/images" ] || "$splat" generate -o "$scene" --views "$v" > /dev/null 2>&1
    for matcher in exhaustive retrieval; do run_sfm "builtin-$v" "$scene/images" "$matcher"; done
done

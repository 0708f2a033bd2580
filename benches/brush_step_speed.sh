#!/usr/bin/env bash
# Steps per second at a fixed Gaussian count, splat train and brush (../shared/peers/brush) side
# by side on one machine (issue 21: ours ≥ 1.5× brush at 10k, 50k and 100k Gaussians at 200 px).
#
# Each trainer starts from the same Gaussian PLY on the same photos and keeps its count (ours:
# `--strategy fixed`; brush: no refinement, no growth), runs SHORT and then LONG steps; the rate
# is (LONG − SHORT) / (difference of the two wall times), so start-up, loading and the final
# export cancel out. Workloads: `splat generate --views 24 --width 200 --height 150 --cloud N`
# (Gaussians on the built-in scene's surfaces, SH degree 3) for each N, and, when given, the
# chair at 200 px (blender_for_peer's folder) from a trained chair model.
#
# Usage: benches/brush_step_speed.sh BRUSH_CLI [OUT] [COUNTS] [CHAIR_DIR CHAIR_MODEL]
#   COUNTS: space-separated (default "10000 50000 100000"); SHORT/LONG from the environment
#   (default 10 and 60).
set -euo pipefail
cd "$(dirname "$0")/.."
BRUSH=$(realpath "$1")
OUT=${2:-runs/brush-step-speed}
COUNTS=${3:-10000 50000 100000}
CHAIR_DIR=${4:-}
CHAIR_MODEL=${5:-}
SHORT=${SHORT:-10}
LONG=${LONG:-60}
[ -x "$BRUSH" ] || { echo "brush_step_speed: $BRUSH is not an executable" >&2; exit 2; }
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
cargo build --release -q -p splat-pipeline
SPLAT=$(realpath target/release/splat)
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

seconds() { date +%s.%N; }

# A folder brush reads: the photos and cameras of DATA, the model as init.ply, nothing else.
brush_folder() { # data model folder
    rm -rf "$3"
    mkdir -p "$3"
    for f in "$1"/transforms_*.json; do cp "$f" "$3/"; done
    for d in images train test; do [ -e "$1/$d" ] && ln -s "$(realpath "$1/$d")" "$3/$d"; done
    cp "$2" "$3/init.ply"
}

time_splat() { # data model steps -> wall seconds
    local t0 t1
    rm -rf "$OUT/splat-run"
    t0=$(seconds)
    "$SPLAT" train "$1" -o "$OUT/splat-run" --init "$2" --strategy fixed --steps "$3" \
        --eval-every 0 --checkpoint-every 0 >"$OUT/splat-$3.log" 2>&1
    t1=$(seconds)
    echo "$t1 - $t0" | bc
}

time_brush() { # folder steps -> wall seconds
    local t0 t1
    rm -rf "$OUT/brush-run"
    mkdir -p "$OUT/brush-run"
    t0=$(seconds)
    "$BRUSH" "$1" --total-train-iters "$2" --refine-every 1000000 --growth-stop-iter 0 \
        --eval-every 1000000 --export-every 1000000 --export-path "$OUT/brush-run" \
        >"$OUT/brush-$2.log" 2>&1
    t1=$(seconds)
    echo "$t1 - $t0" | bc
}

row() { # name data model
    local folder="$OUT/brush-data" s1 s2 b1 b2 ours theirs
    brush_folder "$2" "$3" "$folder"
    s1=$(time_splat "$2" "$3" "$SHORT")
    s2=$(time_splat "$2" "$3" "$LONG")
    b1=$(time_brush "$folder" "$SHORT")
    b2=$(time_brush "$folder" "$LONG")
    ours=$(echo "($LONG - $SHORT) / ($s2 - $s1)" | bc -l)
    theirs=$(echo "($LONG - $SHORT) / ($b2 - $b1)" | bc -l)
    printf '| %s | %.2f | %.2f | %.2f× |\n' "$1" "$ours" "$theirs" "$(echo "$ours / $theirs" | bc -l)"
}

printf '| workload (Gaussians) | splat steps/s | brush steps/s | ratio |\n|---|---:|---:|---:|\n'
for n in $COUNTS; do
    world="$OUT/cloud-$n"
    [ -f "$world/surface.ply" ] ||
        "$SPLAT" generate -o "$world" --views 24 --width 200 --height 150 --cloud "$n" >/dev/null 2>&1
    row "built-in 200×150 ($n)" "$world" "$world/surface.ply"
done
if [ -n "$CHAIR_DIR" ]; then
    row "chair 200×200, trained model" "$CHAIR_DIR" "$CHAIR_MODEL"
fi

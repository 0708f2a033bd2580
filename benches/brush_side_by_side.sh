#!/usr/bin/env bash
# splat train and brush (a Rust/wgpu 3DGS trainer, ../shared/peers/brush) side by side on one
# machine: the NeRF-synthetic chair at 200 px, STEPS steps, each with its defaults (issue 21
# item 4). Both train on the same pixels: the photos are composited on white and downscaled with
# splat's area filter first (crates/scene/examples/blender_for_peer.rs; `splat eval` of one model
# on them and on the original folder at --resolution 200 gives the same scores), brush starts from
# 100,000 random points in [-1.3, 1.3]^3 as the reference does for synthetic scenes, and both
# models are scored by `splat eval` on the same 200 test views on white (brush's own evaluation
# renders on black).
#
# Usage: benches/brush_side_by_side.sh BRUSH_CLI [OUT] [STEPS]
#   BRUSH_CLI: the binary ../shared/peers/brush/build.sh prints (e.g. runs/peers/brush/target/release/brush-cli)
#   OUT: a folder for both runs (default runs/brush-vs-splat); STEPS: 3000
# Prints one table row per trainer: PSNR, SSIM, Gaussians, wall time, steps per second of wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
BRUSH=$(realpath "$1")
OUT=${2:-runs/brush-vs-splat}
STEPS=${3:-3000}
DATA=${SPLAT_SHARED_DATASETS:-../shared/datasets}/chair
[ -x "$BRUSH" ] || { echo "brush_side_by_side: $BRUSH is not an executable" >&2; exit 2; }
[ -f "$DATA/transforms_train.json" ] || { echo "brush_side_by_side: no chair scene at $DATA" >&2; exit 2; }
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}

cargo build --release -q -p splat-pipeline
cargo build --release -q -p splat-scene --example blender_for_peer
SPLAT=target/release/splat
mkdir -p "$OUT"
[ -f "$OUT/chair-200/points3d.ply" ] || target/release/examples/blender_for_peer "$DATA" "$OUT/chair-200" 200

seconds() { date +%s.%N; }

# Ours, defaults.
rm -rf "$OUT/splat"
t0=$(seconds)
"$SPLAT" train "$DATA" -o "$OUT/splat" --steps "$STEPS" --resolution 200 >"$OUT/splat.log" 2>&1
t1=$(seconds)
splat_wall=$(echo "$t1 - $t0" | bc)

# brush, with the flags ../shared/peers/README.md gives for this protocol (its --export-path is
# relative to the dataset's parent folder unless absolute).
rm -rf "$OUT/brush"
mkdir -p "$OUT/brush"
t0=$(seconds)
"$BRUSH" "$OUT/chair-200" --total-train-iters "$STEPS" --max-resolution 200 \
    --background-color 1 1 1 --eval-every 1000 --export-every "$STEPS" \
    --export-path "$(realpath "$OUT/brush")" >"$OUT/brush.log" 2>&1
t1=$(seconds)
brush_wall=$(echo "$t1 - $t0" | bc)
brush_ply=$(ls -t "$OUT"/brush/*.ply 2>/dev/null | head -1 || true)
[ -n "$brush_ply" ] || { echo "brush_side_by_side: brush wrote no PLY (see $OUT/brush.log)" >&2; exit 1; }

score() { # model -> "psnr ssim gaussians"
    "$SPLAT" eval "$1" "$OUT/chair-200" --json |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["psnr"], d["ssim"], d["gaussians"])'
}
read -r sp ss sg <<<"$(score "$OUT/splat/point_cloud.ply")"
read -r bp bs bg <<<"$(score "$brush_ply")"
printf '| trainer | PSNR | SSIM | Gaussians | wall s | steps/s (wall) |\n|---|---:|---:|---:|---:|---:|\n'
printf '| splat train | %.2f | %.4f | %d | %.0f | %.2f |\n' "$sp" "$ss" "$sg" "$splat_wall" "$(echo "$STEPS / $splat_wall" | bc -l)"
printf '| brush | %.2f | %.4f | %d | %.0f | %.2f |\n' "$bp" "$bs" "$bg" "$brush_wall" "$(echo "$STEPS / $brush_wall" | bc -l)"

#!/usr/bin/env bash
# The README's first command: set up a new machine and run splat on the built-in scene.
# Until `splat demo` chains SfM → training → compression, this generates the scene with exact
# cameras (48 views at 64×48, 6 held out, 8,000 SfM-like points) and trains on it with the
# default schedule shortened 20× (1,500 steps, MCMC capped at 10,000 Gaussians): the held-out
# PSNR reaches ~30.5 dB. Outputs in OUT (default out/demo): point_cloud.ply, eval.json,
# metrics.jsonl, curves.png and test_views.png (ground truth | render per held-out view).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-out/demo}"

bash scripts/setup.sh
cargo build --release --bin splat
SPLAT=target/release/splat

"$SPLAT" info
"$SPLAT" generate -o "$OUT/scene" --views 48 --width 64 --height 48 --points 8000 --samples 6
"$SPLAT" train "$OUT/scene" -o "$OUT" --strategy mcmc --max-gaussians 10000 --steps 1500 \
  --scale-schedule --eval-every 500 --checkpoint-every 500 --seed 1
echo "demo: held-out views compared in $OUT/test_views.png, curves in $OUT/curves.png, model in $OUT/point_cloud.ply"

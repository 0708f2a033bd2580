#!/usr/bin/env bash
# The README's first command: set up a new machine and run splat on the built-in scene.
# Until `splat demo` chains SfM → training → compression, this generates the scene with exact
# cameras and a stand-in model on its surfaces, renders that model on the GPU, and shows the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-out/demo}"

bash scripts/setup.sh
cargo build --release --bin splat
SPLAT=target/release/splat

"$SPLAT" info
"$SPLAT" generate -o "$OUT" --cloud 100000
"$SPLAT" render "$OUT/surface.ply" "$OUT" --view 3 -o "$OUT/render_view3.png" --background 1,1,1
echo "demo: compare $OUT/images/view_003.png (ray-traced ground truth) with $OUT/render_view3.png (Gaussians on the GPU)"

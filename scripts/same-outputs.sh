#!/usr/bin/env bash
# Fingerprints the outputs that a change meant to keep behaviour (a refactor) must leave
# byte-identical: the built-in scene through `splat demo` (COLMAP models, PLY, SOG), and short
# ADC and MCMC training runs with a compressed SOG of the first. Prints one sha256 per file.
#   bash scripts/same-outputs.sh OUT_DIR            (uses target/release/splat; BIN=… for another)
# Run it at the commit before and after the change and compare the two listings with `diff`.
# Training is deterministic on one device, so the listings are equal exactly when nothing changed.
set -euo pipefail
BIN=${BIN:-target/release/splat}
D=${1:?usage: same-outputs.sh OUT_DIR}
[ -x "$BIN" ] || { echo "no $BIN: run cargo build --release -p splat-pipeline first (or set BIN)" >&2; exit 1; }
rm -rf "$D"
mkdir -p "$D"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
"$BIN" demo -o "$D/demo" >"$D/demo.log" 2>&1
"$BIN" generate -o "$D/scene" --views 16 --width 160 --height 120 >/dev/null 2>&1
"$BIN" train "$D/scene" -o "$D/adc" --steps 400 --resolution 64 --eval-every 0 --checkpoint-every 0 >"$D/adc.log" 2>&1
"$BIN" train "$D/scene" -o "$D/mcmc" --steps 300 --resolution 64 --strategy mcmc --max-gaussians 3000 \
    --eval-every 0 --checkpoint-every 0 >"$D/mcmc.log" 2>&1
"$BIN" compress "$D/adc/point_cloud.ply" -o "$D/adc.sog" >/dev/null 2>&1
cd "$D"
find demo adc mcmc adc.sog -type f \( -name '*.ply' -o -name '*.sog' -o -name 'cameras.*' -o -name 'images.*' -o -name 'points3D.*' \) \
    | sort | xargs sha256sum

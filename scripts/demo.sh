#!/usr/bin/env bash
# The README's first command: set up a new machine and run `splat demo` on the built-in scene:
# 48 photos at 480×360 rendered with exact cameras → SfM from the photos alone → training at
# 64 px (1,500 steps, MCMC capped at 10,000 Gaussians) → SOG compression, then the camera
# error against the exact cameras, the held-out PSNR and the compressed size. Outputs in OUT
# (default out/demo); a rerun reuses every finished stage.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-out/demo}"

bash scripts/setup.sh
cargo build --release --bin splat
SPLAT=target/release/splat
# lavapipe's window-system layer complains on stderr when this is unset; compute does not need it.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

"$SPLAT" info
"$SPLAT" demo -o "$OUT"

#!/usr/bin/env bash
# The long crash soak of `splat run` (issue 24): the test `soak` with more kill points.
#   bash scripts/soak.sh [KILLS [SEED]]      (defaults: 60 kill points, seed 1)
# Each kill point is a SIGKILL at a random moment of sfm, training or compression (4 : 4 : 3),
# followed by a rerun; the final outputs are compared byte for byte with an uninterrupted run.
# Prints the kill points per stage; about 2 s per kill point on a 2-core machine with lavapipe.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
SPLAT_SOAK_KILLS="${1:-60}" SPLAT_SOAK_SEED="${2:-1}" \
  cargo test -p splat-pipeline --test soak -- --nocapture

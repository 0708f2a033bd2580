#!/usr/bin/env bash
# The training schedule's default against the paper's step numbers and the former
# --scale-schedule (benches/RESULTS.md, "the default schedule now follows --steps"): the
# built-in scene (SfM-quality points) at 1,500 steps and the NeRF-synthetic chair (random
# start) at 1,000 steps, both at 100 px, one run at a time, release binary.
# Usage: bash benches/schedule_defaults.sh OUT_DIR [RUN ...]   (RUN: scene-default scene-paper
# scene-scaled chair-default chair-paper chair-scaled; default: all)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:?usage: schedule_defaults.sh OUT_DIR [RUN ...]}"
shift
RUNS=("$@")
[ ${#RUNS[@]} -gt 0 ] || RUNS=(scene-default scene-paper scene-scaled chair-default chair-paper chair-scaled)
CHAIR="${SPLAT_SHARED_DATASETS:-$ROOT/../shared/datasets}/chair"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo build --release -q -p splat-pipeline --bin splat
S="$ROOT/target/release/splat"
mkdir -p "$OUT"
cd "$OUT"
[ -d scene ] || "$S" generate -o scene --views 32 --width 400 --height 300 > /dev/null
for run in "${RUNS[@]}"; do
    case $run in
        scene-*) data=scene; steps=1500 ;;
        chair-*) data="$CHAIR"; steps=1000 ;;
        *) echo "unknown run $run" >&2; exit 2 ;;
    esac
    case $run in
        *-default) flags=() ;;
        *-paper) flags=(--paper-schedule) ;;
        *-scaled) flags=(--scale-schedule) ;;
    esac
    "$S" train "$data" -o "$run" --steps "$steps" --resolution 100 --eval-every 0 \
        --checkpoint-every 0 "${flags[@]}" > "$run.log" 2>&1
    python3 - "$run" <<'PY'
import json, sys
n = sys.argv[1]
e = json.load(open(n + "/eval.json"))
print(f"{n}: test PSNR {e['test_psnr']:.2f} dB, SSIM {e['test_ssim']:.4f}, "
      f"{e['gaussians']} Gaussians, {e['seconds']:.0f} s, {e['steps_per_second']:.2f} steps/s")
PY
done

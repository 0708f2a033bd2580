#!/usr/bin/env bash
# The training step on lavapipe, Debian 12's own Mesa 22.3 against Mesa 25 from bookworm-backports,
# side by side on one machine with one splat binary: `splat train --profile` (milliseconds a step
# by stage) on the built-in scene, the same run under each driver. Each driver's packages are
# downloaded with `apt-get download` and unpacked into OUT (nothing is installed); the run picks
# one with VK_DRIVER_FILES. Needs Debian 12's apt sources with bookworm-backports (scripts/setup.sh
# adds it there). Prints each run's profile; the logs stay in OUT.
#
# Usage: benches/lavapipe_versions.sh [OUT] [STEPS] [RESOLUTION]   (defaults: runs/lavapipe-versions 400 64)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/lavapipe-versions}
STEPS=${2:-400}
RES=${3:-64}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
cargo build -q --workspace --features splat-pipeline/aws
SPLAT=$(realpath target/debug/splat)
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

# Unpacks PACKAGES from RELEASE into OUT/NAME/root and writes OUT/NAME/icd.json pointing at its
# lavapipe.
driver() { # name release packages...
    local dir="$OUT/$1" release=$2
    shift 2
    if [ ! -f "$dir/icd.json" ]; then
        rm -rf "$dir"
        mkdir -p "$dir/debs"
        for p in "$@"; do (cd "$dir/debs" && apt-get download -q "$p/$release" >/dev/null); done
        for d in "$dir"/debs/*.deb; do dpkg -x "$d" "$dir/root"; done
        local lib="$dir/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"
        [ -f "$lib" ] || { echo "lavapipe_versions: no libvulkan_lvp.so in $1's packages" >&2; exit 1; }
        sed "s|\"library_path\": *\"[^\"]*\"|\"library_path\": \"$lib\"|" \
            "$dir"/root/usr/share/vulkan/icd.d/lvp_icd*.json >"$dir/icd.json"
    fi
    dpkg-deb -f "$dir"/debs/mesa-vulkan-drivers_*.deb Version
}

v22=$(driver mesa22 bookworm mesa-vulkan-drivers)
v25=$(driver mesa25 bookworm-backports mesa-vulkan-drivers mesa-libgallium libdrm2 libdrm-amdgpu1 libdrm-intel1)

[ -d "$OUT/scene" ] || "$SPLAT" generate -o "$OUT/scene" --views 32 --width 400 --height 300 >"$OUT/generate.log" 2>&1

for name in mesa22 mesa25; do
    version=$v22
    [ "$name" = mesa25 ] && version=$v25
    echo "== lavapipe from Mesa $version: splat train --resolution $RES --steps $STEPS --sh-interval 0 --densify-from 50 --profile"
    VK_DRIVER_FILES="$OUT/$name/icd.json" VK_ICD_FILENAMES="$OUT/$name/icd.json" \
        LD_LIBRARY_PATH="$OUT/$name/root/usr/lib/x86_64-linux-gnu" \
        "$SPLAT" train "$OUT/scene" -o "$OUT/train-$name" --resolution "$RES" --steps "$STEPS" \
        --sh-interval 0 --densify-from 50 --eval-every 0 --checkpoint-every 0 --profile \
        >"$OUT/train-$name.log" 2>&1
    grep -E "^training .* on |time per step|^  |^trained" "$OUT/train-$name.log"
done

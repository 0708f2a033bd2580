#!/usr/bin/env bash
# SfM end to end, side by side: `splat sfm` and COLMAP 3.8 (feature_extractor + exhaustive_matcher
# + mapper, CPU, one shared camera), both on IMAGES at --max-image-size (default 1024). Prints
# CPU and wall seconds per tool, registered images, points, mean track length and reprojection
# error of each model, and, with GT (a COLMAP model, a folder of Strecha .camera files or a
# transforms_*.json), the pose errors of both models from `splat sfm-eval`; GT `colmap` compares
# splat's model with the model COLMAP made in the same run (scenes without ground truth, such as south-building).
# `splat sfm` runs with its defaults (`--matcher auto`); COLMAP matches every pair. KEEP=DIR
# keeps both workspaces (and their logs) in DIR.
#
#   bash benches/sfm_end_to_end.sh IMAGES [GT|colmap] [MAX_IMAGE_SIZE]
set -euo pipefail
images=$(realpath "$1")
gt=${2:-}
size=${3:-1024}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${KEEP:-$(mktemp -d)}
mkdir -p "$out"
export QT_QPA_PLATFORM=offscreen
cargo build --release -q -p splat-pipeline --manifest-path "$root/Cargo.toml"
splat="$root/target/release/splat"
cpu() { # label command... → appends "label user+sys wall" to $out/times
    local label=$1; shift
    /usr/bin/time -f "%U %S %e" -o "$out/t" "$@" > "$out/log.$label" 2>&1 || { cat "$out/log.$label"; exit 1; }
    awk -v l="$label" '{printf "%s %.1f %.1f\n", l, $1 + $2, $3}' "$out/t" >> "$out/times"
}
echo "images: $images ($(ls "$images" | wc -l) files), $size px, $(nproc) cores"
cpu splat "$splat" sfm "$images" -o "$out/splat" --max-image-size "$size" --no-undistort
mkdir -p "$out/colmap/sparse"
cpu colmap_extract colmap feature_extractor --database_path "$out/colmap/database.db" --image_path "$images" \
    --SiftExtraction.max_image_size "$size" --SiftExtraction.use_gpu 0 --ImageReader.single_camera 1
cpu colmap_match colmap exhaustive_matcher --database_path "$out/colmap/database.db" --SiftMatching.use_gpu 0
cpu colmap_map colmap mapper --database_path "$out/colmap/database.db" --image_path "$images" --output_path "$out/colmap/sparse"
for m in splat:"$out/splat/distorted/sparse/0" colmap:"$out/colmap/sparse/0"; do
    colmap model_analyzer --path "${m#*:}" 2>&1 | grep -E "Registered|Points|Mean track|Mean reproj" | sed "s/^.*\] //; s/^/${m%%:*}: /" >> "$out/models"
done
python3 - "$out/times" "$out/models" <<'PY'
import sys, collections
t = collections.defaultdict(lambda: [0.0, 0.0])
for line in open(sys.argv[1]):
    label, c, w = line.split()
    key = "splat" if label == "splat" else "colmap"
    t[key][0] += float(c); t[key][1] += float(w)
m = collections.defaultdict(dict)
for line in open(sys.argv[2]):
    tool, rest = line.split(": ", 1)
    k, v = rest.rsplit(":", 1)
    m[tool][k.strip()] = v.strip()
print(f"{'':30}{'splat':>14}{'COLMAP 3.8':>14}{'ratio':>8}")
print(f"{'CPU-s (extract+match+map)':30}{t['splat'][0]:>14.1f}{t['colmap'][0]:>14.1f}{t['splat'][0] / t['colmap'][0]:>8.2f}")
print(f"{'wall-s':30}{t['splat'][1]:>14.1f}{t['colmap'][1]:>14.1f}{t['splat'][1] / t['colmap'][1]:>8.2f}")
for k in ["Registered images", "Points", "Mean track length", "Mean reprojection error"]:
    print(f"{k:30}{m['splat'].get(k, '-'):>14}{m['colmap'].get(k, '-'):>14}")
PY
if [ "$gt" = colmap ]; then
    echo "splat against COLMAP's model:"
    "$splat" sfm-eval "$out/splat/distorted/sparse/0" "$out/colmap/sparse/0" | sed 's/^/  /'
elif [ -n "$gt" ]; then
    for m in splat:"$out/splat/distorted/sparse/0" colmap:"$out/colmap/sparse/0"; do
        echo "${m%%:*} against the ground truth:"
        "$splat" sfm-eval "${m#*:}" "$gt" | sed 's/^/  /'
    done
fi
grep -h "^colmap_" "$out/times" | sed 's/^/  (COLMAP step CPU-s, wall-s) /'
grep -hE "^pairs:|^retrieval:|^time" "$out/log.splat" | sed 's/^/  (splat) /' || true
[ -n "${KEEP:-}" ] || rm -rf "$out"

#!/usr/bin/env bash
# Side by side on one folder of photos: `splat match` and COLMAP 3.8 (CPU SIFT, exhaustive
# matching, one shared camera), both extracting at --max-image-size (default 1024). Prints the
# CPU and wall seconds of each step, features per image, verified pairs and inliers per pair, and
# the pairs where either finds fewer inliers; optionally runs COLMAP's mapper on both databases.
#
#   bash benches/sfm_vs_colmap.sh IMAGES [MAX_IMAGE_SIZE] [--mapper]
#
# Needs `colmap` (apt-get install colmap) and a release build of splat (it builds one).
set -euo pipefail
images=$(realpath "$1")
size=${2:-1024}
mapper=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
export QT_QPA_PLATFORM=offscreen
cargo build --release -q -p splat-pipeline --manifest-path "$root/Cargo.toml"
splat="$root/target/release/splat"
cpu() { # command... → "user+sys wall" seconds
    /usr/bin/time -f "%U %S %e" -o "$out/t" "$@" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }
    awk '{printf "%.1f %.1f\n", $1 + $2, $3}' "$out/t"
}
echo "images: $images ($(ls "$images" | wc -l) files), extraction at $size px, $(nproc) cores"
read -r s_cpu s_wall < <(cpu "$splat" match "$images" -o "$out/splat" --max-image-size "$size")
read -r ce_cpu ce_wall < <(cpu colmap feature_extractor --database_path "$out/colmap.db" --image_path "$images" \
    --SiftExtraction.max_image_size "$size" --SiftExtraction.use_gpu 0 --ImageReader.single_camera 1)
read -r cm_cpu cm_wall < <(cpu colmap exhaustive_matcher --database_path "$out/colmap.db" --SiftMatching.use_gpu 0)
python3 - "$out/splat/match-report.json" "$out/splat/database.db" "$out/colmap.db" \
    "$s_cpu" "$s_wall" "$ce_cpu" "$ce_wall" "$cm_cpu" "$cm_wall" <<'PY'
import json, sqlite3, sys
report = json.load(open(sys.argv[1]))
s_cpu, s_wall, ce_cpu, ce_wall, cm_cpu, cm_wall = map(float, sys.argv[4:10])
def load(path):
    c = sqlite3.connect(path)
    names = dict(c.execute("select image_id, name from images"))
    feats = [r for (r,) in c.execute("select rows from keypoints")]
    pairs = {}
    for pid, rows, cfg in c.execute("select pair_id, rows, config from two_view_geometries"):
        a, b = divmod(pid, 2147483647)
        pairs[tuple(sorted((names[a], names[b])))] = rows if cfg not in (0, 1) else 0
    return feats, pairs
sf, sp = load(sys.argv[2]); cf, cp = load(sys.argv[3])
n, npairs = len(sf), len(set(sp) | set(cp))
t = report["time"]
print(f"{'':28}{'splat':>12}{'COLMAP 3.8':>12}{'ratio':>8}")
def row(name, a, b, fmt="{:.2f}"):
    print(f"{name:28}{fmt.format(a):>12}{fmt.format(b):>12}{a / b if b else float('nan'):>8.2f}")
row("extract CPU-s per image", t["extract"]["cpu_s"] / n, ce_cpu / n)
row("match+verify CPU-s per pair", (t["matching"]["cpu_s"] + t["verification"]["cpu_s"]) / npairs, cm_cpu / npairs)
row("total CPU-s", s_cpu, ce_cpu + cm_cpu, "{:.1f}")
row("total wall-s", s_wall, ce_wall + cm_wall, "{:.1f}")
row("features per image", sum(sf) / n, sum(cf) / n, "{:.0f}")
sv = sum(1 for v in sp.values() if v); cv = sum(1 for v in cp.values() if v)
row("verified pairs", sv, cv, "{:.0f}")
row("inliers per verified pair", sum(sp.values()) / max(sv, 1), sum(cp.values()) / max(cv, 1), "{:.0f}")
fewer = [(k, sp.get(k, 0), cp.get(k, 0)) for k in sorted(set(sp) | set(cp)) if sp.get(k, 0) < cp.get(k, 0)]
print(f"pairs where splat has fewer inliers than COLMAP: {len(fewer)} of {npairs}")
for k, a, b in fewer:
    print(f"  {k[0]} – {k[1]}: {a} vs {b}")
PY
if [ "$mapper" = "--mapper" ]; then
    for db in splat/database.db colmap.db; do
        mkdir -p "$out/sparse-${db%%/*}"
        colmap mapper --database_path "$out/$db" --image_path "$images" --output_path "$out/sparse-${db%%/*}" > "$out/log" 2>&1
        echo "COLMAP mapper on ${db}:"
        colmap model_analyzer --path "$out/sparse-${db%%/*}/0" 2>&1 | grep -E "Registered|Points|Mean track|Mean reproj" | sed 's/^.*\] /  /'
    done
fi
rm -rf "$out"

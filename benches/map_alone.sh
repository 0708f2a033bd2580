#!/usr/bin/env bash
# The mapper alone on matches made before: copies DB_DIR's database.db and match-report.json
# into W, runs `splat sfm IMAGES -o W --reuse-matches --no-undistort` under /usr/bin/time,
# prints its CPU/wall seconds and peak memory, the mapper's time per part, the principal
# point's test and, given GT (a COLMAP model), the poses against it.
#
#   bash benches/map_alone.sh IMAGES DB_DIR W [GT]
#   e.g. bash benches/map_alone.sh runs/matching-scale/builtin-600/images \
#          runs/matching-scale/builtin-600-retrieval runs/map600 runs/matching-scale/builtin-600/sparse/0
set -euo pipefail
images=$1 db=$2 w=$3 gt=${4:-}
root=$(cd "$(dirname "$0")/.." && pwd)
splat="$root/target/release/splat"
cargo build --release -q -p splat-pipeline --manifest-path "$root/Cargo.toml"
rm -rf "$w"
mkdir -p "$w"
cp "$db/database.db" "$db/match-report.json" "$w/"
/usr/bin/time -f "%U %S %e %M" -o "$w/time" "$splat" sfm "$images" -o "$w" --reuse-matches --no-undistort > "$w/log" 2>&1
read -r user sys wall rss < "$w/time"
echo "CPU $(awk "BEGIN { print $user + $sys }") s, wall $wall s, peak RSS $((rss / 1024)) MiB"
grep -E "^model 0|mapping model 0|principal point" "$w/log"
if [ -n "$gt" ]; then
    "$splat" sfm-eval "$w/distorted/sparse/0" "$gt" | grep -E "RRE|focal"
fi

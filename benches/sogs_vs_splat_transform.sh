#!/usr/bin/env bash
# `splat compress` side by side with PlayCanvas's splat-transform 3.7.0 (run on the CPU, `-g cpu`,
# its defaults: Morton order, 10 k-means iterations, libwebp's default lossless settings).
#
#   bash benches/sogs_vs_splat_transform.sh quality MODEL.ply DATA [EVAL OPTIONS…]
#       (SKIP_SPLAT_TRANSFORM=1 leaves the peer out: its CPU k-means takes hours on large models)
#       file size, ratio against the PLY, and held-out PSNR/SSIM (`splat eval MODEL DATA
#       [EVAL OPTIONS…]`, e.g. `--resolution 160` for a model trained at that size) of the
#       original, of splat's .sog (PLAS order, Morton order, and compacted on DATA's training
#       views: `splat compress --views DATA`) and of splat-transform's .sog, each decoded back to
#       a PLY by its own tool. Optional rows, each scored against MODEL's PSNR:
#         SOG_AWARE_MODEL=M.ply   a model trained on the same views with `--sog-aware`: M itself,
#                                 its plain .sog (PLAS) and its compacted .sog ("both")
#         EXTRA_BUDGETS="0.1 …"   compaction again at each of these --max-psnr-drop budgets
#   bash benches/sogs_vs_splat_transform.sh timing N [ST_ITERATIONS]
#       wall/CPU seconds and peak memory to compress and decompress a stand-in model of N
#       Gaussians (`splat generate --cloud N`, SH degree 3) with both tools. splat-transform runs
#       ST_ITERATIONS k-means iterations (default 10; fewer where its CPU k-means would take
#       hours, and the script says so).
#
# Needs scripts/setup.sh (installs splat-transform into .tools/) and builds splat in release.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:?quality or timing}
out=$(mktemp -d)
# SPLAT=path uses that binary instead of building this checkout's (e.g. while it is being edited).
if [ -z "${SPLAT:-}" ]; then
    cargo build --release -q -p splat-pipeline --manifest-path "$root/Cargo.toml"
fi
splat="${SPLAT:-$root/target/release/splat}"
st="${SPLAT_TRANSFORM:-$root/.tools/splat-transform/node_modules/.bin/splat-transform}"
[ -x "$st" ] || { echo "splat-transform not found at $st: run bash scripts/setup.sh" >&2; exit 1; }
measure() { # label command... → "label wall cpu peak_MB"
    local label=$1; shift
    /usr/bin/time -f "%e %U %S %M" -o "$out/t" "$@" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }
    awk -v l="$label" '{printf "%-34s %8.2f s wall %8.2f s CPU %8.0f MB peak\n", l, $1, $2 + $3, $4 / 1024}' "$out/t"
}
size() { stat -c %s "$1"; }

case "$mode" in
quality)
    model=$(realpath "$2"); data=$(realpath "$3"); shift 3; eval_opts=("$@")
    echo "model: $model ($(size "$model") bytes), views: $data, $(nproc) cores"
    measure "splat compress (plas)" "$splat" compress "$model" -o "$out/plas.sog"
    measure "splat compress (morton)" "$splat" compress "$model" -o "$out/morton.sog" --order morton
    # Compaction on the training views of DATA (the eval options, --resolution/--background,
    # are the ones training used, so they are compaction's too).
    measure "splat compress --views (compacted)" "$splat" compress "$model" -o "$out/compact.sog" \
        --views "$data" --report "$out/compact.json" "${eval_opts[@]}"
    extra_rows=()
    for b in ${EXTRA_BUDGETS:-}; do
        measure "splat compress --views (budget $b)" "$splat" compress "$model" -o "$out/compact-$b.sog" \
            --views "$data" --max-psnr-drop "$b" --report "$out/compact-$b.json" "${eval_opts[@]}"
        "$splat" decompress "$out/compact-$b.sog" -o "$out/compact-$b.ply" > /dev/null
        extra_rows+=("splat compacted $b dB:$out/compact-$b.sog:$out/compact-$b.ply")
    done
    if [ -n "${SOG_AWARE_MODEL:-}" ]; then
        aware=$(realpath "$SOG_AWARE_MODEL")
        measure "splat compress (sog-aware model)" "$splat" compress "$aware" -o "$out/aware.sog"
        measure "splat compress --views (sog-aware)" "$splat" compress "$aware" -o "$out/aware-compact.sog" \
            --views "$data" --report "$out/aware-compact.json" "${eval_opts[@]}"
        "$splat" decompress "$out/aware.sog" -o "$out/aware.ply" > /dev/null
        "$splat" decompress "$out/aware-compact.sog" -o "$out/aware-compact.ply" > /dev/null
        extra_rows+=("sog-aware model:$aware:$aware" "sog-aware plas:$out/aware.sog:$out/aware.ply"
                     "sog-aware compacted:$out/aware-compact.sog:$out/aware-compact.ply")
    fi
    rows_st="splat-transform:$out/st.sog:$out/st.ply"
    if [ -n "${SKIP_SPLAT_TRANSFORM:-}" ]; then
        echo "splat-transform: left out (SKIP_SPLAT_TRANSFORM is set)"; rows_st=""
    else
        measure "splat-transform compress" "$st" -g cpu -w -q "$model" "$out/st.sog"
        "$st" -g cpu -w -q "$out/st.sog" "$out/st.ply"
    fi
    "$splat" decompress "$out/plas.sog" -o "$out/plas.ply" > /dev/null
    "$splat" decompress "$out/compact.sog" -o "$out/compact.ply" > /dev/null
    "$splat" decompress "$out/morton.sog" -o "$out/morton.ply" > /dev/null
    printf "%-24s %12s %8s %10s %8s %10s\n" "model" "bytes" "ratio" "PSNR dB" "SSIM" "drop dB"
    base=""
    for row in "original:$model:$model" "splat plas:$out/plas.sog:$out/plas.ply" \
               "splat morton:$out/morton.sog:$out/morton.ply" "splat compacted:$out/compact.sog:$out/compact.ply" \
               "${extra_rows[@]}" $rows_st; do
        IFS=: read -r name file ply <<< "$row"
        read -r psnr ssim < <("$splat" eval "$ply" "$data" --json "${eval_opts[@]}" 2>/dev/null |
            python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["psnr"], d["ssim"])')
        base=${base:-$psnr}
        awk -v n="$name" -v b="$(size "$file")" -v m="$(size "$model")" -v p="$psnr" -v s="$ssim" -v o="$base" \
            'BEGIN {printf "%-24s %12d %8.2f %10.3f %8.4f %10.3f\n", n, b, m / b, p, s, o - p}'
    done
    for report in "$out"/*compact*.json; do
    echo "$(basename "$report" .json):"
    python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["compaction"]; print("compaction: %d -> %d Gaussians, SH degree %d -> %d, training views %.3f -> %.3f dB, tries %s" % (c["gaussians_before"], c["gaussians_after"], c["sh_degree_before"], c["sh_degree_after"], c["train_psnr_before"], c["train_psnr_after"], [(a["gaussians"], a["sh_degree"], round(a["train_drop"], 3)) for a in c["attempts"]])); print("  positions %d bits (tries %s); SH codebook %d levels (tries %s); SH palette %s (rule %d, tries %s)" % (c["position_bits"], [(b, round(d, 3)) for b, d in c["position_tries"]], c["sh_levels"], [(l, round(d, 3)) for l, d in c["sh_level_tries"]], c["palette_size"] or c["palette_size_rule"], c["palette_size_rule"], [(p, round(d, 3)) for p, d in c["palette_tries"]])); print("  files: %s" % json.load(open(sys.argv[1]))["files"])' "$report"
    done
    ;;
timing)
    n=${2:?N}; iters=${3:-10}
    "$splat" generate -o "$out/scene" --views 4 --width 32 --height 24 --cloud "$n" > /dev/null 2>&1
    model="$out/scene/surface.ply"
    echo "stand-in model: $n Gaussians, SH degree 3, $(size "$model") bytes; $(nproc) cores"
    measure "splat compress" "$splat" compress "$model" -o "$out/splat.sog"
    measure "splat decompress" "$splat" decompress "$out/splat.sog" -o "$out/splat.ply"
    measure "splat-transform compress (-i $iters)" "$st" -g cpu -w -q -i "$iters" "$model" "$out/st.sog"
    measure "splat-transform decompress" "$st" -g cpu -w -q "$out/st.sog" "$out/st.ply"
    echo "sizes: splat $(size "$out/splat.sog") bytes, splat-transform $(size "$out/st.sog") bytes"
    ;;
*) echo "unknown mode $mode (quality or timing)" >&2; exit 1 ;;
esac
rm -rf "$out"

#!/usr/bin/env bash
# The test suite on a new machine, as written in README.md: installs what the tests need
# (scripts/setup.sh: the Vulkan loader and lavapipe, PlayCanvas's splat-transform; COLMAP 3.8
# and Chromium from the distribution's packages; scripts/cloud-tools.sh: cfn-lint, hadolint,
# moto, asl-validator), then runs `cargo test --workspace --features splat-pipeline/aws` (the
# feature builds `splat submit`, tested against moto; extra arguments are
# passed to it). Tests that read the real photo datasets run when ../shared/datasets (or
# SPLAT_SHARED_DATASETS) exists; without them they are skipped and the summary at the end lists
# each and why. Under CI (CI=true) nothing may be skipped: a missing dataset or COLMAP fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# The cloud side's linters and moto (a local S3 + Step Functions for `splat submit`).
bash scripts/cloud-tools.sh

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
if ! command -v "${SPLAT_COLMAP:-colmap}" >/dev/null; then
    if command -v apt-get >/dev/null; then
        echo "test: installing COLMAP (the SfM tests compare with its mapper)"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends colmap >/dev/null
    fi
fi
if ! command -v "${SPLAT_COLMAP:-colmap}" >/dev/null && [ "${CI:-}" != "true" ]; then
    echo "test: COLMAP is not available here; the tests that run it will be skipped"
    export SPLAT_SKIP_COLMAP=1
fi

# The viewer's tests drive headless Chromium (WebGL2 on its CPU renderer, SwiftShader).
if [ -z "${SPLAT_CHROMIUM:-}" ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    if command -v apt-get >/dev/null; then
        echo "test: installing Chromium (the viewer's tests run it headless)"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
    else
        echo "test: no Chromium and no apt-get: install Chromium (or set SPLAT_CHROMIUM) for the viewer's tests"
    fi
fi

have_datasets() {
    if [ -n "${SPLAT_SHARED_DATASETS:-}" ]; then [ -d "$SPLAT_SHARED_DATASETS" ]; return; fi
    local d="$PWD"
    while [ "$d" != "/" ]; do
        [ -d "$d/shared/datasets" ] && return 0
        d="$(dirname "$d")"
    done
    return 1
}
if ! have_datasets && [ "${CI:-}" != "true" ]; then
    echo "test: ../shared/datasets is not beside this checkout; the tests on real photos will be skipped"
    export SPLAT_SKIP_SHARED=1
fi

# lavapipe's window-system layer complains on stderr when this is unset; compute does not need it.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
skipped="$(mktemp)"
export SPLAT_SKIP_LOG="$skipped"

status=0
cargo test --workspace --features splat-pipeline/aws "$@" || status=$?

if [ -s "$skipped" ]; then
    echo
    echo "test: $(sort -u "$skipped" | wc -l) test(s) ran without their real data and checked nothing of it:"
    sort -u "$skipped" | sed 's/^/  not run: /'
fi
rm -f "$skipped"
exit "$status"

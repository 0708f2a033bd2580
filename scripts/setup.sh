#!/usr/bin/env bash
# Installs what splat needs on a fresh Debian/Ubuntu machine: a Vulkan loader and, for machines
# without a GPU driver, Mesa's software Vulkan device (lavapipe). Safe to run again.
set -euo pipefail

have_vulkan() {
    ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' && ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1
}

# Debian 12's own lavapipe (Mesa 22.3) turns every storage-buffer access into a loop over the
# SIMD lanes; Mesa 25 from Debian's bookworm-backports runs a training step ~2.4x faster on the
# same CPU (benches/RESULTS.md, "lavapipe"). Later Debian and Ubuntu releases ship Mesa >= 23.
on_bookworm() {
    [ "$(. /etc/os-release 2>/dev/null && echo "${ID:-}-${VERSION_CODENAME:-}")" = "debian-bookworm" ]
}

install_lavapipe() {
    if on_bookworm; then
        if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
            echo "deb http://deb.debian.org/debian bookworm-backports main" |
                $SUDO tee /etc/apt/sources.list.d/splat-bookworm-backports.list >/dev/null
        fi
        $SUDO apt-get update -qq
        if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null; then
            return
        fi
        echo "setup: Mesa from bookworm-backports did not install; taking Debian 12's own (slower) lavapipe" >&2
    else
        $SUDO apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
}

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
if have_vulkan && [ "${SPLAT_FORCE_SETUP:-0}" != "1" ]; then
    echo "setup: a Vulkan loader and driver are installed"
    if on_bookworm && dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q '^22\.'; then
        echo "setup: this lavapipe is Mesa 22.3; SPLAT_FORCE_SETUP=1 bash scripts/setup.sh installs Mesa 25 from bookworm-backports (CPU training ~2.4x faster)"
    fi
else
    echo "setup: installing the Vulkan loader and Mesa's drivers (lavapipe)"
    install_lavapipe
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }

# The SOG interoperability tests run PlayCanvas's splat-transform (a pinned version, installed
# into .tools/ of this checkout; Node.js ≥ 18 and npm are needed).
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ST_VERSION=3.7.0
ST="$ROOT/.tools/splat-transform"
if [ -x "$ST/node_modules/.bin/splat-transform" ] && grep -q "\"version\": \"$ST_VERSION\"" "$ST/node_modules/@playcanvas/splat-transform/package.json" 2>/dev/null; then
    echo "setup: splat-transform $ST_VERSION is installed"
else
    if ! command -v npm >/dev/null; then
        echo "setup: installing Node.js and npm (for splat-transform)"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
    fi
    echo "setup: installing @playcanvas/splat-transform@$ST_VERSION into $ST"
    mkdir -p "$ST"
    npm install --prefix "$ST" --no-audit --no-fund --loglevel=error "@playcanvas/splat-transform@$ST_VERSION" >/dev/null
fi

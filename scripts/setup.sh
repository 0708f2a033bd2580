#!/usr/bin/env bash
# Installs what splat needs on a fresh Debian/Ubuntu machine: a Vulkan loader and, for machines
# without a GPU driver, Mesa's software Vulkan device (lavapipe). Safe to run again.
set -euo pipefail

have_vulkan() {
    ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' && ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1
}

if have_vulkan && [ "${SPLAT_FORCE_SETUP:-0}" != "1" ]; then
    echo "setup: a Vulkan loader and driver are installed"
else
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    echo "setup: installing the Vulkan loader and Mesa's drivers (lavapipe)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
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
        SUDO=""
        if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
        echo "setup: installing Node.js and npm (for splat-transform)"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
    fi
    echo "setup: installing @playcanvas/splat-transform@$ST_VERSION into $ST"
    mkdir -p "$ST"
    npm install --prefix "$ST" --no-audit --no-fund --loglevel=error "@playcanvas/splat-transform@$ST_VERSION" >/dev/null
fi

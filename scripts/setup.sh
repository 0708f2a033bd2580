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

#!/usr/bin/env bash
# Installs what building and testing need on Debian/Ubuntu; safe to run again.
# libhdf5-dev: the HDF5 readers; fonts-dejavu-core: text in the PNG plots;
# libhwloc-dev + libudev-dev: CPU/NUMA topology and thread pinning (hwlocality links -ludev);
# chromium + Node.js (npm): the browser app's end-to-end test; wasm-bindgen-cli: its build.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in pkg-config libhdf5-dev fonts-dejavu-core libhwloc-dev libudev-dev chromium; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install Rust with rustup (https://rustup.rs) and re-run" >&2
    exit 1
fi
installed_targets=$(rustup target list --installed)
grep -qx wasm32-unknown-unknown <<<"$installed_targets" || rustup target add wasm32-unknown-unknown
installed_components=$(rustup component list --installed)
for c in clippy rustfmt; do
    grep -q "^$c" <<<"$installed_components" || rustup component add "$c"
done

# The threaded browser build: a pinned nightly with the standard library's source (build-std).
rustup toolchain list | grep -q '^nightly-2026-05-20' ||
    rustup toolchain install nightly-2026-05-20 --profile minimal -c rust-src -t wasm32-unknown-unknown
# wasm-bindgen-cli must match the wasm-bindgen version in Cargo.lock exactly.
wb=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $wb" ]; then
    cargo install wasm-bindgen-cli --version "=$wb" --force
fi
(cd web/e2e && npm ci --no-audit --no-fund --silent)

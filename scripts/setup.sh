#!/usr/bin/env bash
# Installs what building and running heterodyne needs on Debian/Ubuntu; safe to run again.
#
#   bash scripts/setup.sh            the CLI and the node with its built-in browser app
#   bash scripts/setup.sh --tests    that, plus what the tests need
#
# The CLI: pkg-config + libhdf5-dev (HDF5 files), libnetcdf-dev (posterior.nc, ArviZ's
# InferenceData format), libhwloc-dev + libudev-dev (CPU/NUMA
# topology and pinning; hwlocality links -ludev), fonts-dejavu-core (text in PNG plots).
# The browser app built into the binary (native/build.rs): the wasm32-unknown-unknown
# target, and the pinned nightly with rust-src for its threaded module (build-std).
# --tests adds clippy and rustfmt, Chromium and Node.js with playwright-core (the browser
# app's end-to-end test), and a Python venv with ArviZ (posterior.nc read by ArviZ itself)
# at $HETERODYNE_VENV (default ~/.cache/heterodyne-rs/venv).
set -euo pipefail
cd "$(dirname "$0")/.."

tests=0
for arg in "$@"; do
    case "$arg" in
        --tests) tests=1 ;;
        *) echo "setup: unknown option $arg (expected --tests)" >&2; exit 2 ;;
    esac
done

packages=(pkg-config libhdf5-dev libnetcdf-dev fonts-dejavu-core libhwloc-dev libudev-dev)
[ "$tests" -eq 1 ] && packages+=(chromium python3-venv)
need=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "$tests" -eq 1 ]; then
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
fi
if [ ${#need[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if ! command -v cargo >/dev/null 2>&1 || ! command -v rustup >/dev/null 2>&1; then
    echo "setup: cargo/rustup not found; install Rust with rustup (https://rustup.rs) and re-run" >&2
    exit 1
fi
installed_targets=$(rustup target list --installed)
grep -qx wasm32-unknown-unknown <<<"$installed_targets" || rustup target add wasm32-unknown-unknown
# The threaded browser module: a pinned nightly with the standard library's source.
rustup toolchain list | grep -q '^nightly-2026-05-20' ||
    rustup toolchain install nightly-2026-05-20 --profile minimal -c rust-src -t wasm32-unknown-unknown

if [ "$tests" -eq 1 ]; then
    installed_components=$(rustup component list --installed)
    for c in clippy rustfmt; do
        grep -q "^$c" <<<"$installed_components" || rustup component add "$c"
    done
    (cd web/e2e && npm ci --no-audit --no-fund --silent)
    venv=${HETERODYNE_VENV:-$HOME/.cache/heterodyne-rs/venv}
    if ! "$venv/bin/python" -c "import arviz, netCDF4" >/dev/null 2>&1; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            arviz==0.23.4 netCDF4==1.7.5.1.post1 xarray==2026.9.0
    fi
fi

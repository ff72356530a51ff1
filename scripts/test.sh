#!/usr/bin/env bash
# The project's checks, in the order a reviewer reads them: format, lints, docs, every test
# (release build: the same binary the README's first command builds, browser app included,
# whose wasm modules compile heterodyne-core for wasm32), then the browser app in headless
# Chromium against that binary copied alone into a temporary directory. Tests that need
# ../shared/fixtures print why they skip when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}

cargo fmt --all -- --check
# Lints and docs in the release profile too: their build scripts and proc macros are then
# the test build's, compiled once (a cold CI run saves minutes on 2 cores).
cargo clippy --release --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --release --workspace --no-deps --quiet
if [ -d ../shared/fixtures ]; then
    echo "shared fixtures found at ../shared/fixtures: medium-dataset and real-file tests run"
else
    echo "note: ../shared/fixtures is absent (a fresh clone): the tests that need the medium dataset and the real APS file shells pass without checking anything (each prints why under --nocapture)"
fi
cargo test --workspace --release
# The README's main job, on the bundled example, with the binary just built.
"$target_dir/release/heterodyne" fit --config examples/fit.yaml --output-dir "$target_dir/readme-example" --quiet
# posterior.nc as ArviZ reads it: means against result.json, divergences against the stats.
"$target_dir/release/heterodyne" fit --config examples/fit.yaml --method both --seed 1 \
    --output-dir "$target_dir/arviz-example" --quiet --no-plots
"${HETERODYNE_VENV:-$HOME/.cache/heterodyne-rs/venv}/bin/python" -W ignore::FutureWarning \
    tests/arviz/check_posterior_nc.py "$target_dir/arviz-example"
HETERODYNE_BIN="$target_dir/release/heterodyne" node web/e2e/app.mjs

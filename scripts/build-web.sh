#!/usr/bin/env bash
# Builds the browser app into web/dist (index.html + pkg/ with the wasm and its JS glue),
# which `heterodyne serve --web-dir web/dist` serves at /. Needs the wasm32 target and
# wasm-bindgen-cli of the version in Cargo.lock (scripts/setup.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}
cargo build -p heterodyne-web --release --target wasm32-unknown-unknown
rm -rf web/dist
mkdir -p web/dist
wasm-bindgen --target web --no-typescript --out-dir web/dist/pkg \
    "$target_dir/wasm32-unknown-unknown/release/heterodyne_web.wasm"
cp web/www/* web/dist/
echo "web app built in web/dist ($(du -sh web/dist | cut -f1))"

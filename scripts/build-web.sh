#!/usr/bin/env bash
# Builds the browser app into web/dist, which `heterodyne serve --web-dir web/dist` serves
# at /: index.html, pkg/ (single-threaded, stable Rust) and pkg-threads/ (rayon on web
# workers: the pinned nightly with build-std and atomics, ../shared/toolchain.md §A.4).
# index.html and fit-worker.js. The page runs the single-threaded build; its fit worker
# loads the threaded one when the page is cross-origin isolated, else the other. Needs the wasm32 target, the nightly toolchain and wasm-bindgen-cli of the version
# in Cargo.lock (scripts/setup.sh installs all three).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}
nightly=nightly-2026-05-20

cargo build -p heterodyne-web --release --target wasm32-unknown-unknown

# Shared memory needs the explicit link arguments since rust-lang/rust#147225.
RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals -C link-arg=--shared-memory -C link-arg=--max-memory=4294967296 -C link-arg=--import-memory -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base" \
    cargo "+$nightly" build -p heterodyne-web --release --target wasm32-unknown-unknown \
    --features threads -Z build-std=panic_abort,std --target-dir "$target_dir/web-threads"

rm -rf web/dist
mkdir -p web/dist
wasm-bindgen --target web --no-typescript --out-dir web/dist/pkg \
    "$target_dir/wasm32-unknown-unknown/release/heterodyne_web.wasm"
wasm-bindgen --target web --no-typescript --out-dir web/dist/pkg-threads \
    "$target_dir/web-threads/wasm32-unknown-unknown/release/heterodyne_web.wasm"
cp web/www/* web/dist/
echo "web app built in web/dist ($(du -sh web/dist | cut -f1))"

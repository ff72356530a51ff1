#!/usr/bin/env bash
# The project's checks, in the order a reviewer reads them: format, lints, docs, the core
# for the browser target, then every test. Tests that need ../shared/fixtures print why they
# skip when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
cargo build -p heterodyne-core --target wasm32-unknown-unknown
if [ -d ../shared/fixtures ]; then
    echo "shared fixtures found at ../shared/fixtures: medium-dataset and real-file tests run"
else
    echo "note: ../shared/fixtures is absent (a fresh clone): the tests that need the medium dataset and the real APS file shells pass without checking anything (each prints why under --nocapture)"
fi
cargo test --workspace
# The browser app: built to wasm, served by the node, driven in headless Chromium. The node
# binary is the one `cargo test` just built (test profile, optimised).
bash scripts/build-web.sh
HETERODYNE_BIN="${CARGO_TARGET_DIR:-target}/debug/heterodyne" node web/e2e/app.mjs

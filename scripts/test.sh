#!/usr/bin/env bash
# The project's checks, in the order a reviewer reads them: format, lints, the core for
# the browser target, then every test. Tests that need ../shared/fixtures print why they
# skip when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build -p heterodyne-core --target wasm32-unknown-unknown
cargo test --workspace

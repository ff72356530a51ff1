#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60): the NPZ/NPY parser, the HDF5
# layout reader over hdf5-pure, the YAML config reader + validator, and the node's
# multipart upload path. Corpora are seeded from the test fixtures (under the shared
# cargo target dir, not the repository). A crash fails the script; its input is left
# under fuzz/artifacts/<target>/ — minimise it (`cargo fuzz tmin`) and add it as a
# regression test under tests/.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(npz hdf5_layout config multipart)
nightly=nightly-2026-05-20
export HETERODYNE_WEB=skip
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/heterodyne-rs/fuzz-target}
# A debug build of the driver: it only invokes cargo, and compiles in a third of the time.
command -v cargo-fuzz >/dev/null || cargo install --locked --debug cargo-fuzz --version 0.13.2
corpus=$CARGO_TARGET_DIR/corpus
mkdir -p "$corpus"/{npz,hdf5_layout,config,multipart}
cp -n tests/data/datasets/small.npz "$corpus/npz/" 2>/dev/null || true
for f in tests/data/datasets/*.h5 examples/example_aps_u.h5; do
    cp -n "$f" "$corpus/hdf5_layout/" 2>/dev/null || true
done
for f in examples/*.yaml; do cp -n "$f" "$corpus/config/" 2>/dev/null || true; done
# A well-formed upload: the example config and a tiny NPY file, boundary XyZ (the target's).
if [ ! -e "$corpus/multipart/seed" ]; then
    python3 - "$corpus/multipart/seed" <<'PY'
import struct, sys
cfg = open("examples/fit.yaml", "rb").read()
header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (4, 4), }"
header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
npy += b"".join(struct.pack("<d", 1.0 + 0.01 * k) for k in range(16))
body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"config\"\r\n\r\n" + cfg +
        b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"data\"; filename=\"d.npy\"\r\n"
        b"Content-Type: application/octet-stream\r\n\r\n" + npy + b"\r\n--XyZ--\r\n")
open(sys.argv[1], "wb").write(body)
PY
fi
cd fuzz
cargo +"$nightly" fuzz build -O
for t in "${targets[@]}"; do
    echo "== fuzz $t for ${seconds}s"
    # -rss_limit_mb: a reader that allocates what the input does not hold is a finding.
    # hdf5_layout may legitimately hold a dataset of up to 2 GiB (its reader's limit, as
    # float64 plus the raw buffer), so it gets more room and a longer per-input timeout.
    limits=(-rss_limit_mb=2048 -timeout=20)
    [ "$t" = hdf5_layout ] && limits=(-rss_limit_mb=6144 -timeout=60)
    log=$CARGO_TARGET_DIR/fuzz-$t.log
    status=0
    cargo +"$nightly" fuzz run -O "$t" "$corpus/$t" -- \
        -max_total_time="$seconds" "${limits[@]}" -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|^Done|ERROR|SUMMARY|panicked" "$log" || true
    # A run that never finished its time (did not start, crashed) fails, with or without
    # an artifact.
    if [ "$status" -ne 0 ] || ! grep -q "^Done [0-9]* runs" "$log"; then
        echo "fuzz $t: exit status $status; see $log" >&2
        exit 1
    fi
    # libFuzzer keeps inputs slower than 10 s as slow-unit-*: worth a look, not a crash.
    if compgen -G "artifacts/$t/slow-unit-*" >/dev/null; then
        echo "fuzz $t: slow inputs (> 10 s) kept in fuzz/artifacts/$t/:" >&2
        ls artifacts/"$t"/slow-unit-* >&2
    fi
    if [ -d "artifacts/$t" ] && find "artifacts/$t" -type f ! -name 'slow-unit-*' | grep -q .; then
        echo "fuzz $t: crash inputs in fuzz/artifacts/$t/" >&2
        ls "artifacts/$t" >&2
        exit 1
    fi
done

//! Inputs the fuzz targets (`fuzz/`, `scripts/fuzz.sh`) found, kept as tests: each must
//! now give a clear error, within bounded memory.

use std::path::Path;

fn input(target: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/fuzz")
        .join(target)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A mutated small fixture whose matrix shape claims ~238 000² cells: the reader reserved
/// the window from the shape (455 GB) before reading a block.
#[test]
fn hdf5_shape_claims_do_not_reserve_memory() {
    let bytes = input("hdf5_layout", "huge-shape-claim.h5");
    let r = heterodyne_core::data::hdf5_bytes::read_stack_from_bytes(bytes);
    let e = r.expect_err("a corrupt file");
    assert!(!e.to_string().is_empty());
}

/// A mutated fixture whose dataset yields fewer values than its shape: the whole-read
/// block slicer indexed past the end (a panic in the page and the fuzzer).
#[test]
fn hdf5_values_shorter_than_their_shape_are_an_error() {
    let bytes = input("hdf5_layout", "fewer-values-than-shape.h5");
    let r = heterodyne_core::data::hdf5_bytes::read_stack_from_bytes(bytes);
    let e = r.expect_err("a corrupt file");
    assert!(!e.to_string().is_empty());
}

/// Chunk indexes claiming chunks that lie past the end of the file. hdf5-pure 0.47.0
/// (`chunk_span.rs`, `ChunkSpanReader::chunk_bytes`) sizes its read buffer from such a
/// claim before checking it (u32::MAX bytes from a 4 KB file; 4 GiB zeroed per chunk and
/// 12 s for a 22 KB one). The in-memory reader now checks every chunk against the file's
/// length first, so the error names the chunk and nothing is allocated from the claim.
#[test]
fn hdf5_chunks_past_the_end_of_the_file_are_refused_before_reading() {
    for name in ["upstream-chunk-span-4gib.h5", "chunk-address-past-end.h5"] {
        let bytes = input("hdf5_layout", name);
        let r = heterodyne_core::data::hdf5_bytes::read_stack_from_bytes(bytes);
        let e = r.expect_err("a corrupt file").to_string();
        assert!(e.contains("past the end of the"), "{name}: {e}");
    }
}

/// A flat layout whose 3-D array claims 2³⁴ matrices: the scan allocated the per-matrix
/// q/φ lists from the shape before reading anything.
#[test]
fn hdf5_matrix_counts_are_bounded_before_anything_is_allocated() {
    let bytes = input("hdf5_layout", "huge-matrix-count.h5");
    let r = heterodyne_core::data::hdf5_bytes::read_stack_from_bytes(bytes);
    let e = r.expect_err("a corrupt file");
    assert!(!e.to_string().is_empty());
}

/// A dataset of unwritten chunks claiming 11.8 GB of fill value: hdf5-pure materialises
/// it; the in-memory reader now refuses such claims before reading.
/// The second: 9.2 GB of fill sized by a claimed element size / chunk shape, not the
/// dataset's shape.
#[test]
fn hdf5_fill_value_claims_are_refused_before_reading() {
    for name in ["fill-value-11gb.h5", "fill-value-chunk-9gb.h5"] {
        let bytes = input("hdf5_layout", name);
        let r = heterodyne_core::data::hdf5_bytes::read_stack_from_bytes(bytes);
        let e = r.expect_err("a file claiming gigabytes");
        assert!(!e.to_string().is_empty(), "{name}");
    }
}

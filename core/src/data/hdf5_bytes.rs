//! HDF5 files held in memory, read by hdf5-pure (pure Rust: it compiles to wasm32) through
//! the shared layout detection of [`super::hdf5`]. The browser app reads dropped files
//! with it, and the fuzz target `hdf5_layout` drives it with arbitrary bytes.

use std::cell::RefCell;
use std::ops::Range;

use super::hdf5::{Hdf5Tree, block_of, read_stack};
use super::prepare::DataError;
use super::stack::RawStack;

/// Most values one dataset may claim (2 GiB as float64): more than a page can hold, and
/// far more than the two-time files it is meant for.
const MAX_VALUES: u64 = 1 << 28;

/// Most bytes of raw storage (the dataset, or one chunk) the reader asks hdf5-pure for.
const MAX_RAW_BYTES: u64 = 1 << 31;

/// A dataset read whole: its path, shape and values.
type Whole = (String, Vec<usize>, Vec<f64>);

/// An HDF5 file parsed by hdf5-pure, and its length in bytes.
struct PureTree {
    file: hdf5_pure::File,
    len: u64,
    /// The dataset the last block came from: hdf5-pure reads whole datasets, so the
    /// blocks and matrices of one dataset are cut from one read.
    last: RefCell<Option<Whole>>,
}

impl Hdf5Tree for PureTree {
    fn exists(&self, path: &str) -> bool {
        self.file.dataset(path).is_ok() || self.file.group(path).is_ok()
    }

    fn members(&self, group: &str) -> Result<Vec<String>, String> {
        let g = if group.is_empty() {
            self.file.root()
        } else {
            self.file.group(group).map_err(|e| e.to_string())?
        };
        let mut names = g.groups().map_err(|e| e.to_string())?;
        names.extend(g.datasets().map_err(|e| e.to_string())?);
        Ok(names)
    }

    fn read_f64(&self, path: &str) -> Result<(Vec<usize>, Vec<f64>), String> {
        let ds = self.file.dataset(path).map_err(|e| e.to_string())?;
        let shape = ds.shape().map_err(|e| e.to_string())?;
        // hdf5-pure materialises the whole dataset, unwritten chunks as fill values, so a
        // small file can claim gigabytes (a fuzzed one asked for 11.8 GB): refuse first.
        let values_claimed = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .unwrap_or(u64::MAX);
        if values_claimed > MAX_VALUES {
            return Err(format!(
                "claims {values_claimed} values (shape {shape:?}); this in-memory reader holds at most {MAX_VALUES}"
            ));
        }
        // …and its raw buffers are sized by element size and chunk shape, which a file
        // can claim independently of the shape (9.2 GB of fill from a 2 KB file).
        let element = ds.element_size().map_err(|e| e.to_string())?;
        let chunk = ds
            .chunk_shape()
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let bytes = |dims: &[u64]| {
            dims.iter()
                .try_fold(element, |acc, &d| acc.checked_mul(d))
                .unwrap_or(u64::MAX)
        };
        let raw = bytes(&shape).max(bytes(&chunk));
        if raw > MAX_RAW_BYTES {
            return Err(format!(
                "claims {raw} bytes of storage (shape {shape:?}, chunks {chunk:?}, {element}-byte elements); this in-memory reader holds at most {MAX_RAW_BYTES}"
            ));
        }
        // hdf5-pure 0.47 sizes a chunk's read buffer from the stored size the chunk index
        // claims before checking it lies in the file (a 22 KB fuzzed file: 4 GiB zeroed
        // per chunk, 12 s): every chunk must end inside the file. An index hdf5-pure cannot
        // enumerate (B-tree v2) is left to its own checks.
        if ds.is_chunked()
            && let Ok(chunks) = ds.chunks()
        {
            for c in &chunks {
                let end = c.address.checked_add(c.storage_size);
                if end.is_none_or(|end| end > self.len) {
                    return Err(format!(
                        "chunk at element offset {:?} claims {} bytes at byte {}, past the end of the {}-byte file",
                        c.offset, c.storage_size, c.address, self.len
                    ));
                }
            }
        }
        let values = ds.read_f64().map_err(|e| e.to_string())?;
        Ok((shape.into_iter().map(|d| d as usize).collect(), values))
    }

    fn shape(&self, path: &str) -> Result<Vec<usize>, String> {
        let ds = self.file.dataset(path).map_err(|e| e.to_string())?;
        let shape = ds.shape().map_err(|e| e.to_string())?;
        Ok(shape.into_iter().map(|d| d as usize).collect())
    }

    fn read_f64_block(
        &self,
        path: &str,
        index: Option<usize>,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Result<Vec<f64>, String> {
        let mut last = self.last.borrow_mut();
        // Another dataset's values are dropped before this one is read: one held at a time.
        let whole = match last.take().filter(|(p, _, _)| p == path) {
            Some(whole) => whole,
            None => {
                let (shape, values) = self.read_f64(path)?;
                (path.to_owned(), shape, values)
            }
        };
        let block = block_of(&whole.1, &whole.2, index, rows, cols);
        *last = Some(whole);
        block
    }
}

/// Reads every matrix of the HDF5 file `bytes` (any supported layout).
pub fn read_stack_from_bytes(bytes: Vec<u8>) -> Result<RawStack, DataError> {
    let len = bytes.len() as u64;
    let file = hdf5_pure::File::from_bytes(bytes).map_err(|e| DataError {
        dataset: None,
        reason: format!("not a readable HDF5 file: {e}"),
    })?;
    read_stack(&PureTree {
        file,
        len,
        last: RefCell::new(None),
    })
}

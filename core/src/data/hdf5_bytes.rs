//! HDF5 files held in memory, read by hdf5-pure (pure Rust: it compiles to wasm32) through
//! the shared layout detection of [`super::hdf5`]. The browser app reads dropped files
//! with it, and the fuzz target `hdf5_layout` drives it with arbitrary bytes.

use super::hdf5::{Hdf5Tree, read_stack};
use super::prepare::DataError;
use super::stack::RawStack;

/// Most values one dataset may claim (2 GiB as float64): more than a page can hold, and
/// far more than the two-time files it is meant for.
const MAX_VALUES: u64 = 1 << 28;

/// Most bytes of raw storage (the dataset, or one chunk) the reader asks hdf5-pure for.
const MAX_RAW_BYTES: u64 = 1 << 31;

/// An HDF5 file parsed by hdf5-pure.
struct PureTree(hdf5_pure::File);

impl Hdf5Tree for PureTree {
    fn exists(&self, path: &str) -> bool {
        self.0.dataset(path).is_ok() || self.0.group(path).is_ok()
    }

    fn members(&self, group: &str) -> Result<Vec<String>, String> {
        let g = if group.is_empty() {
            self.0.root()
        } else {
            self.0.group(group).map_err(|e| e.to_string())?
        };
        let mut names = g.groups().map_err(|e| e.to_string())?;
        names.extend(g.datasets().map_err(|e| e.to_string())?);
        Ok(names)
    }

    fn read_f64(&self, path: &str) -> Result<(Vec<usize>, Vec<f64>), String> {
        let ds = self.0.dataset(path).map_err(|e| e.to_string())?;
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
        let values = ds.read_f64().map_err(|e| e.to_string())?;
        Ok((shape.into_iter().map(|d| d as usize).collect(), values))
    }

    fn shape(&self, path: &str) -> Result<Vec<usize>, String> {
        let ds = self.0.dataset(path).map_err(|e| e.to_string())?;
        let shape = ds.shape().map_err(|e| e.to_string())?;
        Ok(shape.into_iter().map(|d| d as usize).collect())
    }
}

/// Reads every matrix of the HDF5 file `bytes` (any supported layout).
pub fn read_stack_from_bytes(bytes: Vec<u8>) -> Result<RawStack, DataError> {
    let file = hdf5_pure::File::from_bytes(bytes).map_err(|e| DataError {
        dataset: None,
        reason: format!("not a readable HDF5 file: {e}"),
    })?;
    read_stack(&PureTree(file))
}

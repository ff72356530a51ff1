//! Data files: HDF5 layouts, NumPy arrays, atomic writes.

mod atomic;
mod error;
pub mod hdf5;
pub mod inference_data;
mod npy;
mod outdir;
pub mod plots;
pub mod posterior;
pub mod posterior_plots;
pub mod results;
mod stack;

pub use atomic::write_atomically;
pub use error::IoError;
pub use heterodyne_core::data::stack::{RawStack, rebuild_half_matrix};
pub use npy::{npy_header_f64, read_npy, read_npz, read_weights, write_npy, write_npz};
pub use outdir::Staging;
pub use stack::C2Stack;

use std::path::Path;

/// Whether `path` names an HDF5 file by its extension.
pub fn is_hdf5(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    matches!(ext.as_str(), "h5" | "hdf5" | "hdf" | "nxs")
}

/// Reads a data file by extension: `.h5/.hdf5/.hdf` (any supported layout), `.npz`,
/// `.npy`.
pub fn read_data(path: &Path) -> Result<RawStack, IoError> {
    if !path.exists() {
        return Err(IoError::file(path, "file not found"));
    }
    if !path.is_file() {
        return Err(IoError::file(path, "is not a file"));
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "h5" | "hdf5" | "hdf" | "nxs" => hdf5::read_hdf5(path),
        "npz" => read_npz(path),
        "npy" => read_npy(path),
        other => Err(IoError::file(
            path,
            format!("unknown data format '.{other}' (expected .h5, .hdf5, .hdf, .npz or .npy)"),
        )),
    }
}

//! A dropped file's bytes to the matrices a fit sees: format by magic bytes, NPZ/NPY
//! through the same parser as the CLI (`heterodyne_core::data::npz`), then the same
//! selection and diagonal correction (`heterodyne_core::data::prepare`).

use std::io::Cursor;

use heterodyne_core::config::Config;
use heterodyne_core::data::npz::{Npz, read_npy_stack};
use heterodyne_core::data::prepare::{Prepared, prepare};
use heterodyne_core::data::stack::RawStack;

/// Largest matrix side fitted in the browser; larger files go to a node.
pub const MAX_FRAMES_HERE: usize = 400;

/// A file as read: its name, matrices, and what its metadata says.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The file's name.
    pub name: String,
    /// The file's bytes (kept to send the file to a node).
    pub bytes: Vec<u8>,
    /// Matrices as stored.
    pub raw: RawStack,
    /// Frame spacing from the file (`dt` array), s.
    pub dt: Option<f64>,
}

/// Reads `bytes` of file `name`. Errors name the file and say what was expected.
pub fn read(name: &str, bytes: Vec<u8>) -> Result<Loaded, String> {
    let head: &[u8] = &bytes[..bytes.len().min(8)];
    let at = |e: String| format!("{name}: {e}");
    let (raw, dt) = if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        let mut npz = Npz::new(Cursor::new(bytes.as_slice())).map_err(|e| at(e.to_string()))?;
        let dt = npz
            .array("dt")
            .map_err(|e| at(e.to_string()))?
            .and_then(|a| a.1.first().copied());
        (npz.stack().map_err(|e| at(e.to_string()))?, dt)
    } else if head.starts_with(b"\x93NUMPY") {
        (
            read_npy_stack(Cursor::new(bytes.as_slice())).map_err(|e| at(e.to_string()))?,
            None,
        )
    } else if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        return Err(at(
            "HDF5 files are not read in the browser yet: convert to .npz, or send the file to a node"
                .to_string(),
        ));
    } else {
        return Err(at(format!(
            "not a two-time file: expected NPZ, NPY or HDF5 (first bytes {head:02x?})"
        )));
    };
    Ok(Loaded {
        name: name.to_string(),
        bytes,
        raw,
        dt,
    })
}

/// The data `config` selects from `loaded`, or why not.
pub fn select(loaded: &Loaded, config: &Config) -> Result<Prepared, String> {
    prepare(&loaded.raw, &config.analyzer, &config.fit, None)
        .map_err(|e| format!("{}: {e}", loaded.name))
}

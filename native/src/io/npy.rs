//! NumPy `.npy` and `.npz` files: writing here, parsing in `heterodyne_core::data::npz`
//! (shared with the browser app).

use std::fs::File;
use std::path::Path;

use ndarray::{Array1, Array3};
use ndarray_npy::{NpzWriter, WriteNpyExt};

use heterodyne_core::data::npz::{self, Npz};

use super::atomic::write_atomically;
use super::error::IoError;
use super::stack::C2Stack;

fn c2_array(stack: &C2Stack, path: &Path) -> Result<Array3<f64>, IoError> {
    Array3::from_shape_vec((stack.n_phi(), stack.n, stack.n), stack.c2.clone())
        .map_err(|e| IoError::dataset(path, "c2", e))
}

/// The `.npy` (format 1.0) header of a C-order little-endian float64 array of shape
/// `dims`, for writers that stream the values after it.
pub fn npy_header_f64(dims: &[usize]) -> Vec<u8> {
    let shape = match dims {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + dict + '\n', padded to 64 bytes.
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    while 10 + dict.len() + 1 < total {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Writes `c2` alone as `.npy` (shape `[phi, t1, t2]`).
pub fn write_npy(path: &Path, stack: &C2Stack) -> Result<(), IoError> {
    let c2 = c2_array(stack, path)?;
    write_atomically(path, |tmp| {
        let file = File::create(tmp).map_err(|e| IoError::file(path, e))?;
        c2.write_npy(std::io::BufWriter::new(file))
            .map_err(|e| IoError::dataset(path, "c2", e))
    })
}

/// Writes `.npz` with arrays `c2 [phi, t1, t2]`, `t` (s), `phi` (degrees), `q` (1/Å).
pub fn write_npz(path: &Path, stack: &C2Stack) -> Result<(), IoError> {
    let c2 = c2_array(stack, path)?;
    write_atomically(path, |tmp| {
        let file = File::create(tmp).map_err(|e| IoError::file(path, e))?;
        let mut npz = NpzWriter::new(std::io::BufWriter::new(file));
        let err = |name: &str| {
            let name = name.to_string();
            move |e: ndarray_npy::WriteNpzError| IoError::dataset(path, name.clone(), e)
        };
        npz.add_array("c2", &c2).map_err(err("c2"))?;
        npz.add_array("t", &Array1::from(stack.t.clone()))
            .map_err(err("t"))?;
        npz.add_array("phi", &Array1::from(stack.phi.clone()))
            .map_err(err("phi"))?;
        npz.add_array("q", &Array1::from(vec![stack.q]))
            .map_err(err("q"))?;
        npz.finish().map_err(err("(archive)"))?;
        Ok(())
    })
}

/// Reads a `.npy` holding c2 alone.
pub fn read_npy(path: &Path) -> Result<crate::io::RawStack, IoError> {
    let file = File::open(path).map_err(|e| IoError::file(path, e))?;
    npz::read_npy_stack(std::io::BufReader::new(file)).map_err(|e| IoError::of_data(path, e))
}

/// Reads a `.npz` with arrays `c2` and optional `t`, `q`, `phi`.
pub fn read_npz(path: &Path) -> Result<crate::io::RawStack, IoError> {
    let file = File::open(path).map_err(|e| IoError::file(path, e))?;
    Npz::new(std::io::BufReader::new(file))
        .and_then(|mut z| z.stack())
        .map_err(|e| IoError::of_data(path, e))
}

/// Reads a weights array: a `.npy`, or the array `weights` of a `.npz`.
pub fn read_weights(path: &Path) -> Result<Vec<f64>, IoError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "npy" => {
            let file = File::open(path).map_err(|e| IoError::file(path, e))?;
            Ok(npz::read_npy_array(std::io::BufReader::new(file))
                .map_err(|e| IoError::file(path, e))?
                .1)
        }
        "npz" => {
            let file = File::open(path).map_err(|e| IoError::file(path, e))?;
            Npz::new(std::io::BufReader::new(file))
                .and_then(|mut z| z.array("weights"))
                .map_err(|e| IoError::of_data(path, e))?
                .map(|a| a.1)
                .ok_or_else(|| IoError::dataset(path, "weights", "array not found in the archive"))
        }
        _ => Err(IoError::file(path, "weights must be a .npy or .npz file")),
    }
}

//! NumPy `.npy` and `.npz` output.

use std::fs::File;
use std::path::Path;

use ndarray::{Array1, Array3};
use ndarray_npy::{NpzWriter, WriteNpyExt};

use super::atomic::write_atomically;
use super::error::IoError;
use super::stack::C2Stack;

fn c2_array(stack: &C2Stack, path: &Path) -> Result<Array3<f64>, IoError> {
    Array3::from_shape_vec((stack.n_phi(), stack.n, stack.n), stack.c2.clone())
        .map_err(|e| IoError::dataset(path, "c2", e))
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

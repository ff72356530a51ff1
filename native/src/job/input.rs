//! The job's input: the data file found, read and selected, and optional per-cell weights.

use std::path::{Path, PathBuf};

use anyhow::bail;

use heterodyne_core::data::prepare::{Prepared, prepare, select};

use crate::config::Config;
use crate::io::{self, IoError};

/// Resolves a data path: as given when it exists relative to the working directory,
/// else relative to the config's directory.
pub fn resolve_data_path(given: &Path, config: &Path) -> PathBuf {
    if given.is_absolute() || given.exists() {
        return given.to_path_buf();
    }
    match config.parent() {
        Some(dir) if dir.join(given).exists() => dir.join(given),
        _ => given.to_path_buf(),
    }
}

/// Reads `data_path` and applies the config's selection (frames, angles `phi` or the
/// config's, the diagonal correction). Notes about the selection are in `Prepared::notes`.
///
/// HDF5 files are read selectively: only the chosen matrices' frame window, in row
/// blocks, so a fit of a window never holds the whole file. Returns the layout's name.
pub fn load(
    config: &Config,
    data_path: &Path,
    phi: Option<&[f64]>,
) -> anyhow::Result<(&'static str, Prepared)> {
    if io::is_hdf5(data_path) && data_path.is_file() {
        let (layout, prepared) = io::hdf5::read_hdf5_selected(data_path, |index| {
            select(
                index.n,
                &index.q,
                &index.phi,
                &config.analyzer,
                &config.fit,
                phi,
            )
        })?;
        return Ok((layout, prepared));
    }
    let raw = io::read_data(data_path)?;
    let prepared = prepare(&raw, &config.analyzer, &config.fit, phi)
        .map_err(|e| IoError::of_data(data_path, e))?;
    Ok((raw.layout, prepared))
}

/// Reads per-cell weights for `n_phi` matrices of `n×n` (a single `n×n` array applies to
/// every angle).
pub fn read_weights(path: &Path, n_phi: usize, n: usize) -> anyhow::Result<Vec<f64>> {
    let raw = io::read_weights(path)?;
    let nn = n * n;
    let w = match raw.len() {
        l if l == n_phi * nn => raw,
        l if l == nn => (0..n_phi).flat_map(|_| raw.iter().copied()).collect(),
        l => bail!(
            "{}: weights hold {l} values; expected [{n_phi}, {n}, {n}] or [{n}, {n}] (the selected angles and frame window)",
            path.display()
        ),
    };
    if let Some(bad) = w.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
        bail!(
            "{}: weights must be finite and ≥ 0, found {bad}",
            path.display()
        );
    }
    Ok(w)
}

//! A dropped file's bytes to the matrices a fit sees: format by magic bytes; NPZ/NPY
//! through the same parser as the CLI (`heterodyne_core::data::npz`); HDF5 through
//! hdf5-pure and the CLI's layout detection (`heterodyne_core::data::hdf5`); then the
//! same selection and diagonal correction (`heterodyne_core::data::prepare`).

use std::io::Cursor;

use heterodyne_core::config::Config;
use heterodyne_core::data::hdf5_bytes::read_stack_from_bytes;
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

impl Loaded {
    /// The distinct angles the file gives, ascending, degrees.
    pub fn angles(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.raw.phi.iter().flatten().copied().collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    }
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
        let raw = read_stack_from_bytes(bytes.clone()).map_err(|e| at(e.to_string()))?;
        let dt = raw.frame_time;
        (raw, dt)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every HDF5 layout of the small fixture gives the NPZ's matrices, read by the page's
    /// pure-Rust HDF5 reader.
    #[test]
    fn the_page_reads_every_small_layout_like_the_npz() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/datasets");
        let read_file =
            |name: &str| read(name, std::fs::read(dir.join(name)).expect("fixture")).expect("read");
        let mut form = crate::config_text::Form::default();
        form.analyzer.dt = 0.5;
        form.analyzer.q = 0.0054;
        form.analyzer.end_frame = 100;
        let config = form.config().expect("config");
        let npz = select(&read_file("small.npz"), &config).expect("select");
        for name in [
            "small_flat.h5",
            "small_exchange.h5",
            "small_aps_old.h5",
            "small_aps_u.h5",
        ] {
            let h5 = select(&read_file(name), &config).expect(name);
            assert_eq!((h5.n, &h5.phi), (npz.n, &npz.phi), "{name}");
            let worst = h5
                .c2
                .iter()
                .zip(&npz.c2)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            // The APS layouts store float32 matrices.
            assert!(worst < 1e-6, "{name}: max |Δc2| = {worst}");
        }
        let junk = read("junk.h5", b"\x89HDF\r\n\x1a\nnot really".to_vec()).expect_err("junk");
        assert!(junk.contains("junk.h5"), "{junk}");
    }
}

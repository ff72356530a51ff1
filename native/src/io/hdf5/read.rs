//! Reading HDF5 files with libhdf5 (hdf5-metno): the layouts themselves are detected and
//! read by `heterodyne_core::data::hdf5`, shared with the browser app.

use std::cell::RefCell;
use std::ops::Range;
use std::path::Path;

use ::hdf5::File;
use heterodyne_core::data::hdf5::{Hdf5Tree, StackIndex, read_stack, read_window, scan_stack};
use heterodyne_core::data::prepare::{DataError, Prepared, Selection, finish};

use crate::io::RawStack;
use crate::io::error::IoError;

/// An open file as the shared layout reader sees it, with the dataset last read in
/// blocks kept open (its chunk cache then serves the next block).
struct Tree(File, RefCell<Option<(String, ::hdf5::Dataset)>>);

impl Tree {
    fn new(file: File) -> Self {
        Self(file, RefCell::new(None))
    }
}

impl Hdf5Tree for Tree {
    fn exists(&self, path: &str) -> bool {
        // Check each level: libhdf5 fails on a path whose parent is missing.
        let mut prefix = String::new();
        for part in path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if !self.0.link_exists(&prefix) {
                return false;
            }
        }
        true
    }

    fn members(&self, group: &str) -> Result<Vec<String>, String> {
        let names = if group.is_empty() {
            self.0.member_names()
        } else {
            self.0.group(group).and_then(|g| g.member_names())
        };
        names.map_err(|e| e.to_string())
    }

    fn read_f64(&self, path: &str) -> Result<(Vec<usize>, Vec<f64>), String> {
        let ds = self.0.dataset(path).map_err(|e| e.to_string())?;
        let values = ds.read_raw::<f64>().map_err(|e| e.to_string())?;
        Ok((ds.shape(), values))
    }

    fn shape(&self, path: &str) -> Result<Vec<usize>, String> {
        Ok(self.0.dataset(path).map_err(|e| e.to_string())?.shape())
    }

    fn read_f64_block(
        &self,
        path: &str,
        index: Option<usize>,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Result<Vec<f64>, String> {
        let mut open = self.1.borrow_mut();
        if open.as_ref().is_none_or(|(p, _)| p != path) {
            // Dropping the previous dataset frees its cache.
            *open = None;
            let ds = self.0.dataset(path).map_err(|e| e.to_string())?;
            *open = Some((path.to_string(), ds));
        }
        let Some((_, ds)) = open.as_ref() else {
            return Err(format!("{path}: not open"));
        };
        // A hyperslab: libhdf5 reads (and decompresses) only the chunks it touches, and
        // converts float32 to float64 on the way.
        let block: ndarray::Array2<f64> = match index {
            None => ds.read_slice_2d(ndarray::s![rows, cols]),
            Some(k) => ds.read_slice(ndarray::s![k, rows, cols]),
        }
        .map_err(|e| e.to_string())?;
        Ok(block.into_raw_vec_and_offset().0)
    }
}

/// Chunk cache per open dataset: large enough for one whole-matrix chunk of a large
/// file (N = 10 000 float32 is 400 MB), so reading such a matrix in row blocks
/// decompresses it once. Only chunks actually read take memory, and a dataset's cache
/// is freed when the next dataset is opened.
const CHUNK_CACHE_BYTES: usize = 1 << 30;

fn open(path: &Path) -> Result<File, IoError> {
    // w0 = 1: a chunk whose rows have all been read is evicted first, so row-block chunks
    // (what `simulate` writes) stay a block or two in the cache; only a chunk spanning
    // the whole matrix is held until the matrix is read.
    File::with_options()
        .with_fapl(|p| p.chunk_cache(521, CHUNK_CACHE_BYTES, 1.0))
        .open(path)
        .map_err(|e| IoError::file(path, format!("not a readable HDF5 file: {e}")))
}

/// Reads any supported layout, every matrix whole.
pub fn read_hdf5(path: &Path) -> Result<RawStack, IoError> {
    read_stack(&Tree::new(open(path)?)).map_err(|e| IoError::of_data(path, e))
}

/// Reads only what a fit selects: the layout is scanned, the matrices and frame window
/// chosen from its metadata, and just that window read in row blocks (hyperslabs).
/// Returns the layout's name and the prepared data.
pub fn read_hdf5_selected(
    path: &Path,
    choose: impl FnOnce(&StackIndex) -> Result<Selection, DataError>,
) -> Result<(&'static str, Prepared), IoError> {
    let tree = Tree::new(open(path)?);
    let index = scan_stack(&tree).map_err(|e| IoError::of_data(path, e))?;
    let mut selection = choose(&index).map_err(|e| IoError::of_data(path, e))?;
    let (c2, mut notes) = read_window(
        &tree,
        &index,
        &selection.indices,
        selection.start,
        selection.n,
    )
    .map_err(|e| IoError::of_data(path, e))?;
    notes.append(&mut selection.notes);
    selection.notes = notes;
    let prepared = finish(selection, c2).map_err(|e| IoError::of_data(path, e))?;
    Ok((index.layout, prepared))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compressed labels: cells without pixels get no label, so label − 1 is not the flat
    /// (q, φ) cell; `dynamic_index_mapping` gives it.
    #[test]
    fn aps_u_labels_go_through_the_index_mapping() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("u.h5");
        {
            let f = File::create(&path).expect("create");
            let qmap = f
                .create_group("xpcs")
                .and_then(|g| g.create_group("qmap"))
                .expect("qmap");
            qmap.new_dataset_builder()
                .with_data(&ndarray::arr1(&[0.004, 0.005, 0.006]))
                .create("dynamic_v_list_dim0")
                .expect("q");
            qmap.new_dataset_builder()
                .with_data(&ndarray::arr1(&[0.0, 45.0, 90.0]))
                .create("dynamic_v_list_dim1")
                .expect("phi");
            // Cells 3 and 6 hold no pixel: labels 1..7 map to cells 0,1,2,4,5,7,8.
            qmap.new_dataset_builder()
                .with_data(&ndarray::arr1(&[0u8, 1, 2, 4, 5, 7, 8]))
                .create("dynamic_index_mapping")
                .expect("map");
            let tt = f
                .group("xpcs")
                .and_then(|g| g.create_group("twotime"))
                .expect("twotime");
            tt.new_dataset_builder()
                .with_data(&ndarray::arr1(&[4i32, 5, 6]))
                .create("processed_bins")
                .expect("bins");
            let maps = tt.create_group("correlation_map").expect("maps");
            for k in 1..=3 {
                let m = ndarray::Array2::<f32>::from_shape_fn((4, 4), |(i, j)| {
                    if j >= i { k as f32 } else { 0.0 }
                });
                maps.new_dataset_builder()
                    .with_data(&m)
                    .create(format!("c2_{k:05}").as_str())
                    .expect("c2");
            }
        }
        let raw = read_hdf5(&path).expect("read");
        assert_eq!(raw.layout, "aps-u");
        assert_eq!(raw.q, vec![Some(0.005), Some(0.005), Some(0.006)]);
        assert_eq!(raw.phi, vec![Some(45.0), Some(90.0), Some(45.0)]);
        // float32 upper triangles rebuilt into full float64 matrices.
        assert_eq!(raw.matrix(2)[4], 3.0);
        assert_eq!(raw.matrix(2)[1], 3.0);
    }
}

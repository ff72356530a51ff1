//! Reading HDF5 files with libhdf5 (hdf5-metno): the layouts themselves are detected and
//! read by `heterodyne_core::data::hdf5`, shared with the browser app.

use std::path::Path;

use ::hdf5::File;
use heterodyne_core::data::hdf5::{Hdf5Tree, read_stack};

use crate::io::RawStack;
use crate::io::error::IoError;

/// An open file as the shared layout reader sees it.
struct Tree(File);

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
}

/// Reads any supported layout.
pub fn read_hdf5(path: &Path) -> Result<RawStack, IoError> {
    let file = File::open(path)
        .map_err(|e| IoError::file(path, format!("not a readable HDF5 file: {e}")))?;
    read_stack(&Tree(file)).map_err(|e| IoError::of_data(path, e))
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

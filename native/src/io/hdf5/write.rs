//! Writing the flat layout (§3.4) and a minimal APS-U twotime layout (§3.1), so the
//! project can make realistic example files with `heterodyne simulate`.

use std::path::Path;

use ::hdf5::types::VarLenUnicode;
use ndarray::{Array1, Array2, Array3};

use crate::io::atomic::write_atomically;
use crate::io::error::IoError;
use crate::io::stack::C2Stack;

/// gzip level of the correlation matrices.
const DEFLATE_LEVEL: u8 = 4;

fn h5err(path: &Path, dataset: &str) -> impl Fn(::hdf5::Error) -> IoError {
    let (path, dataset) = (path.to_path_buf(), dataset.to_string());
    move |e| IoError::dataset(path.clone(), dataset.clone(), e)
}

fn write_generator(file: &::hdf5::File, path: &Path, dt: Option<f64>) -> Result<(), IoError> {
    let generator: VarLenUnicode =
        concat!("heterodyne-rs ", env!("CARGO_PKG_VERSION"), " simulate")
            .parse()
            .map_err(|e| IoError::dataset(path, "generator", format!("{e:?}")))?;
    file.new_attr::<VarLenUnicode>()
        .create("generator")
        .and_then(|a| a.write_scalar(&generator))
        .map_err(h5err(path, "generator"))?;
    if let Some(dt) = dt {
        file.new_attr::<f64>()
            .create("dt")
            .and_then(|a| a.write_scalar(&dt))
            .map_err(h5err(path, "dt"))?;
    }
    Ok(())
}

/// Root datasets `c2 [phi, t1, t2]`, `t`, `q`, `phi` (the flat layout).
pub fn write_flat(path: &Path, stack: &C2Stack) -> Result<(), IoError> {
    let c2 = Array3::from_shape_vec((stack.n_phi(), stack.n, stack.n), stack.c2.clone())
        .map_err(|e| IoError::dataset(path, "c2", e))?;
    write_atomically(path, |tmp| {
        let file = ::hdf5::File::create(tmp).map_err(h5err(path, "(file)"))?;
        file.new_dataset_builder()
            .deflate(DEFLATE_LEVEL)
            .with_data(&c2)
            .create("c2")
            .map_err(h5err(path, "c2"))?;
        for (name, data) in [("t", &stack.t), ("phi", &stack.phi), ("q", &vec![stack.q])] {
            file.new_dataset_builder()
                .with_data(&Array1::from(data.clone()))
                .create(name)
                .map_err(h5err(path, name))?;
        }
        write_generator(&file, path, stack.dt)
    })
}

/// The APS-U twotime layout for one q and the stack's angles: `xpcs/qmap` lists
/// (`dynamic_v_list_dim0` = `[q]`, `dim1` = φ, `dynamic_num_pts`, `dynamic_index_mapping`),
/// `xpcs/twotime/processed_bins` = 1..n_phi and `correlation_map/c2_00001…` holding the
/// upper triangle (diagonal included, lower triangle 0) as boost_corr writes it.
pub fn write_aps_u(path: &Path, stack: &C2Stack) -> Result<(), IoError> {
    let n = stack.n;
    write_atomically(path, |tmp| {
        let file = ::hdf5::File::create(tmp).map_err(h5err(path, "(file)"))?;
        let qmap = file
            .create_group("xpcs")
            .and_then(|g| g.create_group("qmap"));
        let qmap = qmap.map_err(h5err(path, "xpcs/qmap"))?;
        let n_phi = stack.n_phi();
        let lists: [(&str, Array1<f64>); 2] = [
            ("dynamic_v_list_dim0", Array1::from(vec![stack.q])),
            ("dynamic_v_list_dim1", Array1::from(stack.phi.clone())),
        ];
        for (name, data) in lists {
            qmap.new_dataset_builder()
                .with_data(&data)
                .create(name)
                .map_err(h5err(path, name))?;
        }
        qmap.new_dataset_builder()
            .with_data(&Array1::from(vec![1i64, n_phi as i64]))
            .create("dynamic_num_pts")
            .map_err(h5err(path, "dynamic_num_pts"))?;
        qmap.new_dataset_builder()
            .with_data(&Array1::from((0..n_phi as i64).collect::<Vec<_>>()))
            .create("dynamic_index_mapping")
            .map_err(h5err(path, "dynamic_index_mapping"))?;
        let twotime = file
            .group("xpcs")
            .and_then(|g| g.create_group("twotime"))
            .map_err(h5err(path, "xpcs/twotime"))?;
        twotime
            .new_dataset_builder()
            .with_data(&Array1::from((1..=n_phi as i64).collect::<Vec<_>>()))
            .create("processed_bins")
            .map_err(h5err(path, "processed_bins"))?;
        let maps = twotime
            .create_group("correlation_map")
            .map_err(h5err(path, "correlation_map"))?;
        for a in 0..n_phi {
            let m = stack.matrix(a);
            let upper =
                Array2::from_shape_fn((n, n), |(i, j)| if j >= i { m[i * n + j] } else { 0.0 });
            let name = format!("c2_{:05}", a + 1);
            // Row-block chunks: a reader of a frame window decompresses only the rows
            // it needs.
            maps.new_dataset_builder()
                .deflate(DEFLATE_LEVEL)
                .chunk((n.min(128), n))
                .with_data(&upper)
                .create(name.as_str())
                .map_err(h5err(path, &name))?;
        }
        if let Some(dt) = stack.dt {
            let det = file
                .create_group("entry")
                .and_then(|g| g.create_group("instrument"))
                .and_then(|g| g.create_group("detector_1"))
                .map_err(h5err(path, "entry/instrument/detector_1"))?;
            det.new_dataset_builder()
                .with_data(&Array1::from(vec![dt]))
                .create("frame_time")
                .map_err(h5err(path, "frame_time"))?;
        }
        write_generator(&file, path, stack.dt)
    })
}

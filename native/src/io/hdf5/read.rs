//! Reading the HDF5 layouts of spec data-format.md §3, detected in the reference's order:
//! APS-U twotime, APS old, `exchange`, flat. Every error names the file and dataset.

use std::path::Path;

use ::hdf5::{Dataset, File, Group};

use crate::io::error::IoError;
use crate::io::{RawStack, rebuild_half_matrix};

fn ds_err(path: &Path, name: &str) -> impl Fn(::hdf5::Error) -> IoError {
    let (path, name) = (path.to_path_buf(), name.to_string());
    move |e| IoError::dataset(path.clone(), name.clone(), e)
}

/// A dataset's values as float64, flattened, with its shape.
fn read_f64(path: &Path, ds: &Dataset, name: &str) -> Result<(Vec<usize>, Vec<f64>), IoError> {
    let shape = ds.shape();
    let values: Vec<f64> = ds.read_raw::<f64>().map_err(ds_err(path, name))?;
    Ok((shape, values))
}

fn try_f64(path: &Path, loc: &Group, name: &str) -> Result<Option<Vec<f64>>, IoError> {
    match loc.dataset(name) {
        Ok(ds) => Ok(Some(read_f64(path, &ds, name)?.1)),
        Err(_) => Ok(None),
    }
}

fn square(path: &Path, name: &str, shape: &[usize]) -> Result<usize, IoError> {
    match shape {
        [a, b] if a == b && *a > 0 => Ok(*a),
        _ => Err(IoError::dataset(
            path,
            name,
            format!("expected a square two-time matrix, found shape {shape:?}"),
        )),
    }
}

/// Reads the matrices of a group in the given key order, rebuilding half matrices.
fn read_matrices(
    path: &Path,
    group: &Group,
    group_name: &str,
    keys: &[String],
    half: bool,
    notes: &mut Vec<String>,
) -> Result<(usize, Vec<f64>), IoError> {
    let mut n = 0;
    let mut c2 = Vec::new();
    let mut full_count = 0;
    for key in keys {
        let name = format!("{group_name}/{key}");
        let ds = group.dataset(key).map_err(ds_err(path, &name))?;
        let (shape, mut m) = read_f64(path, &ds, &name)?;
        let size = square(path, &name, &shape)?;
        if n == 0 {
            n = size;
        } else if size != n {
            return Err(IoError::dataset(
                path,
                name,
                format!("size {size} differs from the first matrix ({n})"),
            ));
        }
        if half && rebuild_half_matrix(&mut m, size) {
            full_count += 1;
        }
        c2.extend(m);
    }
    if full_count > 0 {
        notes.push(format!(
            "{full_count} matrix(es) in {group_name} already hold both triangles; used as stored (not doubled)"
        ));
    }
    Ok((n, c2))
}

fn sorted_keys(path: &Path, group: &Group, name: &str) -> Result<Vec<String>, IoError> {
    let mut keys = group.member_names().map_err(ds_err(path, name))?;
    keys.sort();
    Ok(keys)
}

/// Reads any supported layout.
pub fn read_hdf5(path: &Path) -> Result<RawStack, IoError> {
    let file = File::open(path)
        .map_err(|e| IoError::file(path, format!("not a readable HDF5 file: {e}")))?;
    if file.link_exists("xpcs/twotime/correlation_map") {
        return read_aps_u(path, &file);
    }
    if file.link_exists("xpcs/dqlist") && file.link_exists("exchange/C2T_all") {
        return read_aps_old(path, &file);
    }
    if file.link_exists("exchange") {
        return read_exchange(path, &file);
    }
    if file.link_exists("c2") {
        return read_flat(path, &file);
    }
    let mut found = file.member_names().unwrap_or_default();
    if let Ok(x) = file.group("xpcs") {
        found.extend(
            x.member_names()
                .unwrap_or_default()
                .into_iter()
                .map(|m| format!("xpcs/{m}")),
        );
    }
    let hint = if file.link_exists("xpcs/multitau") {
        " (this is a multitau result file: it has no two-time correlation matrices)"
    } else {
        ""
    };
    Err(IoError::file(
        path,
        format!(
            "no known two-time layout (looked for xpcs/twotime/correlation_map, xpcs/dqlist + exchange/C2T_all, exchange/, root c2); found: [{}]{hint}",
            found.join(", ")
        ),
    ))
}

fn frame_time(file: &File) -> Option<f64> {
    let ds = file
        .dataset("entry/instrument/detector_1/frame_time")
        .ok()?;
    let v: Vec<f64> = ds.read_raw().ok()?;
    let ft = *v.first()?;
    // boost_corr's effective spacing is frame_time × stride × avg.
    let cfg = |name: &str| -> f64 {
        file.dataset(&format!("xpcs/twotime/config/{name}"))
            .ok()
            .and_then(|d| d.read_raw::<f64>().ok())
            .and_then(|v| v.first().copied())
            .unwrap_or(1.0)
    };
    Some(ft * cfg("stride_frame") * cfg("avg_frame"))
}

fn read_aps_u(path: &Path, file: &File) -> Result<RawStack, IoError> {
    let maps = file
        .group("xpcs/twotime/correlation_map")
        .map_err(ds_err(path, "xpcs/twotime/correlation_map"))?;
    let keys = sorted_keys(path, &maps, "xpcs/twotime/correlation_map")?;
    let bins_ds = file
        .dataset("xpcs/twotime/processed_bins")
        .map_err(ds_err(path, "xpcs/twotime/processed_bins"))?;
    let bins: Vec<i64> = bins_ds
        .read_raw()
        .map_err(ds_err(path, "xpcs/twotime/processed_bins"))?;
    if bins.len() != keys.len() {
        return Err(IoError::dataset(
            path,
            "xpcs/twotime/processed_bins",
            format!(
                "{} bins for {} correlation matrices",
                bins.len(),
                keys.len()
            ),
        ));
    }
    let root = file.as_group().map_err(ds_err(path, "/"))?;
    let qmap = file.group("xpcs/qmap").ok();
    let list = |name: &str| -> Result<Option<Vec<f64>>, IoError> {
        match &qmap {
            Some(g) => try_f64(path, g, name),
            None => Ok(None),
        }
    };
    let q_list = list("dynamic_v_list_dim0")?;
    let phi_list = list("dynamic_v_list_dim1")?;
    let mapping = list("dynamic_index_mapping")?;
    let n_phi = phi_list.as_ref().map_or(1, Vec::len).max(1);
    let mut notes = Vec::new();
    let (n, c2) = read_matrices(
        path,
        &maps,
        "xpcs/twotime/correlation_map",
        &keys,
        true,
        &mut notes,
    )?;
    let mut q = Vec::new();
    let mut phi = Vec::new();
    for &bin in &bins {
        if bin < 1 {
            return Err(IoError::dataset(
                path,
                "xpcs/twotime/processed_bins",
                format!("bin {bin} is not a 1-based label"),
            ));
        }
        // Labels are compressed when cells hold no pixel: the mapping gives the cell.
        let label = (bin - 1) as usize;
        let cell = match &mapping {
            Some(m) => *m.get(label).ok_or_else(|| {
                IoError::dataset(
                    path,
                    "xpcs/qmap/dynamic_index_mapping",
                    format!("no entry for bin {bin}"),
                )
            })? as usize,
            None => label,
        };
        let (qi, pi) = (cell / n_phi, cell % n_phi);
        q.push(q_list.as_ref().and_then(|l| l.get(qi).copied()));
        phi.push(phi_list.as_ref().and_then(|l| l.get(pi).copied()));
    }
    let t = match try_f64(path, &root, "xpcs/twotime/t")? {
        Some(t) => Some(t),
        None => match try_f64(path, &root, "xpcs/t")? {
            Some(t) => Some(t),
            None => try_f64(path, &root, "exchange/t")?,
        },
    };
    Ok(RawStack {
        c2,
        n,
        q,
        phi,
        t,
        frame_time: frame_time(file),
        layout: "aps-u",
        notes,
    })
}

fn read_aps_old(path: &Path, file: &File) -> Result<RawStack, IoError> {
    let group = file
        .group("exchange/C2T_all")
        .map_err(ds_err(path, "exchange/C2T_all"))?;
    let keys = sorted_keys(path, &group, "exchange/C2T_all")?;
    if keys.is_empty() {
        return Err(IoError::dataset(path, "exchange/C2T_all", "group is empty"));
    }
    let root = file.as_group().map_err(ds_err(path, "/"))?;
    let mut notes = Vec::new();
    let (n, c2) = read_matrices(path, &group, "exchange/C2T_all", &keys, true, &mut notes)?;
    let q_list = try_f64(path, &root, "xpcs/dqlist")?.unwrap_or_default();
    let phi_list = try_f64(path, &root, "xpcs/dphilist")?.unwrap_or_default();
    let t = ["exchange/t", "exchange/tau", "xpcs/t"]
        .iter()
        .find_map(|name| try_f64(path, &root, name).transpose())
        .transpose()?;
    Ok(RawStack {
        c2,
        n,
        q: (0..keys.len()).map(|k| q_list.get(k).copied()).collect(),
        phi: (0..keys.len()).map(|k| phi_list.get(k).copied()).collect(),
        t,
        frame_time: None,
        layout: "aps-old",
        notes,
    })
}

/// A stack stored as one 2-D or 3-D dataset with optional q/φ/t arrays.
fn stack_from(
    path: &Path,
    name: &str,
    ds: &Dataset,
    q: Option<Vec<f64>>,
    phi: Option<Vec<f64>>,
    t: Option<Vec<f64>>,
    layout: &'static str,
) -> Result<RawStack, IoError> {
    let (shape, c2) = read_f64(path, ds, name)?;
    RawStack::from_array(&shape, c2, q, phi, t, layout).map_err(|e| IoError::dataset(path, name, e))
}

fn read_exchange(path: &Path, file: &File) -> Result<RawStack, IoError> {
    let g = file.group("exchange").map_err(ds_err(path, "exchange"))?;
    let first = |names: &[&str]| {
        names
            .iter()
            .find(|n| g.link_exists(n))
            .map(|n| n.to_string())
    };
    let c2_name = first(&["twotime_corr", "twotime", "c2", "corr"]).ok_or_else(|| {
        IoError::dataset(
            path,
            "exchange",
            format!(
                "no two-time dataset (twotime_corr, twotime, c2, corr); found: [{}]",
                g.member_names().unwrap_or_default().join(", ")
            ),
        )
    })?;
    let opt = |names: &[&str]| -> Result<Option<Vec<f64>>, IoError> {
        match first(names) {
            Some(n) => try_f64(path, &g, &n),
            None => Ok(None),
        }
    };
    let ds = g.dataset(&c2_name).map_err(ds_err(path, &c2_name))?;
    stack_from(
        path,
        &format!("exchange/{c2_name}"),
        &ds,
        opt(&["q_val", "q_values", "q", "qval"])?,
        opt(&["phi", "phi_angles", "azimuth"])?,
        opt(&["tau", "t", "times", "delay_time"])?,
        "exchange",
    )
}

fn read_flat(path: &Path, file: &File) -> Result<RawStack, IoError> {
    let root = file.as_group().map_err(ds_err(path, "/"))?;
    let ds = file.dataset("c2").map_err(ds_err(path, "c2"))?;
    stack_from(
        path,
        "c2",
        &ds,
        try_f64(path, &root, "q")?,
        try_f64(path, &root, "phi")?,
        try_f64(path, &root, "t")?,
        "flat",
    )
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

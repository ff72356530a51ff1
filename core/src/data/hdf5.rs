//! The HDF5 two-time layouts of spec data-format.md §3, detected in the reference's order
//! (APS-U twotime, APS old, `exchange`, flat) over any HDF5 reader: the native crate's
//! libhdf5 binding and the browser app's pure-Rust reader both implement [`Hdf5Tree`],
//! so both read a file the same way. Errors name the dataset; the caller adds the file.

use super::prepare::DataError;
use super::stack::{RawStack, rebuild_half_matrix};

/// What the layout detection needs from an HDF5 file. Paths have no leading slash; the
/// root group is `""`.
pub trait Hdf5Tree {
    /// Whether a group or dataset exists at `path`.
    fn exists(&self, path: &str) -> bool;
    /// Names of the members of group `path`.
    fn members(&self, group: &str) -> Result<Vec<String>, String>;
    /// Dataset `path` as float64 (any numeric type, converted), flattened, with its shape.
    fn read_f64(&self, path: &str) -> Result<(Vec<usize>, Vec<f64>), String>;
}

fn at(dataset: &str, reason: impl std::fmt::Display) -> DataError {
    DataError {
        dataset: Some(dataset.to_string()),
        reason: reason.to_string(),
    }
}

fn read(tree: &impl Hdf5Tree, name: &str) -> Result<(Vec<usize>, Vec<f64>), DataError> {
    tree.read_f64(name).map_err(|e| at(name, e))
}

fn try_f64(tree: &impl Hdf5Tree, name: &str) -> Result<Option<Vec<f64>>, DataError> {
    if tree.exists(name) {
        Ok(Some(read(tree, name)?.1))
    } else {
        Ok(None)
    }
}

fn square(name: &str, shape: &[usize]) -> Result<usize, DataError> {
    match shape {
        [a, b] if a == b && *a > 0 => Ok(*a),
        _ => Err(at(
            name,
            format!("expected a square two-time matrix, found shape {shape:?}"),
        )),
    }
}

/// Reads the matrices of a group in the given key order, rebuilding half matrices.
fn read_matrices(
    tree: &impl Hdf5Tree,
    group_name: &str,
    keys: &[String],
    half: bool,
    notes: &mut Vec<String>,
) -> Result<(usize, Vec<f64>), DataError> {
    let mut n = 0;
    let mut c2 = Vec::new();
    let mut full_count = 0;
    for key in keys {
        let name = format!("{group_name}/{key}");
        let (shape, mut m) = read(tree, &name)?;
        let size = square(&name, &shape)?;
        if n == 0 {
            n = size;
        } else if size != n {
            return Err(at(
                &name,
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

fn sorted_keys(tree: &impl Hdf5Tree, name: &str) -> Result<Vec<String>, DataError> {
    let mut keys = tree.members(name).map_err(|e| at(name, e))?;
    keys.sort();
    Ok(keys)
}

/// Reads any supported layout.
pub fn read_stack(tree: &impl Hdf5Tree) -> Result<RawStack, DataError> {
    if tree.exists("xpcs/twotime/correlation_map") {
        return read_aps_u(tree);
    }
    if tree.exists("xpcs/dqlist") && tree.exists("exchange/C2T_all") {
        return read_aps_old(tree);
    }
    if tree.exists("exchange") {
        return read_exchange(tree);
    }
    if tree.exists("c2") {
        return read_flat(tree);
    }
    let mut found = tree.members("").unwrap_or_default();
    if tree.exists("xpcs") {
        found.extend(
            tree.members("xpcs")
                .unwrap_or_default()
                .into_iter()
                .map(|m| format!("xpcs/{m}")),
        );
    }
    let hint = if tree.exists("xpcs/multitau") {
        " (this is a multitau result file: it has no two-time correlation matrices)"
    } else {
        ""
    };
    Err(DataError {
        dataset: None,
        reason: format!(
            "no known two-time layout (looked for xpcs/twotime/correlation_map, xpcs/dqlist + exchange/C2T_all, exchange/, root c2); found: [{}]{hint}",
            found.join(", ")
        ),
    })
}

fn frame_time(tree: &impl Hdf5Tree) -> Option<f64> {
    let first = |name: &str| -> Option<f64> {
        tree.read_f64(name)
            .ok()
            .and_then(|(_, v)| v.first().copied())
    };
    let ft = first("entry/instrument/detector_1/frame_time")?;
    // boost_corr's effective spacing is frame_time × stride × avg.
    let cfg = |name: &str| first(&format!("xpcs/twotime/config/{name}")).unwrap_or(1.0);
    Some(ft * cfg("stride_frame") * cfg("avg_frame"))
}

fn read_aps_u(tree: &impl Hdf5Tree) -> Result<RawStack, DataError> {
    const MAPS: &str = "xpcs/twotime/correlation_map";
    const BINS: &str = "xpcs/twotime/processed_bins";
    let keys = sorted_keys(tree, MAPS)?;
    let bins = read(tree, BINS)?.1;
    if bins.len() != keys.len() {
        return Err(at(
            BINS,
            format!(
                "{} bins for {} correlation matrices",
                bins.len(),
                keys.len()
            ),
        ));
    }
    let q_list = try_f64(tree, "xpcs/qmap/dynamic_v_list_dim0")?;
    let phi_list = try_f64(tree, "xpcs/qmap/dynamic_v_list_dim1")?;
    let mapping = try_f64(tree, "xpcs/qmap/dynamic_index_mapping")?;
    let n_phi = phi_list.as_ref().map_or(1, Vec::len).max(1);
    let mut notes = Vec::new();
    let (n, c2) = read_matrices(tree, MAPS, &keys, true, &mut notes)?;
    let mut q = Vec::new();
    let mut phi = Vec::new();
    for &bin in &bins {
        if !(bin >= 1.0 && bin.fract() == 0.0) {
            return Err(at(BINS, format!("bin {bin} is not a 1-based label")));
        }
        // Labels are compressed when cells hold no pixel: the mapping gives the cell.
        let label = bin as usize - 1;
        let cell = match &mapping {
            Some(m) => *m.get(label).ok_or_else(|| {
                at(
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
    let t = match try_f64(tree, "xpcs/twotime/t")? {
        Some(t) => Some(t),
        None => match try_f64(tree, "xpcs/t")? {
            Some(t) => Some(t),
            None => try_f64(tree, "exchange/t")?,
        },
    };
    Ok(RawStack {
        c2,
        n,
        q,
        phi,
        t,
        frame_time: frame_time(tree),
        layout: "aps-u",
        notes,
    })
}

fn read_aps_old(tree: &impl Hdf5Tree) -> Result<RawStack, DataError> {
    const GROUP: &str = "exchange/C2T_all";
    let keys = sorted_keys(tree, GROUP)?;
    if keys.is_empty() {
        return Err(at(GROUP, "group is empty"));
    }
    let mut notes = Vec::new();
    let (n, c2) = read_matrices(tree, GROUP, &keys, true, &mut notes)?;
    let q_list = try_f64(tree, "xpcs/dqlist")?.unwrap_or_default();
    let phi_list = try_f64(tree, "xpcs/dphilist")?.unwrap_or_default();
    let t = ["exchange/t", "exchange/tau", "xpcs/t"]
        .iter()
        .find_map(|name| try_f64(tree, name).transpose())
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
    tree: &impl Hdf5Tree,
    name: &str,
    q: Option<Vec<f64>>,
    phi: Option<Vec<f64>>,
    t: Option<Vec<f64>>,
    layout: &'static str,
) -> Result<RawStack, DataError> {
    let (shape, c2) = read(tree, name)?;
    RawStack::from_array(&shape, c2, q, phi, t, layout).map_err(|e| at(name, e))
}

fn read_exchange(tree: &impl Hdf5Tree) -> Result<RawStack, DataError> {
    let first = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("exchange/{n}"))
            .find(|p| tree.exists(p))
    };
    let c2_name = first(&["twotime_corr", "twotime", "c2", "corr"]).ok_or_else(|| {
        at(
            "exchange",
            format!(
                "no two-time dataset (twotime_corr, twotime, c2, corr); found: [{}]",
                tree.members("exchange").unwrap_or_default().join(", ")
            ),
        )
    })?;
    let opt = |names: &[&str]| -> Result<Option<Vec<f64>>, DataError> {
        match first(names) {
            Some(n) => try_f64(tree, &n),
            None => Ok(None),
        }
    };
    stack_from(
        tree,
        &c2_name,
        opt(&["q_val", "q_values", "q", "qval"])?,
        opt(&["phi", "phi_angles", "azimuth"])?,
        opt(&["tau", "t", "times", "delay_time"])?,
        "exchange",
    )
}

fn read_flat(tree: &impl Hdf5Tree) -> Result<RawStack, DataError> {
    stack_from(
        tree,
        "c2",
        try_f64(tree, "q")?,
        try_f64(tree, "phi")?,
        try_f64(tree, "t")?,
        "flat",
    )
}

//! The HDF5 two-time layouts of spec data-format.md §3, detected in the reference's order
//! (APS-U twotime, APS old, `exchange`, flat) over any HDF5 reader: the native crate's
//! libhdf5 binding and the browser app's pure-Rust reader both implement [`Hdf5Tree`],
//! so both read a file the same way. Errors name the dataset; the caller adds the file.

use std::ops::Range;

use super::prepare::DataError;
use super::stack::{RawStack, per_matrix, rebuild_half_matrix, stack_shape};

/// What the layout detection needs from an HDF5 file. Paths have no leading slash; the
/// root group is `""`.
pub trait Hdf5Tree {
    /// Whether a group or dataset exists at `path`.
    fn exists(&self, path: &str) -> bool;
    /// Names of the members of group `path`.
    fn members(&self, group: &str) -> Result<Vec<String>, String>;
    /// Dataset `path` as float64 (any numeric type, converted), flattened, with its shape.
    fn read_f64(&self, path: &str) -> Result<(Vec<usize>, Vec<f64>), String>;
    /// Shape of dataset `path`, without reading it.
    fn shape(&self, path: &str) -> Result<Vec<usize>, String>;
    /// Rows `rows` × columns `cols` of the 2-D dataset `path`, or of its matrix `index`
    /// along the first axis when it is 3-D, as float64 row-major. A reader with hyperslab
    /// selection reads only the block; one that reads whole datasets slices with
    /// [`block_of`].
    fn read_f64_block(
        &self,
        path: &str,
        index: Option<usize>,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Result<Vec<f64>, String>;
}

/// The block `rows` × `cols` of matrix `index` (`None`: a 2-D dataset) out of a whole
/// dataset `values` of shape `shape`, row-major.
pub fn block_of(
    shape: &[usize],
    values: &[f64],
    index: Option<usize>,
    rows: Range<usize>,
    cols: Range<usize>,
) -> Result<Vec<f64>, String> {
    let (n_rows, n_cols) = match (index, shape) {
        (None, [r, c]) | (Some(_), [_, r, c]) => (*r, *c),
        _ => return Err(format!("unexpected shape {shape:?}")),
    };
    if rows.end > n_rows || cols.end > n_cols {
        return Err(format!("block {rows:?} × {cols:?} outside shape {shape:?}"));
    }
    let base = index.unwrap_or(0) * n_rows * n_cols;
    // A reader's values need not match the shape it reports (a fuzzed file returned
    // fewer): check before slicing.
    let claimed: usize = shape.iter().product();
    if values.len() != claimed || base + n_rows * n_cols > values.len() {
        return Err(format!(
            "holds {} values for its shape {shape:?}",
            values.len()
        ));
    }
    let mut out = Vec::with_capacity(rows.len() * cols.len());
    for i in rows {
        out.extend_from_slice(
            &values[base + i * n_cols + cols.start..base + i * n_cols + cols.end],
        );
    }
    Ok(out)
}

/// Where one matrix lives in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSource {
    /// Dataset path.
    pub dataset: String,
    /// Position along the first axis of a 3-D dataset.
    pub index: Option<usize>,
}

/// A file's matrices before any is read: the layout, their size, and the q, φ and
/// location of each — enough to choose what to read.
#[derive(Debug, Clone, PartialEq)]
pub struct StackIndex {
    /// Which layout was detected.
    pub layout: &'static str,
    /// Matrix size (frames).
    pub n: usize,
    /// q of each matrix, 1/Å, when the file says.
    pub q: Vec<Option<f64>>,
    /// φ of each matrix, degrees, when the file says.
    pub phi: Vec<Option<f64>>,
    /// Frame times as stored, if any.
    pub t: Option<Vec<f64>>,
    /// Frame spacing from the file's metadata, s, if any.
    pub frame_time: Option<f64>,
    /// Where each matrix is.
    pub sources: Vec<MatrixSource>,
    /// Whether matrices are stored as one triangle (rebuilt as `M + Mᵀ − diag M`).
    pub half: bool,
}

/// Most matrices one 3-D array may hold (detector (q, φ) bins are at most thousands).
const MAX_MATRICES: usize = 1 << 16;

/// Rows read per block by [`read_window`]: the block buffer stays a few MB at any N.
const ROWS_PER_BLOCK: usize = 256;

/// Reads the window `start..start + m` (0-based frames, rows and columns) of matrices
/// `which`, block by block, into `[which][m][m]`; half matrices are rebuilt on the
/// window. Returns the values and notes for the user.
pub fn read_window(
    tree: &impl Hdf5Tree,
    index: &StackIndex,
    which: &[usize],
    start: usize,
    m: usize,
) -> Result<(Vec<f64>, Vec<String>), DataError> {
    if start + m > index.n {
        return Err(DataError {
            dataset: None,
            reason: format!(
                "frames {}..={} are beyond the {} frames in the data",
                start + 1,
                start + m,
                index.n
            ),
        });
    }
    // Grown block by block, never reserved from the shape: a file's shape is a claim
    // (a fuzzed one asked for 455 GB), the blocks read are what it holds.
    let mut c2 = Vec::new();
    let mut full_count = 0;
    for &k in which {
        let src = index.sources.get(k).ok_or_else(|| DataError {
            dataset: None,
            reason: format!("matrix {k} does not exist"),
        })?;
        let first = c2.len();
        let mut r = start;
        while r < start + m {
            let end = (r + ROWS_PER_BLOCK).min(start + m);
            let block = tree
                .read_f64_block(&src.dataset, src.index, r..end, start..start + m)
                .map_err(|e| at(&src.dataset, e))?;
            if block.len() != (end - r) * m {
                return Err(at(
                    &src.dataset,
                    format!("read {} values for a {}×{m} block", block.len(), end - r),
                ));
            }
            c2.extend(block);
            r = end;
        }
        if index.half && rebuild_half_matrix(&mut c2[first..], m) {
            full_count += 1;
        }
    }
    let mut notes = Vec::new();
    if full_count > 0 {
        notes.push(format!(
            "{full_count} matrix(es) already hold both triangles; used as stored (not doubled)"
        ));
    }
    Ok((c2, notes))
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

/// The matrices of a group in the given key order: their common size and sources.
fn scan_matrices(
    tree: &impl Hdf5Tree,
    group_name: &str,
    keys: &[String],
) -> Result<(usize, Vec<MatrixSource>), DataError> {
    let mut n = 0;
    let mut sources = Vec::with_capacity(keys.len());
    for key in keys {
        let name = format!("{group_name}/{key}");
        let shape = tree.shape(&name).map_err(|e| at(&name, e))?;
        let size = square(&name, &shape)?;
        if n == 0 {
            n = size;
        } else if size != n {
            return Err(at(
                &name,
                format!("size {size} differs from the first matrix ({n})"),
            ));
        }
        sources.push(MatrixSource {
            dataset: name,
            index: None,
        });
    }
    Ok((n, sources))
}

fn sorted_keys(tree: &impl Hdf5Tree, name: &str) -> Result<Vec<String>, DataError> {
    let mut keys = tree.members(name).map_err(|e| at(name, e))?;
    keys.sort();
    Ok(keys)
}

/// Reads any supported layout, every matrix whole.
pub fn read_stack(tree: &impl Hdf5Tree) -> Result<RawStack, DataError> {
    let index = scan_stack(tree)?;
    let all: Vec<usize> = (0..index.sources.len()).collect();
    let (c2, notes) = read_window(tree, &index, &all, 0, index.n)?;
    Ok(RawStack {
        c2,
        n: index.n,
        q: index.q,
        phi: index.phi,
        t: index.t,
        frame_time: index.frame_time,
        layout: index.layout,
        notes,
    })
}

/// Detects the layout and lists the matrices without reading them.
pub fn scan_stack(tree: &impl Hdf5Tree) -> Result<StackIndex, DataError> {
    if tree.exists("xpcs/twotime/correlation_map") {
        return scan_aps_u(tree);
    }
    if tree.exists("xpcs/dqlist") && tree.exists("exchange/C2T_all") {
        return scan_aps_old(tree);
    }
    if tree.exists("exchange") {
        return scan_exchange(tree);
    }
    if tree.exists("c2") {
        return scan_flat(tree);
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

fn scan_aps_u(tree: &impl Hdf5Tree) -> Result<StackIndex, DataError> {
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
    let (n, sources) = scan_matrices(tree, MAPS, &keys)?;
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
    Ok(StackIndex {
        layout: "aps-u",
        n,
        q,
        phi,
        t,
        frame_time: frame_time(tree),
        sources,
        half: true,
    })
}

fn scan_aps_old(tree: &impl Hdf5Tree) -> Result<StackIndex, DataError> {
    const GROUP: &str = "exchange/C2T_all";
    let keys = sorted_keys(tree, GROUP)?;
    if keys.is_empty() {
        return Err(at(GROUP, "group is empty"));
    }
    let (n, sources) = scan_matrices(tree, GROUP, &keys)?;
    let q_list = try_f64(tree, "xpcs/dqlist")?.unwrap_or_default();
    let phi_list = try_f64(tree, "xpcs/dphilist")?.unwrap_or_default();
    let t = ["exchange/t", "exchange/tau", "xpcs/t"]
        .iter()
        .find_map(|name| try_f64(tree, name).transpose())
        .transpose()?;
    Ok(StackIndex {
        layout: "aps-old",
        n,
        q: (0..keys.len()).map(|k| q_list.get(k).copied()).collect(),
        phi: (0..keys.len()).map(|k| phi_list.get(k).copied()).collect(),
        t,
        frame_time: None,
        sources,
        half: true,
    })
}

/// A stack stored as one 2-D or 3-D dataset with optional q/φ/t arrays (one value per
/// matrix, or one for all).
fn stack_from(
    tree: &impl Hdf5Tree,
    name: &str,
    q: Option<Vec<f64>>,
    phi: Option<Vec<f64>>,
    t: Option<Vec<f64>>,
    layout: &'static str,
) -> Result<StackIndex, DataError> {
    let shape = tree.shape(name).map_err(|e| at(name, e))?;
    let (k, n, three_d) = stack_shape(&shape).map_err(|e| at(name, e))?;
    // The shape is a claim, read before any value (a fuzzed file claimed 2³⁴ matrices
    // and the per-matrix lists were allocated from it).
    if k > MAX_MATRICES {
        return Err(at(
            name,
            format!("claims {k} matrices; a two-time stack holds at most {MAX_MATRICES}"),
        ));
    }
    let per = |v| per_matrix(v, k);
    Ok(StackIndex {
        layout,
        n,
        q: per(q),
        phi: per(phi),
        t,
        frame_time: None,
        sources: (0..k)
            .map(|i| MatrixSource {
                dataset: name.to_string(),
                index: three_d.then_some(i),
            })
            .collect(),
        half: false,
    })
}

fn scan_exchange(tree: &impl Hdf5Tree) -> Result<StackIndex, DataError> {
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

fn scan_flat(tree: &impl Hdf5Tree) -> Result<StackIndex, DataError> {
    stack_from(
        tree,
        "c2",
        try_f64(tree, "q")?,
        try_f64(tree, "phi")?,
        try_f64(tree, "t")?,
        "flat",
    )
}

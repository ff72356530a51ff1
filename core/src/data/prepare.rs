//! From a file's matrices to the data a fit sees: frame window, q-bin, angles, finite
//! check, diagonal correction (spec data-format.md §5–9).

use thiserror::Error;

use super::angles::normalize_angle;
use super::diagonal::correct_diagonal_stack;
use super::select::{AngleRequest, select_angles, select_q, window_check};
use super::stack::RawStack;
use crate::config::{AnalyzerParameters, FitSettings};

/// Why the data cannot be prepared; the caller adds the file's name.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{}{reason}", dataset.as_ref().map(|d| format!("{d}: ")).unwrap_or_default())]
pub struct DataError {
    /// The matrix or dataset concerned, if one.
    pub dataset: Option<String>,
    /// What is wrong and what was expected.
    pub reason: String,
}

impl DataError {
    fn whole(reason: impl std::fmt::Display) -> Self {
        Self {
            dataset: None,
            reason: reason.to_string(),
        }
    }
}

/// The data of one fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// `[phi][t1][t2]`, trimmed and diagonal-corrected.
    pub c2: Vec<f64>,
    /// Frames in the window.
    pub n: usize,
    /// Angle of each matrix (the file's φ), degrees.
    pub phi: Vec<f64>,
    /// Remarks for the user.
    pub notes: Vec<String>,
}

/// What a fit takes from a file: which matrices, their angles, and the frame window.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Matrices (indices into the file's list), in fit order.
    pub indices: Vec<usize>,
    /// Angle of each selected matrix, degrees.
    pub phi: Vec<f64>,
    /// First frame of the window, 0-based.
    pub start: usize,
    /// Frames in the window.
    pub n: usize,
    /// Remarks for the user.
    pub notes: Vec<String>,
}

/// Chooses matrices and window from a file's metadata: `n_file` frames, q and φ per
/// matrix. `cli_phi` wins over the config's angles.
pub fn select(
    n_file: usize,
    q: &[Option<f64>],
    phi: &[Option<f64>],
    analyzer: &AnalyzerParameters,
    fit: &FitSettings,
    cli_phi: Option<&[f64]>,
) -> Result<Selection, DataError> {
    let err = |e: crate::Error| DataError::whole(e);
    let (start, end) = (analyzer.start_frame, analyzer.end_frame);
    window_check(n_file, start, end).map_err(err)?;
    let mut notes = Vec::new();
    let target = analyzer.wavevector_q;
    let tolerance = fit.q_tolerance.unwrap_or(0.1 * target);
    let candidates = select_q(q, target, tolerance).map_err(err)?;
    // Matrices without an angle: a single one is taken as φ = 0, several are numbered.
    let phi: Vec<f64> = match phi.iter().all(Option::is_some) {
        true => phi.iter().map(|p| p.unwrap_or(0.0)).collect(),
        false if candidates.len() == 1 => {
            notes.push("the file gives no angle: taking φ = 0°".into());
            vec![0.0; q.len()]
        }
        false => {
            return Err(DataError::whole(format!(
                "{} matrices at this q but the file gives no angles for them",
                candidates.len()
            )));
        }
    };
    let request = match (cli_phi, &analyzer.phi_angles, &fit.phi_filter) {
        (Some(p), _, _) => AngleRequest::Angles(p.iter().map(|&a| normalize_angle(a)).collect()),
        (None, Some(p), _) => AngleRequest::Angles(p.iter().map(|&a| normalize_angle(a)).collect()),
        (None, None, Some((ranges, fallback))) => AngleRequest::Filter {
            ranges: ranges.clone(),
            fallback: *fallback,
        },
        (None, None, None) => AngleRequest::All,
    };
    let choice = select_angles(&candidates, &phi, &request).map_err(err)?;
    notes.extend(choice.notes);
    Ok(Selection {
        phi: choice.indices.iter().map(|&k| phi[k]).collect(),
        indices: choice.indices,
        start: start - 1,
        n: end - start + 1,
        notes,
    })
}

/// The prepared data from the selected window `c2` (`[selected][n][n]`, as read): the
/// finite check (naming the matrix and frame) and the diagonal correction.
pub fn finish(selection: Selection, mut c2: Vec<f64>) -> Result<Prepared, DataError> {
    let n = selection.n;
    let nn = n * n;
    if c2.len() != selection.indices.len() * nn {
        return Err(DataError::whole(format!(
            "read {} values for {} matrices of {n}×{n}",
            c2.len(),
            selection.indices.len()
        )));
    }
    for (pos_k, &k) in selection.indices.iter().enumerate() {
        let m = &c2[pos_k * nn..(pos_k + 1) * nn];
        if let Some(pos) = m.iter().position(|v| !v.is_finite()) {
            return Err(DataError {
                dataset: Some(format!("matrix {k} (φ = {}°)", selection.phi[pos_k])),
                reason: format!(
                    "non-finite value {} at frame ({}, {}) of the window; fix or mask the data",
                    m[pos],
                    pos / n + selection.start + 1,
                    pos % n + selection.start + 1
                ),
            });
        }
    }
    correct_diagonal_stack(&mut c2, n);
    Ok(Prepared {
        c2,
        n,
        phi: selection.phi,
        notes: selection.notes,
    })
}

/// Applies the config (and `cli_phi`, which wins) to `raw`.
pub fn prepare(
    raw: &RawStack,
    analyzer: &AnalyzerParameters,
    fit: &FitSettings,
    cli_phi: Option<&[f64]>,
) -> Result<Prepared, DataError> {
    let mut selection = select(raw.n, &raw.q, &raw.phi, analyzer, fit, cli_phi)?;
    let mut notes = raw.notes.clone();
    notes.append(&mut selection.notes);
    selection.notes = notes;
    let (s0, m, n) = (selection.start, selection.n, raw.n);
    let mut c2 = Vec::with_capacity(selection.indices.len() * m * m);
    for &k in &selection.indices {
        let mat = raw.matrix(k);
        for i in s0..s0 + m {
            c2.extend_from_slice(&mat[i * n + s0..i * n + s0 + m]);
        }
    }
    finish(selection, c2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_window_is_cut_then_its_diagonal_corrected() {
        let c2: Vec<f64> = (0..16).map(f64::from).collect();
        let raw = RawStack::from_array(&[4, 4], c2, Some(vec![0.0054]), None, None, "flat")
            .expect("stack");
        let yaml = "analyzer_parameters:\n  dt: 0.1\n  start_frame: 2\n  end_frame: 3\n  scattering:\n    wavevector_q: 0.0054\nparameters:\n  reference:\n    D0_ref: {value: 500}\n";
        let config = Config::parse(std::path::Path::new("t.yaml"), yaml).expect("config");
        let p = prepare(&raw, &config.analyzer, &config.fit, None).expect("prepare");
        // Window [[5, 6], [9, 10]]; the diagonal becomes the side band's mean (6 + 9)/2.
        assert_eq!((p.n, p.c2), (2, vec![7.5, 6.0, 9.0, 7.5]));
        for (start, end) in [(2, 5), (0, 2)] {
            let mut analyzer = config.analyzer.clone();
            (analyzer.start_frame, analyzer.end_frame) = (start, end);
            assert!(prepare(&raw, &analyzer, &config.fit, None).is_err());
        }
    }
}

//! From a file's matrices to the data a fit sees: frame window, q-bin, angles, finite
//! check, diagonal correction (spec data-format.md §5–9).

use thiserror::Error;

use super::angles::normalize_angle;
use super::diagonal::correct_diagonal_stack;
use super::select::{AngleRequest, select_angles, select_q, trim_frames};
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

/// Applies the config (and `cli_phi`, which wins) to `raw`.
pub fn prepare(
    raw: &RawStack,
    analyzer: &AnalyzerParameters,
    fit: &FitSettings,
    cli_phi: Option<&[f64]>,
) -> Result<Prepared, DataError> {
    let err = |e: crate::Error| DataError::whole(e);
    let mut notes = raw.notes.clone();
    let (trimmed, n) =
        trim_frames(&raw.c2, raw.n, analyzer.start_frame, analyzer.end_frame).map_err(err)?;
    let q = analyzer.wavevector_q;
    let tolerance = fit.q_tolerance.unwrap_or(0.1 * q);
    let candidates = select_q(&raw.q, q, tolerance).map_err(err)?;
    // Matrices without an angle: a single one is taken as φ = 0, several are numbered.
    let phi: Vec<f64> = match raw.phi.iter().all(Option::is_some) {
        true => raw.phi.iter().map(|p| p.unwrap_or(0.0)).collect(),
        false if candidates.len() == 1 => {
            notes.push("the file gives no angle: taking φ = 0°".into());
            vec![0.0; raw.len()]
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
    let nn = n * n;
    let mut c2 = Vec::with_capacity(choice.indices.len() * nn);
    for &k in &choice.indices {
        let m = &trimmed[k * nn..(k + 1) * nn];
        if let Some(pos) = m.iter().position(|v| !v.is_finite()) {
            return Err(DataError {
                dataset: Some(format!("matrix {k} (φ = {}°)", phi[k])),
                reason: format!(
                    "non-finite value {} at frame ({}, {}) of the window; fix or mask the data",
                    m[pos],
                    pos / n + analyzer.start_frame,
                    pos % n + analyzer.start_frame
                ),
            });
        }
        c2.extend_from_slice(m);
    }
    correct_diagonal_stack(&mut c2, n);
    Ok(Prepared {
        c2,
        n,
        phi: choice.indices.iter().map(|&k| phi[k]).collect(),
        notes,
    })
}

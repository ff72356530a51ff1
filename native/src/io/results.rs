//! `result.json` and `fit.npz` of an NLSQ fit.

use std::fs::File;
use std::path::Path;

use heterodyne_core::model::params::PHYSICS;
use heterodyne_core::nlsq::NlsqReport;
use ndarray::{Array1, Array3};
use ndarray_npy::NpzWriter;
use serde_json::{Value, json};

use super::error::IoError;

fn opt(v: Option<f64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

/// The fitted parameters, scaling and statistics of one report as JSON.
pub fn report_json(report: &NlsqReport, phi: &[f64], bounds: &[(f64, f64, bool)]) -> Value {
    let values = report.physics.to_array();
    let mut parameters = serde_json::Map::new();
    for (k, spec) in PHYSICS.iter().enumerate() {
        let (min, max, vary) = bounds[k];
        parameters.insert(
            spec.name.to_string(),
            json!({
                "value": values[k],
                "std_error": opt(report.physics_std[k]),
                "min": min,
                "max": max,
                "vary": vary,
                "unit": spec.unit,
            }),
        );
    }
    let pair = |v: &[f64], s: &[Option<f64>]| -> Vec<Value> {
        v.iter()
            .zip(s)
            .map(|(v, s)| json!({"value": v, "std_error": opt(*s)}))
            .collect()
    };
    let coefficients: Vec<Value> = report
        .names
        .iter()
        .zip(&report.x)
        .zip(&report.std_error)
        .filter(|((name, _), _)| !PHYSICS.iter().any(|s| s.name == name.as_str()))
        .map(|((name, x), se)| json!({"name": name, "value": x, "std_error": opt(*se)}))
        .collect();
    json!({
        "parameters": parameters,
        "scaling": {
            "mode": report.scaling_mode.name(),
            "phi": phi,
            "contrast": pair(&report.scaling.contrast, &report.contrast_std),
            "offset": pair(&report.scaling.offset, &report.offset_std),
            "coefficients": coefficients,
        },
        "degeneracies": report.degeneracies,
        "chi2": report.chi2,
        "chi2_per_angle": report.chi2_per_angle,
        "reduced_chi2": report.reduced_chi2,
        "reduced_chi2_far_lag": report.reduced_chi2_far_lag,
        "dof": report.dof,
        "n_points": report.n_points,
        "n_independent_cells": report.n_cells,
        "iterations": report.iterations,
        "function_evaluations": report.evaluations,
        "converged": report.converged,
        "message": report.message,
        "strategy": report.strategy.name(),
        "multistart": report.starts,
        "warnings": report.warnings,
        "covariance": {
            "names": report.names,
            "matrix": report.covariance.chunks(report.x.len().max(1)).collect::<Vec<_>>(),
        },
    })
}

/// Writes `json` pretty-printed.
pub fn write_json(path: &Path, json: &Value) -> Result<(), IoError> {
    let file = File::create(path).map_err(|e| IoError::file(path, e))?;
    serde_json::to_writer_pretty(std::io::BufWriter::new(file), json)
        .map_err(|e| IoError::file(path, e))
}

/// Writes `fit.npz`: `c2_exp`, `c2_fit`, `residuals` ([φ, t1, t2], after trimming and
/// diagonal correction; residual = data − fit), `t` (s), `phi` (degrees), `q` (1/Å).
pub fn write_fit_npz(
    path: &Path,
    n: usize,
    data: &[f64],
    fit: &[f64],
    t: &[f64],
    phi: &[f64],
    q: f64,
) -> Result<(), IoError> {
    let shape = (phi.len(), n, n);
    let arr = |v: Vec<f64>, name: &str| {
        Array3::from_shape_vec(shape, v).map_err(|e| IoError::dataset(path, name, e))
    };
    let exp = arr(data.to_vec(), "c2_exp")?;
    let fitted = arr(fit.to_vec(), "c2_fit")?;
    let resid = arr(
        data.iter().zip(fit).map(|(d, f)| d - f).collect(),
        "residuals",
    )?;
    let file = File::create(path).map_err(|e| IoError::file(path, e))?;
    let mut npz = NpzWriter::new(std::io::BufWriter::new(file));
    let err =
        |name: &'static str| move |e: ndarray_npy::WriteNpzError| IoError::dataset(path, name, e);
    npz.add_array("c2_exp", &exp).map_err(err("c2_exp"))?;
    npz.add_array("c2_fit", &fitted).map_err(err("c2_fit"))?;
    npz.add_array("residuals", &resid)
        .map_err(err("residuals"))?;
    npz.add_array("t", &Array1::from(t.to_vec()))
        .map_err(err("t"))?;
    npz.add_array("phi", &Array1::from(phi.to_vec()))
        .map_err(err("phi"))?;
    npz.add_array("q", &Array1::from(vec![q]))
        .map_err(err("q"))?;
    npz.finish().map_err(err("(archive)"))?;
    Ok(())
}

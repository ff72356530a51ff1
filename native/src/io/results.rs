//! `result.json` and `fit.npz` of an NLSQ fit.

use std::fs::File;
use std::path::Path;

use heterodyne_core::model::params::PHYSICS;
use heterodyne_core::nlsq::NlsqReport;
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
///
/// Streamed: `fit_of(a)` gives angle a's fitted matrix when it is written (twice per
/// angle: for `c2_fit` and for `residuals`), so no stack besides the data is held — at
/// N = 4000 × 3 each stack is 384 MB.
pub fn write_fit_npz(
    path: &Path,
    n: usize,
    data: &[f64],
    fit_of: &dyn Fn(usize) -> anyhow::Result<Vec<f64>>,
    t: &[f64],
    phi: &[f64],
    q: f64,
) -> anyhow::Result<()> {
    use std::io::Write;
    let nn = n * n;
    let n_phi = phi.len();
    let shape = [n_phi, n, n];
    let file = File::create(path).map_err(|e| IoError::file(path, e))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    // The whole cause chain: the archive writer wraps the OS error ("i/o error") and the
    // user needs the inner one ("File too large", "No space left on device").
    let io = |name: &'static str| move |e: std::io::Error| IoError::dataset(path, name, causes(&e));
    let start = |zip: &mut zip::ZipWriter<_>, name: &'static str, dims: &[usize]| {
        let bytes = 8 * dims.iter().product::<usize>() as u64;
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(bytes + 4096 >= u32::MAX as u64);
        zip.start_file(format!("{name}.npy"), options)
            .map_err(|e| IoError::dataset(path, name, causes(&e)))?;
        zip.write_all(&crate::io::npy_header_f64(dims))
            .map_err(io(name))?;
        Ok::<(), IoError>(())
    };
    let write_f64 = |zip: &mut zip::ZipWriter<_>, values: &[f64], name: &'static str| {
        // Little-endian bytes in blocks: the archive streams them out.
        let mut buf = Vec::with_capacity(8 * 65_536);
        for block in values.chunks(65_536) {
            buf.clear();
            for v in block {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            zip.write_all(&buf).map_err(io(name))?;
        }
        Ok::<(), IoError>(())
    };
    start(&mut zip, "c2_exp", &shape)?;
    write_f64(&mut zip, &data[..n_phi * nn], "c2_exp")?;
    start(&mut zip, "c2_fit", &shape)?;
    for a in 0..n_phi {
        write_f64(&mut zip, &fit_of(a)?, "c2_fit")?;
    }
    start(&mut zip, "residuals", &shape)?;
    for a in 0..n_phi {
        let fit = fit_of(a)?;
        let d = &data[a * nn..(a + 1) * nn];
        // Block by block: a residual matrix would be one more copy of an angle.
        let mut resid = Vec::with_capacity(65_536);
        for (db, fb) in d.chunks(65_536).zip(fit.chunks(65_536)) {
            resid.clear();
            resid.extend(db.iter().zip(fb).map(|(d, f)| d - f));
            write_f64(&mut zip, &resid, "residuals")?;
        }
    }
    for (name, v) in [("t", t), ("phi", phi), ("q", &[q][..])] {
        start(&mut zip, name, &[v.len()])?;
        write_f64(&mut zip, v, name)?;
    }
    zip.finish()
        .map_err(|e| IoError::dataset(path, "(archive)", causes(&e)))?
        .flush()
        .map_err(io("(archive)"))?;
    Ok(())
}

/// `e` and its sources, `: `-separated, repeated messages once.
fn causes(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

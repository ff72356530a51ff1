//! The outputs of a CMC run: the `posterior` block of `result.json` and `posterior.npz`.
//!
//! `posterior.npz` holds `posterior.<name>` (chain, draw) for every sampled quantity and
//! identified combination, `shard_stats.<stat>` (shard, chain, draw) for `diverging`,
//! `tree_depth` and `energy`, `shard_stats.step_size` (shard, chain), and — when there is
//! one shard, so that the combined draws are a sampler's own — `sample_stats.<stat>`
//! (chain, draw), ready for `arviz.from_dict`.

use std::fs::File;
use std::path::Path;

use heterodyne_core::mcmc::cmc::{CmcReport, ParamSummary};
use ndarray::{Array2, Array3};
use ndarray_npy::NpzWriter;
use serde_json::{Value, json};

use super::error::IoError;

/// An ASCII key for a quantity's name (combinations carry symbols).
pub fn key_of(name: &str) -> String {
    if name.starts_with("ln(f0") {
        return "ln_f0_exp_minus_f1_f2".to_string();
    }
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

fn summary_json(s: &ParamSummary) -> Value {
    json!({
        "mean": s.mean,
        "std": s.std,
        "median": s.median,
        "q2_5": s.q2_5,
        "q97_5": s.q97_5,
        "hdi94_low": s.hdi94_low,
        "hdi94_high": s.hdi94_high,
        "r_hat": s.r_hat,
        "ess_bulk": s.ess_bulk,
        "ess_tail": s.ess_tail,
        "contraction": s.contraction,
    })
}

/// `(posterior, cmc)` blocks of `result.json`: per-quantity summaries, and the run's
/// combinations, shards, verdict and settings.
pub fn posterior_json(report: &CmcReport, settings: Value) -> (Value, Value) {
    let mut post = serde_json::Map::new();
    for s in &report.params {
        post.insert(s.name.clone(), summary_json(s));
    }
    let mut comb = serde_json::Map::new();
    for s in &report.combinations {
        let mut j = summary_json(s);
        j["key"] = json!(key_of(&s.name));
        comb.insert(s.name.clone(), j);
    }
    let cmc = json!({
        "num_shards": report.shards.len(),
        "shards_used": report.shards.iter().filter(|s| s.used).count(),
        "shards": report.shards,
        "identified_combinations": comb,
        "divergences": report.divergences,
        "divergence_rate": report.divergences as f64 / report.n_draws_total.max(1) as f64,
        "converged": report.verdict.converged,
        "warnings": report.verdict.warnings,
        "settings": settings,
    });
    (Value::Object(post), cmc)
}

/// Writes `posterior.npz` (see the module documentation).
pub fn write_posterior_npz(path: &Path, report: &CmcReport) -> Result<(), IoError> {
    let file = File::create(path).map_err(|e| IoError::file(path, e))?;
    let mut npz = NpzWriter::new(std::io::BufWriter::new(file));
    let err = |name: &str| {
        let name = name.to_string();
        move |e: ndarray_npy::WriteNpzError| IoError::dataset(path, name.clone(), e)
    };
    let n_chains = report.draws.len();
    let n_draws = report.draws.first().map_or(0, Vec::len);
    let shape_err = |name: &str| {
        let name = name.to_string();
        move |e: ndarray::ShapeError| IoError::dataset(path, name.clone(), e)
    };
    for (k, s) in report.params.iter().enumerate() {
        let name = format!("posterior.{}", key_of(&s.name));
        let v: Vec<f64> = report.draws.iter().flatten().map(|d| d[k]).collect();
        let a = Array2::from_shape_vec((n_chains, n_draws), v).map_err(shape_err(&name))?;
        npz.add_array(name.as_str(), &a).map_err(err(&name))?;
    }
    for (s, chains) in report.combinations.iter().zip(&report.combination_draws) {
        let name = format!("posterior.{}", key_of(&s.name));
        let values: Vec<f64> = chains.iter().flatten().copied().collect();
        let a = Array2::from_shape_vec((n_chains, n_draws), values).map_err(shape_err(&name))?;
        npz.add_array(name.as_str(), &a).map_err(err(&name))?;
    }
    let stats: Vec<_> = report
        .stats
        .iter()
        .filter(|s| !s.energy.is_empty())
        .collect();
    let k = stats.len();
    let (c, d) = stats.first().map_or((0, 0), |s| {
        (s.energy.len(), s.energy.first().map_or(0, Vec::len))
    });
    let diverging: Vec<bool> = stats
        .iter()
        .flat_map(|s| s.divergent.iter().flatten().copied())
        .collect();
    let depth: Vec<u64> = stats
        .iter()
        .flat_map(|s| s.tree_depth.iter().flatten().copied())
        .collect();
    let energy: Vec<f64> = stats
        .iter()
        .flat_map(|s| s.energy.iter().flatten().copied())
        .collect();
    let step: Vec<f64> = stats
        .iter()
        .flat_map(|s| s.step_size.iter().copied())
        .collect();
    let a = Array3::from_shape_vec((k, c, d), diverging.clone()).map_err(shape_err("diverging"))?;
    npz.add_array("shard_stats.diverging", &a)
        .map_err(err("shard_stats.diverging"))?;
    let a = Array3::from_shape_vec((k, c, d), depth.clone()).map_err(shape_err("tree_depth"))?;
    npz.add_array("shard_stats.tree_depth", &a)
        .map_err(err("shard_stats.tree_depth"))?;
    let a = Array3::from_shape_vec((k, c, d), energy.clone()).map_err(shape_err("energy"))?;
    npz.add_array("shard_stats.energy", &a)
        .map_err(err("shard_stats.energy"))?;
    let a = Array2::from_shape_vec((k, c), step).map_err(shape_err("step_size"))?;
    npz.add_array("shard_stats.step_size", &a)
        .map_err(err("shard_stats.step_size"))?;
    if report.shards.len() == 1 && k == 1 {
        let a = Array2::from_shape_vec((c, d), diverging).map_err(shape_err("diverging"))?;
        npz.add_array("sample_stats.diverging", &a)
            .map_err(err("sample_stats.diverging"))?;
        let a = Array2::from_shape_vec((c, d), depth).map_err(shape_err("tree_depth"))?;
        npz.add_array("sample_stats.tree_depth", &a)
            .map_err(err("sample_stats.tree_depth"))?;
        let a = Array2::from_shape_vec((c, d), energy).map_err(shape_err("energy"))?;
        npz.add_array("sample_stats.energy", &a)
            .map_err(err("sample_stats.energy"))?;
    }
    npz.finish().map_err(err("(archive)"))?;
    Ok(())
}

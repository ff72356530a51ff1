//! `posterior.nc`: the CMC draws as an ArviZ InferenceData NetCDF4 file, so that
//! `arviz.from_netcdf("posterior.nc")` and `az.summary` work unchanged.
//!
//! Written through the `netcdf` crate (libnetcdf) rather than as raw HDF5: the NetCDF-4
//! conventions (dimension scales, `_Netcdf4Dimid`, `_NCProperties`) are libnetcdf's to get
//! right, and xarray reads exactly what libnetcdf writes.
//!
//! Groups, each with its own `chain` and `draw` coordinates:
//! - `posterior`: one variable per quantity, `(chain, draw)`; per-angle quantities
//!   (`contrast[0]`, `contrast[1]`, …) become one variable `(chain, draw, angle)`, which
//!   `az.summary` labels back as `contrast[0]`, …; identified combinations are variables
//!   under their ASCII key with the display name in `long_name`.
//! - `sample_stats`: `diverging` (stored as int8 with `dtype = "bool"`, which xarray decodes
//!   as bool), `tree_depth`, `energy`, `lp`, `step_size`, `(chain, draw)` for one shard;
//!   with several shards every statistic gains a trailing `shard` dimension, since the
//!   combined draws are no sampler's own.

use std::path::Path;

use heterodyne_core::mcmc::cmc::{CmcReport, SampleStats};

use super::error::IoError;
use super::posterior::key_of;

/// A posterior variable: its NetCDF name, display name and the report columns it holds.
struct Var {
    name: String,
    long_name: String,
    columns: Vec<usize>,
}

/// Groups `contrast[0]`, `contrast[1]`, … into one variable with an `angle` dimension.
fn variables(names: &[String]) -> Vec<Var> {
    let mut out: Vec<Var> = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let base = match name.split_once('[') {
            Some((base, rest)) if rest.ends_with(']') => base,
            _ => name.as_str(),
        };
        let key = key_of(base);
        match out
            .iter_mut()
            .find(|v| v.name == key && v.long_name == base)
        {
            Some(v) if name.contains('[') => v.columns.push(k),
            _ => out.push(Var {
                name: key,
                long_name: base.to_string(),
                columns: vec![k],
            }),
        }
    }
    out
}

/// Writes `posterior.nc` for `report` at `path`.
pub fn write_inference_data(path: &Path, report: &CmcReport) -> Result<(), IoError> {
    let err = |what: &str| {
        let what = what.to_string();
        move |e: netcdf::Error| IoError::dataset(path, what.clone(), e)
    };
    let n_chains = report.draws.len();
    let n_draws = report.draws.first().map_or(0, Vec::len);
    let mut file = netcdf::create(path).map_err(|e| IoError::file(path, e))?;
    file.add_attribute("created_by", "heterodyne")
        .map_err(err("(attributes)"))?;
    file.add_attribute(
        "inference_library",
        "heterodyne (nuts-rs NUTS, consensus Monte Carlo)",
    )
    .map_err(err("(attributes)"))?;

    // posterior
    {
        let mut g = file.add_group("posterior").map_err(err("posterior"))?;
        add_chain_draw(&mut g, n_chains, n_draws).map_err(err("posterior"))?;
        let names: Vec<String> = report.params.iter().map(|s| s.name.clone()).collect();
        let vars = variables(&names);
        let n_angles = vars
            .iter()
            .filter(|v| v.columns.len() > 1 || names[v.columns[0]].contains('['))
            .map(|v| v.columns.len())
            .max();
        if let Some(n) = n_angles {
            g.add_dimension("angle", n)
                .map_err(err("posterior/angle"))?;
            let mut c = g
                .add_variable::<i64>("angle", &["angle"])
                .map_err(err("posterior/angle"))?;
            let idx: Vec<i64> = (0..n as i64).collect();
            c.put_values(&idx, ..).map_err(err("posterior/angle"))?;
        }
        for v in &vars {
            let indexed = names[v.columns[0]].contains('[');
            let what = format!("posterior/{}", v.name);
            // Indexed variables of fewer angles than the widest cannot share its dimension.
            if indexed && Some(v.columns.len()) != n_angles {
                return Err(IoError::dataset(
                    path,
                    what,
                    "per-angle quantities of different lengths",
                ));
            }
            let dims: &[&str] = if indexed {
                &["chain", "draw", "angle"]
            } else {
                &["chain", "draw"]
            };
            let values: Vec<f64> = report
                .draws
                .iter()
                .flatten()
                .flat_map(|d| v.columns.iter().map(move |&k| d[k]))
                .collect();
            let mut var = g.add_variable::<f64>(&v.name, dims).map_err(err(&what))?;
            var.put_values(&values, ..).map_err(err(&what))?;
            if v.long_name != v.name {
                var.put_attribute("long_name", v.long_name.as_str())
                    .map_err(err(&what))?;
            }
        }
        for (s, chains) in report.combinations.iter().zip(&report.combination_draws) {
            let key = key_of(&s.name);
            let what = format!("posterior/{key}");
            let values: Vec<f64> = chains.iter().flatten().copied().collect();
            let mut var = g
                .add_variable::<f64>(&key, &["chain", "draw"])
                .map_err(err(&what))?;
            var.put_values(&values, ..).map_err(err(&what))?;
            var.put_attribute("long_name", s.name.as_str())
                .map_err(err(&what))?;
        }
    }

    // sample_stats
    let stats: Vec<&SampleStats> = report
        .stats
        .iter()
        .filter(|s| !s.energy.is_empty())
        .collect();
    let (c, d) = stats.first().map_or((0, 0), |s| {
        (s.energy.len(), s.energy.first().map_or(0, Vec::len))
    });
    if !stats.is_empty() {
        let k = stats.len();
        let mut g = file
            .add_group("sample_stats")
            .map_err(err("sample_stats"))?;
        add_chain_draw(&mut g, c, d).map_err(err("sample_stats"))?;
        let dims: &[&str] = if k == 1 {
            &["chain", "draw"]
        } else {
            g.add_dimension("shard", k)
                .map_err(err("sample_stats/shard"))?;
            &["chain", "draw", "shard"]
        };
        // (chain, draw[, shard]) order, shard fastest.
        let gather = |f: &dyn Fn(&SampleStats, usize, usize) -> f64| -> Vec<f64> {
            let mut out = Vec::with_capacity(c * d * k);
            for ci in 0..c {
                for di in 0..d {
                    for s in &stats {
                        out.push(f(s, ci, di));
                    }
                }
            }
            out
        };
        let at = |v: &[Vec<f64>], ci: usize, di: usize| {
            v.get(ci)
                .and_then(|r| r.get(di))
                .copied()
                .unwrap_or(f64::NAN)
        };
        let diverging: Vec<i8> = gather(&|s, ci, di| {
            f64::from(u8::from(
                s.divergent
                    .get(ci)
                    .and_then(|r| r.get(di))
                    .copied()
                    .unwrap_or(false),
            ))
        })
        .into_iter()
        .map(|v| v as i8)
        .collect();
        let mut var = g
            .add_variable::<i8>("diverging", dims)
            .map_err(err("sample_stats/diverging"))?;
        var.put_values(&diverging, ..)
            .map_err(err("sample_stats/diverging"))?;
        var.put_attribute("dtype", "bool")
            .map_err(err("sample_stats/diverging"))?;
        let depth: Vec<i64> = gather(&|s, ci, di| {
            s.tree_depth
                .get(ci)
                .and_then(|r| r.get(di))
                .map_or(-1.0, |&v| v as f64)
        })
        .into_iter()
        .map(|v| v as i64)
        .collect();
        let mut var = g
            .add_variable::<i64>("tree_depth", dims)
            .map_err(err("sample_stats/tree_depth"))?;
        var.put_values(&depth, ..)
            .map_err(err("sample_stats/tree_depth"))?;
        for (name, values) in [
            ("energy", gather(&|s, ci, di| at(&s.energy, ci, di))),
            ("lp", gather(&|s, ci, di| at(&s.lp, ci, di))),
            (
                "step_size",
                gather(&|s, ci, _| s.step_size.get(ci).copied().unwrap_or(f64::NAN)),
            ),
        ] {
            let what = format!("sample_stats/{name}");
            let mut var = g.add_variable::<f64>(name, dims).map_err(err(&what))?;
            var.put_values(&values, ..).map_err(err(&what))?;
        }
    }
    // Dropping the file closes (and flushes) it.
    drop(file);
    Ok(())
}

/// The `chain` and `draw` dimensions of a group with their integer coordinates.
fn add_chain_draw(
    g: &mut netcdf::GroupMut<'_>,
    n_chains: usize,
    n_draws: usize,
) -> Result<(), netcdf::Error> {
    g.add_dimension("chain", n_chains)?;
    g.add_dimension("draw", n_draws)?;
    for (name, n) in [("chain", n_chains), ("draw", n_draws)] {
        let idx: Vec<i64> = (0..n as i64).collect();
        let mut v = g.add_variable::<i64>(name, &[name])?;
        v.put_values(&idx, ..)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_angle_quantities_share_one_variable() {
        let names: Vec<String> = [
            "D0_ref",
            "contrast[0]",
            "contrast[1]",
            "offset[0]",
            "offset[1]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let v = variables(&names);
        let got: Vec<(&str, &[usize])> = v
            .iter()
            .map(|v| (v.name.as_str(), v.columns.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("D0_ref", &[0][..]),
                ("contrast", &[1, 2][..]),
                ("offset", &[3, 4][..])
            ]
        );
    }
}

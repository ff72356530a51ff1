//! A job's outputs: `result.json` (assembled here), `fit.npz`, `posterior*.npz` and the
//! PNG plots, all written into a staging directory.

use heterodyne_core::mcmc::cmc::CmcReport;
use heterodyne_core::model::HeterodyneModel;
use heterodyne_core::model::params::PHYSICS;
use heterodyne_core::nlsq::NlsqReport;
use serde_json::{Value, json};

use super::JobSpec;
use crate::config::{CmcOptions, FitAngles};
use crate::io::{Staging, inference_data, plots, posterior, posterior_plots, results};
use heterodyne_core::data::prepare::Prepared;

/// One finished NLSQ fit of a group of angles.
pub struct Fitted {
    /// Angles, degrees.
    pub phi: Vec<f64>,
    /// The model it was fitted with.
    pub model: HeterodyneModel,
    /// The fit.
    pub report: NlsqReport,
}

fn cmc_settings_json(o: &CmcOptions) -> Value {
    json!({
        "num_warmup": o.num_warmup,
        "num_samples": o.num_samples,
        "num_chains": o.num_chains,
        "target_accept_prob": o.target_accept_prob,
        "max_tree_depth": o.max_tree_depth,
        "seed": o.seed,
        "mass_matrix": format!("{:?}", o.mass).to_lowercase(),
        "backend": format!("{:?}", o.backend).to_lowercase(),
        "max_workers": o.max_workers,
        "sharding_strategy": format!("{:?}", o.strategy).to_lowercase(),
        "robust_combination": o.robust,
        "reparameterization": o.reparam,
        "noise": format!("{:?}", o.noise).to_lowercase(),
        "validation": o.validation,
    })
}

/// `result.json` without the timings (added when the job ends).
pub fn result_json(
    spec: &JobSpec,
    layout: &str,
    data: &Prepared,
    fits: &[Fitted],
    posteriors: &[CmcReport],
) -> Value {
    let config = &spec.config;
    let bounds: Vec<(f64, f64, bool)> = config
        .parameters
        .physics
        .iter()
        .map(|p| (p.min, p.max, p.vary))
        .collect();
    let converged =
        fits.iter().all(|f| f.report.converged) && posteriors.iter().all(|p| p.verdict.converged);
    let settings_json = if posteriors.is_empty() {
        Value::Null
    } else {
        cmc_settings_json(&spec.cmc)
    };
    let fit_angles = config.fit.nlsq.fit_angles;
    let fit_json: Value = match fit_angles {
        FitAngles::Joint => {
            let mut j = results::report_json(&fits[0].report, &fits[0].phi, &bounds);
            if let Some(p) = posteriors.first() {
                let (post, cmc) = posterior::posterior_json(p, settings_json.clone());
                j["posterior"] = post;
                j["divergences"] = json!(p.divergences);
                j["cmc"] = cmc;
                j["converged"] = json!(fits[0].report.converged && p.verdict.converged);
                j["nlsq_converged"] = json!(fits[0].report.converged);
            }
            j
        }
        FitAngles::Separate => {
            // One full report per angle; at the top level only what is common to all.
            let angles: Vec<Value> = fits
                .iter()
                .enumerate()
                .map(|(a, f)| {
                    let mut j = results::report_json(&f.report, &f.phi, &bounds);
                    j["phi"] = json!(f.phi[0]);
                    if let Some(p) = posteriors.get(a) {
                        let (post, cmc) = posterior::posterior_json(p, settings_json.clone());
                        j["posterior"] = post;
                        j["divergences"] = json!(p.divergences);
                        j["cmc"] = cmc;
                    }
                    j
                })
                .collect();
            json!({
                "angles": angles,
                "chi2": fits.iter().map(|f| f.report.chi2).sum::<f64>(),
                "dof": fits.iter().map(|f| f.report.dof).sum::<usize>(),
                "n_points": fits.iter().map(|f| f.report.n_points).sum::<usize>(),
                "iterations": fits.iter().map(|f| f.report.iterations).max(),
                "converged": converged,
                "divergences": posteriors.iter().map(|p| p.divergences).sum::<usize>(),
                "warnings": fits.iter().flat_map(|f| f.report.warnings.iter().cloned()).collect::<Vec<_>>(),
            })
        }
    };
    let mut result = json!({
        "software": {"name": "heterodyne-rs", "version": env!("CARGO_PKG_VERSION")},
        "method": spec.method.as_str(),
        "fit_angles": match fit_angles { FitAngles::Joint => "joint", FitAngles::Separate => "separate" },
        "data_file": spec.data_path.display().to_string(),
        "layout": layout,
        "q": config.analyzer.wavevector_q,
        "dt": config.analyzer.dt,
        "frames": [config.analyzer.start_frame, config.analyzer.end_frame],
        "time_origin": match config.analyzer.time_origin {
            heterodyne_core::model::TimeOrigin::Window => "window",
            heterodyne_core::model::TimeOrigin::Absolute => "absolute",
        },
        "phi": data.phi,
        "notes": data.notes,
        "config": config.document,
    });
    if let (Value::Object(r), Value::Object(f)) = (&mut result, fit_json) {
        r.extend(f);
    }
    result
}

/// The file-name tag of posterior `a`: empty for one posterior, `_phi_±ddd.dd` per angle.
fn tag_of(fits: &[Fitted], posteriors: &[CmcReport], a: usize) -> String {
    if posteriors.len() > 1 {
        format!("_phi_{:+07.2}", fits[a].phi[0])
    } else {
        String::new()
    }
}

/// The fitted matrix of each selected angle, evaluated when asked: a whole stack of
/// them is as large as the data, and the writers need one angle at a time.
pub struct FitMatrices<'a> {
    /// Angles (indices into the data) of each fit group.
    pub groups: &'a [Vec<usize>],
    /// The fits, one per group.
    pub fits: &'a [Fitted],
    /// The job's pool and its parallelism.
    pub pool: &'a rayon::ThreadPool,
    /// Parallelism inside the pool.
    pub par: heterodyne_core::exec::Par,
}

impl FitMatrices<'_> {
    /// The fitted `n×n` matrix of data angle `a` (the same values as the group's model
    /// evaluated for all its angles: angles do not interact in the evaluator).
    pub fn angle(&self, a: usize) -> anyhow::Result<Vec<f64>> {
        let (g, k) = self
            .groups
            .iter()
            .enumerate()
            .find_map(|(g, angles)| angles.iter().position(|&x| x == a).map(|k| (g, k)))
            .ok_or_else(|| anyhow::anyhow!("angle {a} belongs to no fit group"))?;
        let fit = &self.fits[g];
        let model =
            HeterodyneModel::new(fit.model.grid().to_owned(), fit.model.q(), vec![fit.phi[k]])?;
        let scaling = heterodyne_core::model::Scaling {
            contrast: vec![fit.report.scaling.contrast[k]],
            offset: vec![fit.report.scaling.offset[k]],
        };
        Ok(self
            .pool
            .install(|| model.c2(&fit.report.physics, &scaling, self.par))?)
    }
}

/// `fit.npz` and one `posterior*.npz` per posterior.
pub fn write_arrays(
    staging: &Staging,
    spec: &JobSpec,
    data: &Prepared,
    fitted: &FitMatrices<'_>,
    posteriors: &[CmcReport],
) -> anyhow::Result<()> {
    let fits = fitted.fits;
    let grid = fits[0].model.grid().to_owned();
    results::write_fit_npz(
        &staging.path("fit.npz"),
        data.n,
        &data.c2,
        &|a| fitted.angle(a),
        &grid.times(),
        &data.phi,
        spec.config.analyzer.wavevector_q,
    )?;
    for (a, p) in posteriors.iter().enumerate() {
        let name = format!("posterior{}.npz", tag_of(fits, posteriors, a));
        posterior::write_posterior_npz(&staging.path(&name), p)?;
        let name = format!("posterior{}.nc", tag_of(fits, posteriors, a));
        inference_data::write_inference_data(&staging.path(&name), p)?;
    }
    Ok(())
}

/// Every plot; returns a warning for each kind that could not be drawn (plots never cost
/// the user the numbers).
pub fn write_plots(
    staging: &Staging,
    data: &Prepared,
    fitted: &FitMatrices<'_>,
    posteriors: &[CmcReport],
) -> Vec<String> {
    let fits = fitted.fits;
    let mut warnings = Vec::new();
    for (a, p) in posteriors.iter().enumerate() {
        // A plotting library's panic must not cost the user the numbers.
        let tag = tag_of(fits, posteriors, a);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            plot_posterior(staging, &tag, p, &fits[a].report)
        }))
        .unwrap_or_else(|_| Err("the plotting library panicked".to_string()));
        if let Err(e) = outcome {
            warnings.push(format!("posterior plots skipped: {e}"));
            break;
        }
    }
    let n = data.n;
    let nn = n * n;
    let t = fits[0].model.grid().times();
    // Angles in parallel (each plot is sequential inside), one fitted matrix per angle
    // in memory at a time per worker.
    let plot_angle = |a: usize| -> Result<(), String> {
        let phi = data.phi[a];
        let d = &data.c2[a * nn..(a + 1) * nn];
        let f = fitted.angle(a).map_err(|e| e.to_string())?;
        let tag = format!("phi_{phi:+07.2}");
        plots::plot_fit_heatmaps(&staging.path(&format!("c2_{tag}.png")), phi, n, &t, d, &f)?;
        plots::plot_cuts(&staging.path(&format!("cuts_{tag}.png")), phi, n, &t, d, &f)
    };
    let outcomes: Vec<Result<(), String>> = fitted.pool.install(|| {
        use rayon::prelude::*;
        (0..data.phi.len())
            .into_par_iter()
            .map(plot_angle)
            .collect()
    });
    if let Some(Err(e)) = outcomes.into_iter().find(Result::is_err) {
        warnings.push(format!("plots skipped: {e}"));
    }
    warnings
}

/// Trace, rank, corner and posterior-vs-NLSQ plots of one posterior.
fn plot_posterior(
    staging: &Staging,
    tag: &str,
    p: &CmcReport,
    nlsq: &NlsqReport,
) -> Result<(), String> {
    use posterior_plots::{Comparison, Series};
    let series_of = |k: usize| Series {
        name: &p.params[k].name,
        chains: p
            .draws
            .iter()
            .map(|c| c.iter().map(|d| d[k]).collect())
            .collect(),
    };
    let mut all: Vec<Series<'_>> = (0..p.params.len()).map(series_of).collect();
    for (s, draws) in p.combinations.iter().zip(&p.combination_draws) {
        all.push(Series {
            name: &s.name,
            chains: draws.clone(),
        });
    }
    posterior_plots::plot_traces(&staging.path(&format!("cmc_trace{tag}.png")), &all)?;
    posterior_plots::plot_ranks(&staging.path(&format!("cmc_rank{tag}.png")), &all)?;
    // Corner: the physics quantities (scaling and σ are nuisance here).
    let physics: Vec<Series<'_>> = (0..p.params.len())
        .filter(|&k| PHYSICS.iter().any(|s| s.name == p.params[k].name))
        .map(series_of)
        .collect();
    posterior_plots::plot_corner(&staging.path(&format!("cmc_corner{tag}.png")), &physics)?;
    let rows: Vec<Comparison<'_>> = p
        .params
        .iter()
        .filter_map(|s| {
            let k = nlsq.names.iter().position(|n| *n == s.name)?;
            Some(Comparison {
                name: &s.name,
                post: (s.mean, s.std, s.hdi94_low, s.hdi94_high),
                nlsq: (nlsq.x[k], nlsq.std_error[k]),
            })
        })
        .collect();
    posterior_plots::plot_versus_nlsq(&staging.path(&format!("cmc_vs_nlsq{tag}.png")), &rows)
}

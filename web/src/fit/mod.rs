//! A fit of the page's data: the CLI's NLSQ (`heterodyne_core::nlsq::fit`) and, when asked,
//! its CMC (`heterodyne_core::mcmc::cmc::run_cmc`), with the problem and the settings built
//! by the same core code as the CLI's (`config::problem`, `config::settings`).
//!
//! The work runs in a dedicated Web Worker (`www/fit-worker.js`, [`task`]) so the page
//! stays responsive; [`client`] is the page's side of it. Requests and outcomes cross as
//! postcard bytes: both ends are this crate.

pub mod client;
pub mod progress;
pub mod task;

use heterodyne_core::config::Config;
use heterodyne_core::config::problem::{Group, build_problem};
use heterodyne_core::config::settings::{nlsq_settings, sigma_from_nlsq};
use heterodyne_core::exec::Par;
use heterodyne_core::mcmc::cmc::{Backend, run_cmc};
use heterodyne_core::model::params::PHYSICS;
use heterodyne_core::nlsq::{self, NlsqReport};
use serde::{Deserialize, Serialize};

pub use progress::{Phase, Progress, Snapshot};

/// The error text of a fit stopped by the user.
pub const CANCELLED: &str = "cancelled";

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// Nonlinear least squares.
    Nlsq,
    /// NLSQ, then Consensus Monte Carlo from its optimum (the CLI's `--method cmc`).
    Cmc,
}

impl Method {
    /// The CLI's and the node's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Nlsq => "nlsq",
            Method::Cmc => "cmc",
        }
    }
}

/// A fit to run: the form's config and the selected data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The config as YAML (read by the CLI's reader).
    pub config_yaml: String,
    /// Stacked matrices `[φ][t1][t2]`, selected and diagonal-corrected.
    pub c2: Vec<f64>,
    /// Frames per side.
    pub n: usize,
    /// Angles, degrees.
    pub phi: Vec<f64>,
    /// What to run.
    pub method: Method,
}

/// One estimate with its standard error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Name (`D0_ref` …, `contrast`, `offset`).
    pub name: String,
    /// Value.
    pub value: f64,
    /// Standard error (`None` where the data do not determine it).
    pub std_error: Option<f64>,
}

/// The fitted contrast and offset of each angle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ScalingFit {
    /// The per-angle mode used (`individual`, `averaged` …; never `auto`).
    pub mode: String,
    /// Angles, degrees.
    pub phi: Vec<f64>,
    /// Contrast per angle.
    pub contrast: Vec<Estimate>,
    /// Offset per angle.
    pub offset: Vec<Estimate>,
}

/// The posterior of one sampled quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marginal {
    /// Name as in the fit's vector (`D0_ref`, `contrast`, `sigma` …).
    pub name: String,
    /// Posterior mean.
    pub mean: f64,
    /// Posterior standard deviation.
    pub std: f64,
    /// Rank-normalised split R̂.
    pub r_hat: f64,
    /// Bulk effective sample size.
    pub ess_bulk: f64,
    /// Combined kept draws, `[chain][draw]`.
    pub chains: Vec<Vec<f64>>,
}

/// What the page shows of a CMC run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Posterior {
    /// Every sampled quantity.
    pub marginals: Vec<Marginal>,
    /// Shards the data were split into.
    pub shards: usize,
    /// Divergent transitions over the used shards.
    pub divergences: usize,
    /// Whether the verdict (R̂, ESS, divergences, E-BFMI) passed.
    pub converged: bool,
    /// Why not, when it did not.
    pub warnings: Vec<String>,
}

/// What the page shows of a fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The 14 physics parameters.
    pub estimates: Vec<Estimate>,
    /// Per-angle contrast and offset.
    pub scaling: ScalingFit,
    /// The fitted matrices, `[φ][t1][t2]`.
    pub c2_fit: Vec<f64>,
    /// χ² and reduced χ².
    pub chi2: (f64, f64),
    /// Iterations.
    pub iterations: usize,
    /// Converged.
    pub converged: bool,
    /// The CMC posterior, when sampled.
    pub posterior: Option<Posterior>,
}

impl Outcome {
    /// χ², iterations and convergence, for the status line.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "χ² = {:.6e}, {} iterations, {}",
            self.chi2.0,
            self.iterations,
            if self.converged {
                "converged"
            } else {
                "not converged"
            }
        );
        if let Some(p) = &self.posterior {
            s += &format!(
                "; CMC: {} shard(s), {} divergences, {}",
                p.shards,
                p.divergences,
                if p.converged {
                    "verdict passed"
                } else {
                    "verdict failed"
                }
            );
        }
        s
    }
}

fn estimates(report: &NlsqReport, phi: &[f64]) -> (Vec<Estimate>, ScalingFit) {
    let values = report.physics.to_array();
    let physics = PHYSICS
        .iter()
        .enumerate()
        .map(|(k, p)| Estimate {
            name: p.name.to_string(),
            value: values[k],
            std_error: report.physics_std[k],
        })
        .collect();
    let pairs = |name: &str, v: &[f64], s: &[Option<f64>]| -> Vec<Estimate> {
        v.iter()
            .zip(s)
            .map(|(v, s)| Estimate {
                name: name.to_string(),
                value: *v,
                std_error: *s,
            })
            .collect()
    };
    let scaling = ScalingFit {
        mode: report.scaling_mode.name().to_string(),
        phi: phi.to_vec(),
        contrast: pairs("contrast", &report.scaling.contrast, &report.contrast_std),
        offset: pairs("offset", &report.scaling.offset, &report.offset_std),
    };
    (physics, scaling)
}

/// The page's text of a core error in `stage` (`""`, `"CMC: "`): [`CANCELLED`] when the user
/// stopped the fit.
fn failure(stage: &'static str) -> impl Fn(heterodyne_core::Error) -> String {
    move |e| match e {
        heterodyne_core::Error::Cancelled => CANCELLED.to_string(),
        e => format!("{stage}{e}"),
    }
}

/// Memory an in-browser fit may plan for (wasm32 addresses at most 4 GiB).
const MEMORY_BUDGET: usize = 512 << 20;

/// Runs `request` with parallelism `par`, reporting to `progress` (which may stop it: the
/// call then returns [`CANCELLED`]). In the browser CMC shards run one after another; a
/// shard's chains use `par`.
pub fn run(request: &Request, par: Par, progress: &Progress) -> Result<Outcome, String> {
    let config = Config::parse(std::path::Path::new("config"), &request.config_yaml)
        .map_err(|e| e.to_string())?;
    let (model, problem) = build_problem(
        &config,
        &Group {
            c2: &request.c2,
            weights: None,
            n: request.n,
            phi: &request.phi,
        },
    )
    .map_err(|e| e.to_string())?;
    if request.method == Method::Cmc {
        // Refuse bad sampler settings before spending time on the NLSQ fit.
        config
            .cmc
            .check()
            .map_err(|e| format!("config: optimization.cmc: {e}"))?;
    }
    let settings = nlsq_settings(&config, &problem, None, None, MEMORY_BUDGET);
    progress.enter(Phase::Nlsq, 0);
    let report = nlsq::fit(&problem, &settings, par, progress).map_err(failure(""))?;
    let c2_fit = model
        .c2(&report.physics, &report.scaling, par)
        .map_err(|e| e.to_string())?;
    let posterior = match request.method {
        Method::Nlsq => None,
        Method::Cmc => {
            let sigma0 = sigma_from_nlsq(&report);
            let settings = config.cmc.settings(&config, &problem, sigma0);
            progress.enter(Phase::Cmc, config.cmc.total_draws(&problem));
            let cmc = run_cmc(
                &problem,
                &report.x,
                sigma0,
                &settings,
                Backend::Sequential(par),
                progress,
            )
            .map_err(failure("CMC: "))?;
            let marginals = cmc
                .params
                .iter()
                .enumerate()
                .map(|(k, s)| Marginal {
                    name: s.name.clone(),
                    mean: s.mean,
                    std: s.std,
                    r_hat: s.r_hat,
                    ess_bulk: s.ess_bulk,
                    chains: cmc
                        .draws
                        .iter()
                        .map(|chain| chain.iter().map(|d| d[k]).collect())
                        .collect(),
                })
                .collect();
            Some(Posterior {
                marginals,
                shards: cmc.shards.len(),
                divergences: cmc.divergences,
                converged: cmc.verdict.converged,
                warnings: cmc.verdict.warnings.clone(),
            })
        }
    };
    let (estimates, scaling) = estimates(&report, &request.phi);
    Ok(Outcome {
        estimates,
        scaling,
        c2_fit,
        chi2: (report.chi2, report.reduced_chi2),
        iterations: report.iterations,
        converged: report.converged,
        posterior,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The small fixture (three angles, 100 frames) with `free` parameters varying from the
    /// suggested start, the others held at the truth, and a short sampler.
    fn small_request(free: &[&str], method: Method) -> (Request, Value) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/datasets");
        let truth: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("small.json")).expect("small.json"),
        )
        .expect("json");
        let mut form = crate::config_text::Form::default();
        form.analyzer.dt = truth["dt"].as_f64().expect("dt");
        form.analyzer.q = truth["q_target"].as_f64().expect("q");
        form.analyzer.end_frame = truth["n_frames"].as_u64().expect("n") as usize;
        for row in &mut form.rows {
            row.vary = free.contains(&row.name);
            let from = if row.vary { "suggested_start" } else { "truth" };
            row.value = truth[from][row.name].as_f64().expect("start");
        }
        form.sampler.num_warmup = 60;
        form.sampler.num_samples = 40;
        form.sampler.num_chains = 2;
        form.sampler.num_shards = Some(1);
        let bytes = std::fs::read(dir.join("small.npz")).expect("small.npz");
        let loaded = crate::data::read("small.npz", bytes).expect("read");
        let data = crate::data::select(&loaded, &form.config().expect("config")).expect("select");
        (
            Request {
                config_yaml: form.to_yaml(),
                c2: data.c2,
                n: data.n,
                phi: data.phi,
                method,
            },
            truth,
        )
    }

    #[test]
    fn a_page_fit_recovers_the_truth_and_samples_its_posterior() {
        let free = ["D0_sample", "v0", "phi0"];
        let (request, truth) = small_request(&free, Method::Cmc);
        let progress = Progress::new(None);
        let o = run(&request, Par::Seq, &progress).expect("fit");
        for e in o
            .estimates
            .iter()
            .filter(|e| free.contains(&e.name.as_str()))
        {
            let t = truth["truth"][&e.name].as_f64().expect("truth");
            let se = e.std_error.expect("std error");
            assert!(
                (e.value - t).abs() <= 3.0 * se,
                "{}: {} vs {t} ± {se}",
                e.name,
                e.value
            );
        }
        assert_eq!(o.scaling.contrast.len(), 3);
        assert_eq!(o.c2_fit.len(), request.c2.len());
        let p = o.posterior.clone().expect("posterior");
        let s = progress.snapshot();
        assert_eq!((s.phase, s.draws, s.total_draws), (Phase::Cmc, 200, 200));
        for name in free {
            let m = p.marginals.iter().find(|m| m.name == name).expect(name);
            assert_eq!(m.chains.len(), 2);
            assert!(m.chains.iter().all(|c| c.len() == 40));
        }
        assert!(p.marginals.iter().any(|m| m.name == "sigma"));
        // The outcome crosses from the worker to the page as postcard bytes.
        let bytes = postcard::to_allocvec(&o).expect("encode");
        let back: Outcome = postcard::from_bytes(&bytes).expect("decode");
        assert_eq!(back, o);
    }

    #[test]
    fn a_cancelled_fit_says_so() {
        let (request, _) = small_request(&["v0"], Method::Nlsq);
        let progress = Progress::new(None);
        progress.cancel();
        assert_eq!(
            run(&request, Par::Seq, &progress),
            Err(CANCELLED.to_string())
        );
    }
}

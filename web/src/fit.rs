//! A fit in the page: the CLI's NLSQ (`heterodyne_core::nlsq::fit`) on the selected data,
//! with the problem built by the same code as the CLI's (`config::problem`).

use heterodyne_core::config::Config;
use heterodyne_core::config::problem::{Group, build_problem};
use heterodyne_core::data::prepare::Prepared;
use heterodyne_core::exec::{Par, Silent};
use heterodyne_core::model::params::PHYSICS;
use heterodyne_core::nlsq::{self, NlsqReport, NlsqSettings};

/// One fitted physics parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Canonical name.
    pub name: &'static str,
    /// Value.
    pub value: f64,
    /// Standard error (`None` where the data do not determine it).
    pub std_error: Option<f64>,
}

/// What the page shows of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The physics parameters.
    pub estimates: Vec<Estimate>,
    /// The fitted matrices, `[φ][t1][t2]`.
    pub c2_fit: Vec<f64>,
    /// χ² and reduced χ².
    pub chi2: (f64, f64),
    /// Iterations.
    pub iterations: usize,
    /// Converged.
    pub converged: bool,
}

impl Outcome {
    /// χ², iterations and convergence, for the status line.
    pub fn summary(&self) -> String {
        format!(
            "χ² = {:.6e}, {} iterations, {}",
            self.chi2.0,
            self.iterations,
            if self.converged {
                "converged"
            } else {
                "not converged"
            }
        )
    }
}

/// Fits `data` jointly (all selected angles) with `config`'s settings.
pub fn run(config: &Config, data: &Prepared) -> Result<Outcome, String> {
    let (model, problem) = build_problem(
        config,
        &Group {
            c2: &data.c2,
            weights: None,
            n: data.n,
            phi: &data.phi,
        },
    )
    .map_err(|e| e.to_string())?;
    let o = &config.fit.nlsq;
    let settings = NlsqSettings {
        tolerances: o.tolerances,
        strategy: o.strategy,
        chunk_size: o.chunk_size,
        memory_budget_bytes: 512 << 20,
        multistart_n: 0,
        seed: o.seed,
        multistart_width: 1.0,
    };
    // Threaded build: rayon's pool of web workers; the results do not depend on it.
    let par = Par::threads(crate::workers());
    let report: NlsqReport =
        nlsq::fit(&problem, &settings, par, &Silent).map_err(|e| e.to_string())?;
    let c2_fit = model
        .c2(&report.physics, &report.scaling, par)
        .map_err(|e| e.to_string())?;
    let values = report.physics.to_array();
    Ok(Outcome {
        estimates: PHYSICS
            .iter()
            .enumerate()
            .map(|(k, p)| Estimate {
                name: p.name,
                value: values[k],
                std_error: report.physics_std[k],
            })
            .collect(),
        c2_fit,
        chi2: (report.chi2, report.reduced_chi2),
        iterations: report.iterations,
        converged: report.converged,
    })
}

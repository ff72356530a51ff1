//! The NLSQ stage of a job: settings from the config and the overrides, and one fit of a
//! group of angles.

use heterodyne_core::config::settings::nlsq_settings;
use heterodyne_core::exec::{Observer, Par};
use heterodyne_core::model::HeterodyneModel;
use heterodyne_core::nlsq::{self, FitProblem, NlsqReport};

use super::JobSpec;
use crate::config::Config;

/// Memory the fit may plan for: half of what the OS reports available.
fn memory_budget() -> usize {
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<usize>().ok())
            .map(|kb| kb * 1024)
    });
    available.unwrap_or(4 << 30) / 2
}

/// What the job overrides of the config's solver settings, and the memory it may plan for.
#[derive(Debug, Clone, Copy)]
pub struct Overrides {
    /// `--multistart N` (`Some(0)`: off).
    pub multistart: Option<usize>,
    /// `--strategy`.
    pub strategy: Option<heterodyne_core::nlsq::Strategy>,
    /// Bytes.
    pub memory_budget_bytes: usize,
}

/// The overrides of `spec`.
pub fn overrides(spec: &JobSpec) -> Overrides {
    Overrides {
        multistart: spec.multistart,
        strategy: spec.strategy,
        memory_budget_bytes: memory_budget(),
    }
}

pub use heterodyne_core::config::problem::{Group, build_problem};

/// One fit of a group with the config's settings, on `pool`.
pub fn fit_group(
    config: &Config,
    group: &Group<'_>,
    overrides: Overrides,
    pool: &rayon::ThreadPool,
    par: Par,
    observer: &dyn Observer,
) -> anyhow::Result<(HeterodyneModel, FitProblem, NlsqReport)> {
    let (model, problem) = build_problem(config, group)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.path.display()))?;
    let settings = nlsq_settings(
        config,
        &problem,
        overrides.multistart,
        overrides.strategy,
        overrides.memory_budget_bytes,
    );
    let report = pool.install(|| nlsq::fit(&problem, &settings, par, observer))?;
    Ok((model, problem, report))
}

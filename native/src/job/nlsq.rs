//! The NLSQ stage of a job: settings from the config and the overrides, and one fit of a
//! group of angles.

use heterodyne_core::config::settings::nlsq_settings;
use heterodyne_core::exec::{Observer, Par};
use heterodyne_core::model::HeterodyneModel;
use heterodyne_core::nlsq::{self, FitProblem, NlsqReport};

use super::JobSpec;

/// Memory the fit may plan for: half of what the OS reports available.
pub fn memory_budget() -> usize {
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<usize>().ok())
            .map(|kb| kb * 1024)
    });
    available.unwrap_or(4 << 30) / 2
}

pub use heterodyne_core::config::problem::{Group, build_problem};

/// One fit of a group with the settings of `spec` (its config and the overrides), planning
/// for `memory_budget_bytes`, on `pool`.
pub fn fit_group(
    spec: &JobSpec,
    group: &Group<'_>,
    memory_budget_bytes: usize,
    pool: &rayon::ThreadPool,
    par: Par,
    observer: &dyn Observer,
) -> anyhow::Result<(HeterodyneModel, FitProblem, NlsqReport)> {
    let config = &spec.config;
    let (model, problem) = build_problem(config, group)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.path.display()))?;
    let settings = nlsq_settings(
        config,
        &problem,
        spec.multistart,
        spec.strategy,
        memory_budget_bytes,
    );
    let report = pool.install(|| nlsq::fit(&problem, &settings, par, observer))?;
    Ok((model, problem, report))
}

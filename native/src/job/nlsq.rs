//! The NLSQ stage of a job: settings from the config and the overrides, and one fit of a
//! group of angles.

use heterodyne_core::exec::{Observer, Par};
use heterodyne_core::model::HeterodyneModel;
use heterodyne_core::nlsq::{self, FitProblem, NlsqReport, NlsqSettings};

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

/// The solver settings of `spec`. `multistart_n == usize::MAX` means "on, with the
/// default count", set per problem in [`fit_group`].
pub fn settings(spec: &JobSpec) -> NlsqSettings {
    let o = &spec.config.fit.nlsq;
    let multistart_n = match spec.multistart {
        Some(n) => n,
        None if o.multistart => o.multistart_n.unwrap_or(usize::MAX),
        None => 0,
    };
    NlsqSettings {
        tolerances: o.tolerances,
        strategy: spec.strategy.unwrap_or(o.strategy),
        chunk_size: o.chunk_size,
        memory_budget_bytes: memory_budget(),
        multistart_n,
        seed: o.seed,
        multistart_width: 1.0,
    }
}

pub use heterodyne_core::config::problem::{Group, build_problem};

/// One fit of a group with the config's settings, on `pool`.
pub fn fit_group(
    config: &Config,
    group: &Group<'_>,
    settings: &NlsqSettings,
    pool: &rayon::ThreadPool,
    par: Par,
    observer: &dyn Observer,
) -> anyhow::Result<(HeterodyneModel, FitProblem, NlsqReport)> {
    let (model, problem) = build_problem(config, group)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.path.display()))?;
    let mut settings = settings.clone();
    if settings.multistart_n == usize::MAX {
        settings.multistart_n = 2 * problem.n_params() + 1;
    }
    let report = pool.install(|| nlsq::fit(&problem, &settings, par, observer))?;
    Ok((model, problem, report))
}

//! The NLSQ stage of a job: settings from the config and the overrides, and one fit of a
//! group of angles.

use anyhow::Context;
use heterodyne_core::exec::{Observer, Par};
use heterodyne_core::model::HeterodyneModel;
use heterodyne_core::model::params::N_PHYSICS;
use heterodyne_core::nlsq::{
    self, FitProblem, NlsqReport, NlsqSettings, PhysicsStart, ScalingInputs, ScalingLayout,
};

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

fn physics_start(config: &Config) -> PhysicsStart {
    let ps = &config.parameters.physics;
    let mut vary = [true; N_PHYSICS];
    let mut lo = [0.0; N_PHYSICS];
    let mut hi = [0.0; N_PHYSICS];
    for k in 0..N_PHYSICS {
        vary[k] = ps[k].vary;
        lo[k] = ps[k].min;
        hi[k] = ps[k].max;
    }
    PhysicsStart {
        values: config.parameters.values(),
        vary,
        lo,
        hi,
    }
}

/// The data of one fit group: `c2` of the angles `phi` (each `n×n`) and optional weights.
pub struct Group<'a> {
    /// Stacked matrices.
    pub c2: &'a [f64],
    /// Per-cell weights, same layout.
    pub weights: Option<&'a [f64]>,
    /// Frames per side.
    pub n: usize,
    /// Angles, degrees.
    pub phi: &'a [f64],
}

/// The fit problem of a group, as the config defines it (deterministic: a CMC shard task
/// in another process rebuilds the same problem from the same inputs).
pub fn build_problem(
    config: &Config,
    group: &Group<'_>,
) -> anyhow::Result<(HeterodyneModel, FitProblem)> {
    let Group {
        c2,
        weights,
        n,
        phi,
    } = *group;
    let mut grid = config.analyzer.grid()?;
    grid.n = n;
    let model = HeterodyneModel::new(grid, config.analyzer.wavevector_q, phi.to_vec())?;
    let t = grid.times();
    let o = &config.fit.nlsq;
    let layout = ScalingLayout::new(
        o.per_angle_mode,
        &ScalingInputs {
            phi,
            c2,
            n,
            t: &t,
            contrast: config.parameters.contrast.value,
            offset: config.parameters.offset.value,
            fourier_order: o.fourier_order,
            constant_scaling_threshold: o.constant_scaling_threshold,
        },
    );
    let problem = FitProblem::new(
        model.clone(),
        c2,
        weights,
        o.support,
        physics_start(config),
        layout,
    )
    .with_context(|| format!("{}", config.path.display()))?;
    Ok((model, problem))
}

/// One fit of a group with the config's settings, on `pool`.
pub fn fit_group(
    config: &Config,
    group: &Group<'_>,
    settings: &NlsqSettings,
    pool: &rayon::ThreadPool,
    par: Par,
    observer: &dyn Observer,
) -> anyhow::Result<(HeterodyneModel, FitProblem, NlsqReport)> {
    let (model, problem) = build_problem(config, group)?;
    let mut settings = settings.clone();
    if settings.multistart_n == usize::MAX {
        settings.multistart_n = 2 * problem.n_params() + 1;
    }
    let report = pool.install(|| nlsq::fit(&problem, &settings, par, observer))?;
    Ok((model, problem, report))
}

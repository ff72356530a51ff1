//! The CMC stage of a job: sampler settings from the config, worker pools within the
//! job's share of the machine, and the run from the NLSQ optimum.

use anyhow::Context;
use heterodyne_core::exec::Observer;
use heterodyne_core::mcmc::cmc::{Backend, CmcReport, CmcSettings, run_cmc};
use heterodyne_core::mcmc::nuts::NutsSettings;
use heterodyne_core::mcmc::posterior::{Noise, PosteriorOptions};
use heterodyne_core::nlsq::{FitProblem, NlsqReport};

use crate::config::{BackendKind, CmcOptions, Config, NoiseKind};
use crate::hw::pool::{self, BindWarnings, Placement};

/// The NUTS settings of `o` (checked before any fitting starts).
pub fn nuts_settings(o: &CmcOptions) -> NutsSettings {
    NutsSettings {
        num_warmup: o.num_warmup,
        num_samples: o.num_samples,
        target_accept: o.target_accept_prob,
        max_tree_depth: o.max_tree_depth,
        seed: o.seed,
        mass: o.mass,
    }
}

/// The CMC settings for `problem` from resolved options.
pub fn settings(
    o: &CmcOptions,
    config: &Config,
    problem: &FitProblem,
    sigma_nlsq: f64,
) -> CmcSettings {
    let noise = match o.noise {
        // The reference's HalfNormal(1.5 × MAD of the data); shards temper it by 1/K,
        // which is its ×√K.
        NoiseKind::Sampled => Noise::Sampled {
            scale: 1.5 * problem.data_scale(),
        },
        NoiseKind::Fixed => Noise::Fixed(sigma_nlsq),
    };
    let mut priors = Vec::new();
    for p in &config.parameters.physics {
        if let Some(prior) = p.prior
            && p.vary
        {
            priors.push((p.name.to_string(), prior));
        }
    }
    for (setting, name) in [
        (&config.parameters.contrast, "contrast"),
        (&config.parameters.offset, "offset"),
    ] {
        if let Some(prior) = setting.prior
            && problem.param_names().iter().any(|n| n == name)
        {
            priors.push((name.to_string(), prior));
        }
    }
    CmcSettings {
        nuts: nuts_settings(o),
        num_chains: o.num_chains,
        shards: o.shards,
        strategy: o.strategy,
        posterior: PosteriorOptions {
            noise,
            priors,
            reparam: o.reparam,
        },
        robust: o.robust,
        validation: o.validation,
    }
}

/// RMS of the NLSQ residuals per independent cell: the σ a fixed-noise likelihood uses
/// and a sampled σ starts from.
pub fn sigma_from_nlsq(report: &NlsqReport) -> f64 {
    (report.chi2 / report.n_points.max(1) as f64)
        .sqrt()
        .max(1e-12)
}

/// Draws (warm-up included) that sampling `problem` will take.
pub fn total_draws(o: &CmcOptions, problem: &FitProblem) -> u64 {
    let k = o
        .shards
        .resolve(problem.n_residuals(), problem.n_rows())
        .unwrap_or(1) as u64;
    k * o.num_chains as u64 * (o.num_warmup + o.num_samples)
}

/// Runs CMC for `problem` from `report` within `placement`; a failed thread binding is
/// handed to `remark`.
pub fn sample(
    o: &CmcOptions,
    config: &Config,
    problem: &FitProblem,
    report: &NlsqReport,
    placement: &Placement,
    observer: &dyn Observer,
    remark: &dyn Fn(&str),
) -> anyhow::Result<CmcReport> {
    let sigma0 = sigma_from_nlsq(report);
    let settings = settings(o, config, problem, sigma0);
    let k = settings
        .shards
        .resolve(problem.n_residuals(), problem.n_rows())?;
    let threads = placement.resolved_threads();
    let cmc = match o.backend {
        BackendKind::Sequential => {
            let (pool, par, warning) = placement.pool()?;
            if let Some(w) = warning {
                remark(&w);
            }
            pool.install(|| {
                run_cmc(
                    problem,
                    &report.x,
                    sigma0,
                    &settings,
                    Backend::Sequential(par),
                    observer,
                )
            })
        }
        BackendKind::Parallel => {
            let workers = match o.max_workers {
                0 => pool::env_count("HETERODYNE_WORKERS").unwrap_or(k.min(threads)),
                w => w,
            }
            .max(1);
            let per_worker = pool::env_count("HETERODYNE_THREADS_PER_WORKER")
                .unwrap_or(threads / workers)
                .max(1);
            let warnings = BindWarnings::default();
            let pools = pool::cmc_pools(
                workers,
                per_worker,
                pool::pin_or_env(placement.pin),
                placement.share,
                &warnings,
            )?;
            for p in &pools {
                p.broadcast(|_| ());
            }
            if let Some(w) = warnings.first() {
                remark(&w);
            }
            run_cmc(
                problem,
                &report.x,
                sigma0,
                &settings,
                Backend::Parallel(&pools),
                observer,
            )
        }
    };
    cmc.context("CMC")
}

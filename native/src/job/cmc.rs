//! The CMC stage of a job: sampler settings from the config, worker pools within the
//! job's share of the machine, and the run from the NLSQ optimum.

use std::path::Path;

use anyhow::Context;
use heterodyne_core::config::settings::sigma_from_nlsq;
use heterodyne_core::exec::Observer;
use heterodyne_core::mcmc::cmc::{Backend, CmcReport, CmcSettings, run_cmc};
use heterodyne_core::nlsq::{FitProblem, NlsqReport};

use super::nlsq::Group;
use crate::cluster::shard_task::{self, ProblemInputs};
use crate::cluster::slurm::SlurmExecutor;
use crate::config::{BackendKind, CmcOptions, Config};
use crate::hw::pool::{self, BindWarnings, Placement};

/// What a shard in another process needs to rebuild the problem: the group's cells and
/// where the work directory goes.
pub struct ShardSource<'a> {
    /// The group's data.
    pub group: &'a Group<'a>,
    /// The folder beside which a work directory is made (unless `slurm.work_dir` says).
    pub near: &'a Path,
}

/// Runs the shards as a Slurm job array from a fresh work directory (kept, with the
/// tasks' logs, when the run fails).
#[allow(clippy::too_many_arguments)]
fn sample_on_slurm(
    o: &CmcOptions,
    config: &Config,
    problem: &FitProblem,
    report: &NlsqReport,
    settings: &CmcSettings,
    sigma0: f64,
    source: &ShardSource<'_>,
    observer: &dyn Observer,
) -> anyhow::Result<CmcReport> {
    let parent = o
        .slurm
        .work_dir
        .clone()
        .unwrap_or_else(|| source.near.to_path_buf());
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("slurm.work_dir {}: cannot create", parent.display()))?;
    let work = tempfile::Builder::new()
        .prefix(".heterodyne-slurm.")
        .tempdir_in(&parent)
        .with_context(|| format!("slurm.work_dir {}: cannot write", parent.display()))?;
    let k = settings
        .shards
        .resolve(problem.n_residuals(), problem.n_rows())?;
    let g = source.group;
    shard_task::prepare(
        work.path(),
        &ProblemInputs {
            config: serde_json::to_string(&config.document)?,
            c2: g.c2.to_vec(),
            weights: g.weights.map(<[f64]>::to_vec),
            phi: g.phi.to_vec(),
            n: g.n,
            x0: report.x.clone(),
            sigma0,
            settings: settings.clone(),
            shards: k,
        },
    )?;
    let executor = SlurmExecutor {
        options: o.slurm.clone(),
        work: work.path().canonicalize()?,
        exe: std::env::current_exe().context("cannot find the heterodyne binary")?,
    };
    let out = run_cmc(
        problem,
        &report.x,
        sigma0,
        settings,
        Backend::External(&executor),
        observer,
    );
    if out
        .as_ref()
        .is_err_and(|e| !matches!(e, heterodyne_core::Error::Cancelled))
    {
        // The tasks' logs are what the user needs to see why.
        let _ = work.keep();
    }
    Ok(out?)
}

/// Runs CMC for `problem` from `report` within `placement`; a failed thread binding is
/// handed to `remark`.
#[allow(clippy::too_many_arguments)]
pub fn sample(
    o: &CmcOptions,
    config: &Config,
    problem: &FitProblem,
    report: &NlsqReport,
    placement: &Placement,
    source: &ShardSource<'_>,
    observer: &dyn Observer,
    remark: &dyn Fn(&str),
) -> anyhow::Result<CmcReport> {
    let sigma0 = sigma_from_nlsq(report);
    let settings = o.settings(config, problem, sigma0);
    let k = settings
        .shards
        .resolve(problem.n_residuals(), problem.n_rows())?;
    let threads = placement.resolved_threads();
    let cmc = match o.backend {
        BackendKind::Slurm => {
            return sample_on_slurm(
                o, config, problem, report, &settings, sigma0, source, observer,
            )
            .context("CMC");
        }
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

//! The CMC stage of `heterodyne fit --method cmc|both`: settings from the config and the
//! command line, worker pools, progress bars per shard and chain, and the run itself
//! from the NLSQ optimum.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use heterodyne_core::exec::{Event, Flow, Observer};
use heterodyne_core::mcmc::cmc::{Backend, CmcReport, CmcSettings, ShardCount, run_cmc};
use heterodyne_core::mcmc::nuts::NutsSettings;
use heterodyne_core::mcmc::posterior::{Noise, PosteriorOptions};
use heterodyne_core::nlsq::{FitProblem, NlsqReport};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::{BackendKind, CmcOptions, Config, NoiseKind};

/// Which estimates `fit` produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Nonlinear least squares only.
    Nlsq,
    /// Posterior by Consensus Monte Carlo, started from an NLSQ fit.
    Cmc,
    /// Both, reported side by side.
    Both,
}

/// Where shards run on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// One shard after another (chains in parallel on `--threads`).
    Sequential,
    /// Shards on `--workers` parallel pools.
    Parallel,
}

/// CMC flags of `heterodyne fit` (each overrides `optimization.cmc`).
#[derive(Debug, Args, Default)]
pub struct CmcArgs {
    /// Kept draws per chain.
    #[arg(long, value_name = "N")]
    pub num_samples: Option<u64>,
    /// Warm-up draws per chain.
    #[arg(long, value_name = "N")]
    pub num_warmup: Option<u64>,
    /// Chains per shard.
    #[arg(long, value_name = "N")]
    pub num_chains: Option<usize>,
    /// Shards (default: the config's rule, one up to 100 000 points).
    #[arg(long, value_name = "K")]
    pub num_shards: Option<usize>,
    /// Sampler seed (same seed → same draws, whatever the backend and workers).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where shards run.
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// Parallel workers (each a thread pool; default: one per shard up to the cores).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
}

/// Resolved CMC options: the config's with the flags applied.
pub fn options(config: &Config, args: &CmcArgs) -> CmcOptions {
    let mut o = config.cmc.clone();
    if let Some(v) = args.num_samples {
        o.num_samples = v;
    }
    if let Some(v) = args.num_warmup {
        o.num_warmup = v;
    }
    if let Some(v) = args.num_chains {
        o.num_chains = v;
    }
    if let Some(k) = args.num_shards {
        o.shards = ShardCount::Fixed(k);
    }
    if let Some(s) = args.seed {
        o.seed = s;
    }
    match args.backend {
        Some(BackendArg::Sequential) => o.backend = BackendKind::Sequential,
        Some(BackendArg::Parallel) => o.backend = BackendKind::Parallel,
        None => {}
    }
    if let Some(w) = args.workers {
        o.max_workers = w;
    }
    o
}

/// Progress bars: one overall, one per running (shard, chain).
pub struct DrawBars {
    multi: MultiProgress,
    total: ProgressBar,
    chains: Mutex<HashMap<(usize, usize), ProgressBar>>,
    hidden: bool,
}

impl DrawBars {
    /// Bars for `total_draws` draws over all shards and chains.
    pub fn new(total_draws: u64, quiet: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        let total = multi.add(ProgressBar::new(total_draws));
        total.set_style(
            ProgressStyle::with_template(
                "cmc   [{elapsed_precise}] {wide_bar} {pos}/{len} draws (eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        total.enable_steady_tick(Duration::from_millis(200));
        Self {
            multi,
            total,
            chains: Mutex::new(HashMap::new()),
            hidden: quiet,
        }
    }

    /// Clears every bar.
    pub fn finish(&self) {
        if let Ok(mut bars) = self.chains.lock() {
            for (_, b) in bars.drain() {
                b.finish_and_clear();
            }
        }
        self.total.finish_and_clear();
    }
}

impl Observer for DrawBars {
    fn on(&self, event: &Event) -> Flow {
        if let Event::Draw {
            shard,
            chain,
            draw,
            total,
        } = *event
        {
            self.total.inc(1);
            if self.hidden {
                return Flow::Continue;
            }
            if let Ok(mut bars) = self.chains.lock() {
                let bar = bars.entry((shard, chain)).or_insert_with(|| {
                    let b = self.multi.add(ProgressBar::new(total));
                    b.set_style(
                        ProgressStyle::with_template("  shard {prefix} {bar:30} {pos}/{len} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b.set_prefix(format!("{shard} chain {chain}"));
                    b
                });
                bar.set_position(draw);
                if draw == total {
                    bar.finish_and_clear();
                    bars.remove(&(shard, chain));
                }
            }
        }
        Flow::Continue
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
        nuts: NutsSettings {
            num_warmup: o.num_warmup,
            num_samples: o.num_samples,
            target_accept: o.target_accept_prob,
            max_tree_depth: o.max_tree_depth,
            seed: o.seed,
            mass: o.mass,
        },
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

/// Runs CMC for `problem` from `report` with `threads` cores in all.
pub fn sample(
    o: &CmcOptions,
    config: &Config,
    problem: &FitProblem,
    report: &NlsqReport,
    threads: usize,
    pin: Option<crate::hw::pool::Pin>,
    bars: &DrawBars,
) -> anyhow::Result<CmcReport> {
    let sigma0 = sigma_from_nlsq(report);
    let settings = settings(o, config, problem, sigma0);
    let k = settings
        .shards
        .resolve(problem.n_residuals(), problem.n_rows())?;
    let threads = threads.max(1);
    let cmc = match o.backend {
        BackendKind::Sequential => {
            let (pool, par) = super::thread_pool(threads, pin)?;
            pool.install(|| {
                run_cmc(
                    problem,
                    &report.x,
                    sigma0,
                    &settings,
                    Backend::Sequential(par),
                    bars,
                )
            })
        }
        BackendKind::Parallel => {
            let workers = match o.max_workers {
                0 => super::env_count("HETERODYNE_WORKERS").unwrap_or(k.min(threads)),
                w => w,
            }
            .max(1);
            let per_worker = super::env_count("HETERODYNE_THREADS_PER_WORKER")
                .unwrap_or(threads / workers)
                .max(1);
            let warnings = crate::hw::pool::BindWarnings::default();
            let pools =
                crate::hw::pool::cmc_pools(workers, per_worker, super::pin_or_env(pin), &warnings)?;
            for p in &pools {
                p.broadcast(|_| ());
            }
            if let Some(w) = warnings.first() {
                eprintln!("warning: {w}");
            }
            run_cmc(
                problem,
                &report.x,
                sigma0,
                &settings,
                Backend::Parallel(&pools),
                bars,
            )
        }
    };
    cmc.context("CMC")
}

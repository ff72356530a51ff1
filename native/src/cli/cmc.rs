//! The CMC flags of `heterodyne fit --method cmc|both` and its progress bars (one per
//! running shard and chain); the stage itself is the job's (`crate::job`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use clap::{Args, ValueEnum};
use heterodyne_core::exec::{Event, Flow, Observer};
use heterodyne_core::mcmc::cmc::ShardCount;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::{BackendKind, CmcOptions, Config};

/// Where shards run on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// One shard after another (chains in parallel on `--threads`).
    Sequential,
    /// Shards on `--workers` parallel pools.
    Parallel,
    /// Shards as a Slurm job array (`optimization.cmc.slurm`).
    Slurm,
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
        Some(BackendArg::Slurm) => o.backend = BackendKind::Slurm,
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

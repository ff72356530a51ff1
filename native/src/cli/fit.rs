//! `heterodyne fit`: read a data file and a config, fit all selected angles jointly (or
//! one by one) by NLSQ (and CMC when asked), and write `result.json`, `fit.npz` and plots
//! into the output directory — all of them or none. The work is the job runner's
//! (`crate::job`, shared with the node); this file turns flags into a job, shows progress
//! and prints the tables.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::bail;
use clap::{Args, ValueEnum};
use heterodyne_core::exec::{Event, Flow, Observer};
use heterodyne_core::model::params::PHYSICS;
use heterodyne_core::nlsq::{NlsqReport, Strategy};

use super::cmc::{CmcArgs, DrawBars};
use super::progress::Progress;
use crate::config::Config;
use crate::hw::pool::Placement;
use crate::job::{self, JobSink, JobSpec, Method, Stage};

/// Memory strategy on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// By size against available memory.
    Auto,
    /// Whole Jacobian in memory.
    Dense,
    /// Blocks of chunk_size cells.
    Chunked,
    /// One row at a time.
    Streaming,
    /// JᵀWJ by separable blocks (unit weights; the auto choice where it applies).
    Separable,
}

/// What to read and where to write: shared by `fit` and `plot`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// YAML config (the reference's schema).
    #[arg(long)]
    pub config: PathBuf,
    /// Data file (default: experimental_data.file_path).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output directory (default: output.output_dir, else ./output).
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// Angles, degrees (default: config, else every angle in the file).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub phi: Option<Vec<f64>>,
}

impl DataArgs {
    /// The output directory: flag, else config, else `./output`.
    pub fn output_dir(&self, config: &Config) -> PathBuf {
        self.output_dir
            .clone()
            .or_else(|| config.fit.output_dir.clone())
            .unwrap_or_else(|| PathBuf::from("output"))
    }
}

/// Arguments of `heterodyne fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Config, data, output, angles.
    #[command(flatten)]
    pub input: DataArgs,
    /// Memory strategy (default: optimization.nlsq.strategy, else auto).
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Worker threads (0: all cores; default: optimization.nlsq.threads).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Latin-hypercube multistart with N starts (overrides the config).
    #[arg(long, value_name = "N")]
    pub multistart: Option<usize>,
    /// Per-cell weights (.npy or .npz array `weights`): shape [φ, N, N] for the selected
    /// angles and frame window, or [N, N] for all angles; ≥ 0 (e.g. 1/σ²).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// No progress bar and no table.
    #[arg(long)]
    pub quiet: bool,
    /// Skip the PNG plots.
    #[arg(long)]
    pub no_plots: bool,
    /// Thread pinning: none, cores (one thread per physical core) or numa (CMC workers
    /// per NUMA node); default HETERODYNE_PIN, else cores.
    #[arg(long, value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<crate::hw::pool::Pin>()))]
    pub pin: Option<crate::hw::pool::Pin>,
    /// Estimates to produce (default: optimization.method, else nlsq).
    #[arg(long, value_enum)]
    pub method: Option<Method>,
    /// CMC settings.
    #[command(flatten)]
    pub cmc: CmcArgs,
}

/// Exit status of a fit that ran but did not converge (results are still written).
pub const NOT_CONVERGED: u8 = 3;

/// Reads the config (printing its warnings unless `quiet`) and finds the data file: the
/// flag, else `experimental_data.file_path` (relative to the working directory, else to
/// the config's directory).
pub(crate) fn open(input: &DataArgs, quiet: bool) -> anyhow::Result<(Config, PathBuf)> {
    let config = crate::config::load(&input.config)?;
    if !quiet {
        for w in &config.warnings {
            eprintln!("warning: {}: {w}", config.path.display());
        }
    }
    let data_path = match input
        .data
        .as_deref()
        .map(Path::to_path_buf)
        .or_else(|| config.fit.data_file.clone())
    {
        Some(p) => job::resolve_data_path(&p, &input.config),
        None => bail!(
            "{}: experimental_data.file_path: no data file (give it in the config or with --data)",
            input.config.display()
        ),
    };
    Ok((config, data_path))
}

/// Progress on the terminal: a spinner for NLSQ, then one bar per running shard·chain.
/// Ctrl-C stops the job at its next step (a Slurm array is cancelled with it); a second
/// Ctrl-C exits at once.
struct TerminalSink {
    quiet: bool,
    spinner: Progress,
    bars: OnceLock<DrawBars>,
    interrupted: Arc<AtomicUsize>,
}

impl TerminalSink {
    fn finish(&self) {
        self.spinner.finish();
        if let Some(b) = self.bars.get() {
            b.finish();
        }
    }
}

impl Observer for TerminalSink {
    fn on(&self, event: &Event) -> Flow {
        if self.interrupted.load(Ordering::Relaxed) > 0 {
            return Flow::Stop;
        }
        match (event, self.bars.get()) {
            (Event::Draw { .. }, Some(bars)) => bars.on(event),
            // Shards on a cluster: their states and the scheduler's news, as lines.
            (Event::Shard { shard, state }, _) => {
                if !self.quiet {
                    eprintln!("shard {shard}: {state}");
                }
                Flow::Continue
            }
            (Event::Note(text), Some(_)) => {
                if !self.quiet && !text.is_empty() {
                    eprintln!("note: {text}");
                }
                Flow::Continue
            }
            _ => self.spinner.on(event),
        }
    }
}

impl JobSink for TerminalSink {
    fn stage(&self, stage: Stage) {
        match stage {
            Stage::Cmc { total_draws } => {
                self.spinner.finish();
                let _ = self.bars.set(DrawBars::new(total_draws, self.quiet));
            }
            Stage::Write => self.finish(),
            Stage::Load | Stage::Nlsq => {}
        }
    }

    fn remark(&self, text: &str) {
        if !self.quiet {
            eprintln!("note: {text}");
        }
    }
}

/// Runs the command; `Ok(true)` when every fit converged.
pub fn run(args: FitArgs) -> anyhow::Result<bool> {
    let input = &args.input;
    let (config, data_path) = open(input, args.quiet)?;
    let cmc = super::cmc::options(&config, &args.cmc);
    let spec = JobSpec {
        data_path,
        output_dir: input.output_dir(&config),
        phi: input.phi.clone(),
        strategy: args.strategy.map(|s| match s {
            StrategyArg::Auto => Strategy::Auto,
            StrategyArg::Dense => Strategy::Dense,
            StrategyArg::Chunked => Strategy::Chunked,
            StrategyArg::Streaming => Strategy::Streaming,
            StrategyArg::Separable => Strategy::Separable,
        }),
        multistart: args.multistart,
        weights: args.weights.clone(),
        plots: !args.no_plots,
        method: args.method.unwrap_or_else(|| Method::of_config(&config)),
        cmc,
        placement: Placement {
            threads: args.threads.unwrap_or(config.fit.nlsq.threads),
            pin: args.pin,
            ..Default::default()
        },
        config,
    };
    let interrupted = Arc::new(AtomicUsize::new(0));
    let flag = interrupted.clone();
    // Without a handler (e.g. one is already set) Ctrl-C keeps its default: exit at once.
    let _ = ctrlc::set_handler(move || {
        if flag.fetch_add(1, Ordering::Relaxed) > 0 {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping at the next step (Ctrl-C again to quit now)");
    });
    let sink = TerminalSink {
        quiet: args.quiet,
        spinner: Progress::new("fit", args.quiet),
        bars: OnceLock::new(),
        interrupted,
    };
    let outcome = job::run(&spec, &sink);
    sink.finish();
    let outcome = outcome?;
    if !args.quiet {
        if let Some(list) = outcome.result["warnings"].as_array() {
            for w in list.iter().filter_map(|w| w.as_str()) {
                eprintln!("warning: {w}");
            }
        }
        for (a, (phi, report)) in outcome.fits.iter().enumerate() {
            if outcome.fits.len() > 1 {
                println!("--- φ = {}°", phi[0]);
            }
            print_table(report, phi);
            if let Some(p) = outcome.posteriors.get(a) {
                print_posterior(p);
            }
        }
        println!(
            "results in {} ({:.2} s)",
            spec.output_dir.display(),
            outcome.wall_seconds
        );
    }
    Ok(outcome.converged)
}

fn print_table(report: &NlsqReport, phi: &[f64]) {
    let v = report.physics.to_array();
    println!("{:<16} {:>14} {:>12}", "parameter", "value", "std_error");
    for (k, spec) in PHYSICS.iter().enumerate() {
        let se = match report.physics_std[k] {
            Some(s) => format!("{s:.4e}"),
            None => "—".to_string(),
        };
        println!("{:<16} {:>14.6} {:>12}", spec.name, v[k], se);
    }
    for (a, p) in phi.iter().enumerate() {
        println!(
            "φ = {p:>7.2}°   contrast {:.5}  offset {:.5}",
            report.scaling.contrast[a], report.scaling.offset[a]
        );
    }
    println!(
        "χ² = {:.6e}  reduced χ² = {:.4e}  (far-lag {:.4})  iterations {}  {}",
        report.chi2,
        report.reduced_chi2,
        report.reduced_chi2_far_lag,
        report.iterations,
        report.message
    );
}

fn print_posterior(p: &heterodyne_core::mcmc::cmc::CmcReport) {
    println!(
        "{:<22} {:>13} {:>11} {:>13} {:>13} {:>7} {:>7}",
        "posterior", "mean", "std", "hdi94_low", "hdi94_high", "r_hat", "ess"
    );
    for s in p.params.iter().chain(&p.combinations) {
        println!(
            "{:<22} {:>13.6} {:>11.3e} {:>13.6} {:>13.6} {:>7.3} {:>7.0}",
            s.name, s.mean, s.std, s.hdi94_low, s.hdi94_high, s.r_hat, s.ess_bulk
        );
    }
    println!(
        "shards {} (used {}), divergences {}, verdict: {}",
        p.shards.len(),
        p.shards.iter().filter(|s| s.used).count(),
        p.divergences,
        if p.verdict.converged {
            "converged".to_string()
        } else {
            format!("NOT converged — {}", p.verdict.warnings.join("; "))
        }
    );
}

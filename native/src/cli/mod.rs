//! The command line: one subcommand per file.

mod cmc;
mod config;
mod fit;
mod plot;
mod progress;
mod simulate;

use clap::{Parser, Subcommand};

pub use config::ConfigArgs;
pub use fit::{FitArgs, NOT_CONVERGED};
pub use plot::PlotArgs;
pub use simulate::SimulateArgs;

/// Heterodyne XPCS analysis.
#[derive(Debug, Parser)]
#[command(name = "heterodyne", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fit the heterodyne model to a two-time correlation file by nonlinear least squares.
    Fit(FitArgs),
    /// Plot the data a config selects (heatmaps per angle), without fitting.
    Plot(PlotArgs),
    /// Evaluate the model for a config's parameters and write c2 to a file.
    Simulate(SimulateArgs),
    /// Write a commented config template, or validate a config.
    Config(ConfigArgs),
}

/// How a successful run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything as asked.
    Done,
    /// A fit ran but did not converge (results written).
    NotConverged,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Fit(args) => Ok(if fit::run(args)? {
            Outcome::Done
        } else {
            Outcome::NotConverged
        }),
        Command::Plot(args) => plot::run(args).map(|()| Outcome::Done),
        Command::Simulate(args) => simulate::run(args).map(|()| Outcome::Done),
        Command::Config(args) => config::run(args).map(|()| Outcome::Done),
    }
}

/// A rayon pool of `threads` workers (0: one per available core) and the matching `Par`.
pub(crate) fn thread_pool(
    threads: usize,
) -> anyhow::Result<(rayon::ThreadPool, heterodyne_core::exec::Par)> {
    let n = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("heterodyne-{i}"))
        .build()?;
    Ok((pool, heterodyne_core::exec::Par::threads(n)))
}

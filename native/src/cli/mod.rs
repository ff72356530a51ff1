//! The command line: one subcommand per file.

mod cmc;
mod config;
mod fit;
mod hw;
mod plot;
mod progress;
mod simulate;

use clap::{Parser, Subcommand};

pub use config::ConfigArgs;
pub use fit::{FitArgs, NOT_CONVERGED};
pub use hw::HwArgs;
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
    /// Show the CPU topology (hwloc) and the thread settings that suit it.
    Hw(HwArgs),
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
        Command::Hw(args) => hw::run(args).map(|()| Outcome::Done),
    }
}

/// The pinning asked for: `pin`, else `HETERODYNE_PIN`, else one thread per core.
pub(crate) fn pin_or_env(pin: Option<crate::hw::pool::Pin>) -> crate::hw::pool::Pin {
    pin.or_else(|| {
        std::env::var("HETERODYNE_PIN")
            .ok()
            .and_then(|v| v.parse().ok())
    })
    .unwrap_or_default()
}

/// A positive count from environment variable `name`.
pub(crate) fn env_count(name: &str) -> Option<usize> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
}

/// A rayon pool of `threads` workers (0: `HETERODYNE_THREADS`, else one per physical core)
/// pinned as `pin` says, and the matching `Par`. A failed binding is one warning.
pub(crate) fn thread_pool(
    threads: usize,
    pin: Option<crate::hw::pool::Pin>,
) -> anyhow::Result<(rayon::ThreadPool, heterodyne_core::exec::Par)> {
    let n = match threads {
        0 => env_count("HETERODYNE_THREADS")
            .or_else(|| crate::hw::detect().ok().map(|m| m.cores))
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        n => n,
    };
    let warnings = crate::hw::pool::BindWarnings::default();
    let pool = crate::hw::pool::nlsq_pool(n, pin_or_env(pin), &warnings)?;
    pool.broadcast(|_| ());
    if let Some(w) = warnings.first() {
        eprintln!("warning: {w}");
    }
    Ok((pool, heterodyne_core::exec::Par::threads(n)))
}

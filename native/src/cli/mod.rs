//! The command line: one subcommand per file.

mod simulate;

use clap::{Parser, Subcommand};

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
    /// Evaluate the model for a config's parameters and write c2 to a file.
    Simulate(SimulateArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Simulate(args) => simulate::run(args),
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

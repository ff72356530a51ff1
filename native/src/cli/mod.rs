//! The command line: one subcommand per file.

mod cmc;
mod cmc_shard;
mod config;
mod export_app;
mod fit;
mod hw;
mod plot;
mod progress;
mod serve;
mod simulate;

use clap::{Parser, Subcommand};

pub use cmc_shard::CmcShardArgs;
pub use config::ConfigArgs;
pub use export_app::ExportAppArgs;
pub use fit::{FitArgs, NOT_CONVERGED};
pub use hw::HwArgs;
pub use plot::PlotArgs;
pub use serve::ServeArgs;
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
    /// Run the node: an HTTP API that queues fits as durable jobs and shares results.
    Serve(ServeArgs),
    /// Run one CMC shard from a work directory (what cluster tasks run).
    CmcShard(CmcShardArgs),
    /// Write the browser app built into this binary to a directory (static hosting, or
    /// `serve --web-dir` while editing the page).
    ExportApp(ExportAppArgs),
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
        Command::Serve(args) => serve::run(args).map(|()| Outcome::Done),
        Command::CmcShard(args) => cmc_shard::run(args).map(|()| Outcome::Done),
        Command::ExportApp(args) => export_app::run(args).map(|()| Outcome::Done),
    }
}

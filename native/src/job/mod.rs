//! One fit job, start to finish: read the input, fit by NLSQ, sample by CMC when asked,
//! write `result.json`, `fit.npz`, `posterior*.npz` and the plots into an output
//! directory — all of them or none. The CLI's `fit` and the node's workers both run a job
//! through [`run`]; they differ only in how they show progress (a [`JobSink`]).

mod cmc;
mod input;
pub(crate) mod nlsq;
mod output;
mod run;

use std::path::PathBuf;

use clap::ValueEnum;
use heterodyne_core::exec::Observer;
use heterodyne_core::mcmc::cmc::CmcReport;
use heterodyne_core::nlsq::{NlsqReport, Strategy};
use serde::{Deserialize, Serialize};

use crate::config::{CmcOptions, Config};
use crate::hw::pool::Placement;

pub use input::{load, read_weights, resolve_data_path};
pub use run::run;

/// Which estimates a job produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Nonlinear least squares only.
    Nlsq,
    /// Posterior by Consensus Monte Carlo, started from an NLSQ fit.
    Cmc,
    /// Both, reported side by side.
    Both,
}

impl Method {
    /// The method spelled `text` (`nlsq`, `cmc`, `both`).
    pub fn parse(text: &str) -> Option<Self> {
        [Method::Nlsq, Method::Cmc, Method::Both]
            .into_iter()
            .find(|m| m.as_str() == text)
    }

    /// `optimization.method` of the config, else NLSQ.
    pub fn of_config(config: &Config) -> Self {
        config
            .method
            .as_deref()
            .and_then(Method::parse)
            .unwrap_or(Method::Nlsq)
    }

    /// The name used in configs and results.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Nlsq => "nlsq",
            Method::Cmc => "cmc",
            Method::Both => "both",
        }
    }
}

/// Everything a job needs, resolved: the checked config, where the data is and where
/// results go, and the settings the caller overrides.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The checked config.
    pub config: Config,
    /// The data file.
    pub data_path: PathBuf,
    /// The output directory (created on commit; files replaced).
    pub output_dir: PathBuf,
    /// Angles to fit, degrees (`None`: the config's, else every angle in the file).
    pub phi: Option<Vec<f64>>,
    /// Memory strategy (`None`: `optimization.nlsq.strategy`).
    pub strategy: Option<Strategy>,
    /// Latin-hypercube multistart starts (`None`: the config's).
    pub multistart: Option<usize>,
    /// Per-cell weights file.
    pub weights: Option<PathBuf>,
    /// Write the PNG plots.
    pub plots: bool,
    /// Estimates to produce.
    pub method: Method,
    /// CMC settings (the config's with any overrides applied).
    pub cmc: CmcOptions,
    /// Threads, pinning and the share of the machine.
    pub placement: Placement,
}

/// A stage of a job, as its sink sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading and selecting the data.
    Load,
    /// The NLSQ fit(s).
    Nlsq,
    /// CMC sampling: `total_draws` over every shard and chain, warm-up included.
    Cmc {
        /// Draws to come.
        total_draws: u64,
    },
    /// Writing results and plots.
    Write,
}

impl Stage {
    /// The phase name shown to users.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Load => "load",
            Stage::Nlsq => "nlsq",
            Stage::Cmc { .. } => "cmc",
            Stage::Write => "write",
        }
    }
}

/// Where a job reports: core events (through [`Observer`], which may also cancel), stage
/// changes and remarks for the user.
pub trait JobSink: Observer {
    /// A stage began.
    fn stage(&self, stage: Stage);
    /// A remark for the user (config warnings, data notes, skipped plots).
    fn remark(&self, text: &str);
}

/// What a finished job produced (the files are in the output directory).
#[derive(Debug)]
pub struct JobOutcome {
    /// Every fit and every posterior converged.
    pub converged: bool,
    /// The NLSQ fits: angles (degrees) and report, one per fit group.
    pub fits: Vec<(Vec<f64>, NlsqReport)>,
    /// The posteriors, one per fit group (empty for NLSQ only).
    pub posteriors: Vec<CmcReport>,
    /// The `result.json` written.
    pub result: serde_json::Value,
    /// Wall time of the job, seconds.
    pub wall_seconds: f64,
}

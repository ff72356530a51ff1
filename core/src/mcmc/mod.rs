//! Bayesian uncertainty (the CMC issue, in progress):
//! - [`posterior`]: the log posterior of a fit problem with its exact gradient;
//! - [`nuts`]: NUTS chains through nuts-rs;
//! - [`shard`]: rows of cells dealt to shards;
//! - [`consensus`]: full-covariance Consensus Monte Carlo combination;
//! - [`diagnostics`]: rank-normalised split R̂, bulk and tail ESS;
//! - [`cmc`]: the driver — shards, per-shard verdicts, combination, summaries.
//!
//! Still to come: the CMC driver with per-shard reports, BFMI, the CLI and its outputs.

pub mod clamp;
pub mod cmc;
pub mod consensus;
pub mod diagnostics;
pub mod dual;
pub mod laplace;
pub mod nuts;
pub mod posterior;
pub mod prior;
pub mod shard;
pub mod transform;

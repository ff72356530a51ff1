//! CMC shards beyond one machine: each shard runs as its own process through the
//! `cmc-shard` subcommand, submitted to a cluster scheduler that the facility already
//! runs (Slurm), instead of a distributed runtime of our own.
//!
//! - [`shard_task`]: the work directory — the inputs every shard reads (written once),
//!   one folder per shard, and the draws each shard writes atomically.
//! - [`slurm`]: submission as one `sbatch --array`, polling with `scontrol`, retries,
//!   cancellation with `scancel`.

pub mod shard_task;
pub mod slurm;

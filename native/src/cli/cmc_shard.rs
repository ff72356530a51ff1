//! `heterodyne cmc-shard --input WORK/shard_K`: one CMC shard, as a cluster task runs it
//! (the Slurm backend's array tasks call this).

use std::path::PathBuf;

use clap::Args;

/// Arguments of `heterodyne cmc-shard`.
#[derive(Debug, Args)]
pub struct CmcShardArgs {
    /// The shard's folder in the work directory (holds shard.json; its parent problem.bin).
    #[arg(long)]
    pub input: PathBuf,
    /// Threads (0: HETERODYNE_THREADS, else SLURM_CPUS_PER_TASK, else all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// Runs the shard and writes its draws.
pub fn run(args: CmcShardArgs) -> anyhow::Result<()> {
    crate::cluster::shard_task::run_task(&args.input, args.threads)
}

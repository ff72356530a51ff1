//! The work directory of a CMC run handed to other processes:
//!
//! ```text
//! WORK/problem.bin          the config, the selected cells, the start and the CMC settings
//! WORK/shard.sh             the batch script (fixed text and our own quoted paths only)
//! WORK/shard_K/shard.json   which shard, of how many, with which seed
//! WORK/shard_K/draws.bin    its chains, written atomically by `heterodyne cmc-shard`
//! ```
//!
//! The binary files are postcard-encoded: f64 values round-trip exactly, so a shard run
//! elsewhere gives the same draws, bit for bit, as the local backends.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use heterodyne_core::exec::Silent;
use heterodyne_core::mcmc::cmc::{CmcSettings, run_shard, shard_seed};
use heterodyne_core::mcmc::nuts::ChainDraws;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::hw::pool::{Pin, Placement};
use crate::io::{IoError, write_atomically};
use crate::job::nlsq::{Group, build_problem};

/// Everything a shard needs besides its index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProblemInputs {
    /// The config document as JSON text (YAML reads JSON).
    pub config: String,
    /// Selected matrices, `[φ][t1][t2]`.
    pub c2: Vec<f64>,
    /// Per-cell weights, same layout.
    pub weights: Option<Vec<f64>>,
    /// Angles, degrees.
    pub phi: Vec<f64>,
    /// Frames per side.
    pub n: usize,
    /// The NLSQ optimum (optimiser vector).
    pub x0: Vec<f64>,
    /// σ start.
    pub sigma0: f64,
    /// The CMC settings.
    pub settings: CmcSettings,
    /// Shards in the run.
    pub shards: usize,
}

/// One shard's identity, readable by people looking at the work directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardTask {
    /// Shard index.
    pub shard: usize,
    /// Shards in the run.
    pub of: usize,
    /// The sampler seed of this shard (`heterodyne_core::mcmc::cmc::shard_seed`).
    pub seed: u64,
}

/// The folder of shard `k`.
pub fn shard_dir(work: &Path, k: usize) -> PathBuf {
    work.join(format!("shard_{k}"))
}

/// The draws file of a shard folder.
pub fn draws_path(dir: &Path) -> PathBuf {
    dir.join("draws.bin")
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    write_atomically(path, |tmp| {
        std::fs::write(tmp, bytes).map_err(|e| IoError::file(path, e))
    })
}

/// Writes the inputs and one folder per shard under `work`.
pub fn prepare(work: &Path, inputs: &ProblemInputs) -> anyhow::Result<()> {
    std::fs::create_dir_all(work)
        .with_context(|| format!("{}: cannot create the work directory", work.display()))?;
    let bytes = postcard::to_stdvec(inputs).context("encoding the shard inputs")?;
    write_bytes(&work.join("problem.bin"), &bytes)?;
    for k in 0..inputs.shards {
        let dir = shard_dir(work, k);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        let task = ShardTask {
            shard: k,
            of: inputs.shards,
            seed: shard_seed(inputs.settings.nuts.seed, k),
        };
        let text = serde_json::to_vec_pretty(&task)?;
        write_bytes(&dir.join("shard.json"), &text)?;
        // A draws file from an earlier run in the same folder is not this run's.
        let _ = std::fs::remove_file(draws_path(&dir));
    }
    Ok(())
}

/// Test hook: `HETERODYNE_FAULT_SHARD=K` makes shard K fail on its first attempt,
/// `K:always` on every attempt — how the tests show Slurm retries without a broken node.
fn injected_fault(dir: &Path, shard: usize) -> anyhow::Result<()> {
    let Ok(spec) = std::env::var("HETERODYNE_FAULT_SHARD") else {
        return Ok(());
    };
    let (which, always) = match spec.split_once(':') {
        Some((k, "always")) => (k, true),
        _ => (spec.as_str(), false),
    };
    if which.trim().parse::<usize>().ok() != Some(shard) {
        return Ok(());
    }
    let marker = dir.join("fault-injected");
    if always || !marker.exists() {
        let _ = std::fs::write(&marker, b"1");
        bail!("shard {shard}: fault injected for testing (HETERODYNE_FAULT_SHARD={spec})");
    }
    Ok(())
}

/// `heterodyne cmc-shard --input DIR`: runs the shard of folder `dir` with `threads`
/// threads (0: `HETERODYNE_THREADS`, Slurm's `SLURM_CPUS_PER_TASK`, else the cores) and
/// writes its draws atomically.
pub fn run_task(dir: &Path, threads: usize) -> anyhow::Result<()> {
    let task: ShardTask = serde_json::from_slice(
        &std::fs::read(dir.join("shard.json"))
            .with_context(|| format!("{}: cannot read shard.json", dir.display()))?,
    )
    .with_context(|| format!("{}: shard.json", dir.display()))?;
    let work = dir
        .parent()
        .with_context(|| format!("{}: no work directory above", dir.display()))?;
    let problem_path = work.join("problem.bin");
    let inputs: ProblemInputs = postcard::from_bytes(
        &std::fs::read(&problem_path)
            .with_context(|| format!("{}: cannot read", problem_path.display()))?,
    )
    .with_context(|| {
        format!(
            "{}: not shard inputs of this version",
            problem_path.display()
        )
    })?;
    if task.of != inputs.shards || task.shard >= inputs.shards {
        bail!(
            "{}: shard {} of {} does not match the run's {} shards",
            dir.display(),
            task.shard,
            task.of,
            inputs.shards
        );
    }
    injected_fault(dir, task.shard)?;
    let config = Config::parse(&problem_path, &inputs.config)?;
    let (_, problem) = build_problem(
        &config,
        &Group {
            c2: &inputs.c2,
            weights: inputs.weights.as_deref(),
            n: inputs.n,
            phi: &inputs.phi,
        },
    )?;
    let threads = match threads {
        0 => crate::hw::pool::env_count("HETERODYNE_THREADS")
            .or_else(|| crate::hw::pool::env_count("SLURM_CPUS_PER_TASK"))
            .unwrap_or(0),
        n => n,
    };
    // The scheduler places the task; pinning inside it could collide with other tasks.
    let (pool, par, _) = Placement {
        threads,
        pin: Some(Pin::None),
        ..Default::default()
    }
    .pool()?;
    let draws = pool.install(|| {
        run_shard(
            &problem,
            &inputs.x0,
            inputs.sigma0,
            &inputs.settings,
            task.shard,
            par,
            &Silent,
        )
    })?;
    let bytes = postcard::to_stdvec(&draws).context("encoding the draws")?;
    write_bytes(&draws_path(dir), &bytes)?;
    Ok(())
}

/// The draws a finished shard wrote.
pub fn read_draws(dir: &Path) -> anyhow::Result<Vec<ChainDraws>> {
    let path = draws_path(dir);
    let bytes = std::fs::read(&path).with_context(|| format!("{}: no draws", path.display()))?;
    postcard::from_bytes(&bytes).with_context(|| format!("{}: unreadable draws", path.display()))
}

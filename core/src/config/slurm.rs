//! `optimization.cmc.slurm`: how CMC shards are submitted as a Slurm job array.

use std::path::PathBuf;

use super::error::ConfigError;
use super::node::Node;

/// Slurm settings of the `slurm` CMC backend.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` (Slurm's syntax, e.g. `01:00:00`).
    pub time_limit: Option<String>,
    /// `--cpus-per-task` (each shard's threads).
    pub cpus_per_task: usize,
    /// `--mem` (e.g. `4G`).
    pub mem: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// More sbatch options, one argument each (never through a shell).
    pub extra_args: Vec<String>,
    /// Resubmissions of a failed shard before the run fails.
    pub max_retries: usize,
    /// Seconds between state polls.
    pub poll_interval: f64,
    /// Work directory on a file system the compute nodes share (default: beside the
    /// output directory).
    pub work_dir: Option<PathBuf>,
}

impl Default for SlurmOptions {
    fn default() -> Self {
        Self {
            partition: None,
            time_limit: None,
            cpus_per_task: 1,
            mem: None,
            account: None,
            extra_args: Vec::new(),
            max_retries: 2,
            poll_interval: 2.0,
            work_dir: None,
        }
    }
}

/// sbatch options the backend sets itself.
const RESERVED: [&str; 6] = [
    "--array",
    "--wrap",
    "--parsable",
    "--output",
    "--error",
    "--chdir",
];

/// A single-line value.
fn text(n: &Node<'_>) -> Result<String, ConfigError> {
    let s = n.str()?.trim().to_string();
    if s.is_empty() || s.contains(['\n', '\r', '\0']) {
        return Err(n.error("expected a non-empty single-line string"));
    }
    Ok(s)
}

impl SlurmOptions {
    /// Reads the `slurm` mapping.
    pub fn read(node: &Node<'_>) -> Result<Self, ConfigError> {
        let mut o = Self::default();
        if node.is_null() {
            return Ok(o);
        }
        for (key, child) in node.children()? {
            match key {
                "partition" => o.partition = Some(text(&child)?),
                "time_limit" | "time" => o.time_limit = Some(text(&child)?),
                "mem" => o.mem = Some(text(&child)?),
                "account" => o.account = Some(text(&child)?),
                "cpus_per_task" => {
                    o.cpus_per_task = child.usize()?;
                    if o.cpus_per_task == 0 {
                        return Err(child.error("must be ≥ 1"));
                    }
                }
                "max_retries" => o.max_retries = child.usize()?,
                "poll_interval" => {
                    let v = child.f64()?;
                    if !(v > 0.0 && v <= 3600.0) {
                        return Err(child.error(format!("expected seconds in (0, 3600], found {v}")));
                    }
                    o.poll_interval = v;
                }
                "work_dir" => o.work_dir = Some(PathBuf::from(text(&child)?)),
                "extra_args" => {
                    let items = match child.value {
                        serde_json::Value::Array(items) => items,
                        _ => return Err(child.error("expected a list of sbatch arguments")),
                    };
                    for (i, item) in items.iter().enumerate() {
                        let n = Node {
                            path: child.path,
                            key: format!("{}[{i}]", child.key),
                            value: item,
                        };
                        let arg = text(&n)?;
                        if RESERVED
                            .iter()
                            .any(|r| arg == *r || arg.starts_with(&format!("{r}=")))
                        {
                            return Err(n.error(format!(
                                "{arg:?} is set by the backend itself ({})",
                                RESERVED.join(", ")
                            )));
                        }
                        o.extra_args.push(arg);
                    }
                }
                _ => return Err(child.error("unknown slurm key (partition, time_limit, cpus_per_task, mem, account, extra_args, max_retries, poll_interval, work_dir)")),
            }
        }
        Ok(o)
    }
}

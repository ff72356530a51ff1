//! The Slurm backend: the shards of a CMC run as one `sbatch --array` whose tasks run
//! `heterodyne cmc-shard`, followed by polling `scontrol` (no accounting daemon needed),
//! failed tasks resubmitted up to `max_retries`, and `scancel` when the run is stopped.
//! Every argument reaches sbatch as its own argv entry; nothing the user configures
//! passes through a shell.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use heterodyne_core::exec::{Event, Flow, Observer};
use heterodyne_core::mcmc::cmc::ShardExecutor;
use heterodyne_core::mcmc::nuts::ChainDraws;

use super::shard_task::{read_draws, shard_dir};
use crate::config::SlurmOptions;

/// Why Slurm cannot be used here.
pub fn preflight() -> anyhow::Result<()> {
    for tool in ["sbatch", "scontrol", "scancel"] {
        if find_on_path(tool).is_none() {
            anyhow::bail!(
                "optimization.cmc.backend: slurm: {tool} not found on PATH (install Slurm's client commands, or use backend: sequential or parallel)"
            );
        }
    }
    Ok(())
}

fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Single-quotes `s` for /bin/sh (our own paths only ever go into the script).
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs shards through Slurm from a prepared work directory.
#[derive(Debug)]
pub struct SlurmExecutor {
    /// Settings.
    pub options: SlurmOptions,
    /// The work directory (see `shard_task`).
    pub work: PathBuf,
    /// The `heterodyne` binary the tasks run.
    pub exe: PathBuf,
}

/// A task's final state as Slurm reports it.
#[derive(Debug, Clone, PartialEq)]
struct TaskEnd {
    state: String,
    reason: String,
    exit_code: String,
}

/// Slurm states after which a task will not run again on its own.
fn is_final(state: &str) -> bool {
    matches!(
        state,
        "COMPLETED"
            | "FAILED"
            | "CANCELLED"
            | "TIMEOUT"
            | "NODE_FAIL"
            | "OUT_OF_MEMORY"
            | "PREEMPTED"
            | "BOOT_FAIL"
            | "DEADLINE"
    )
}

/// `KEY=VALUE` fields of one `scontrol -o` line.
fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|f| f.split_once('='))
        .collect()
}

/// Per-task states of array job `id` from `scontrol -o show job`: task index → (state,
/// reason, exit code). Pending tasks that Slurm still holds as one record (`1-3`) are
/// listed under each index.
fn poll(id: &str) -> anyhow::Result<BTreeMap<usize, TaskEnd>> {
    let out = Command::new("scontrol")
        .args(["-o", "show", "job", id])
        .output()
        .map_err(|e| anyhow::anyhow!("scontrol: {e}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "scontrol show job {id}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut tasks = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f = fields(line);
        let (Some(state), Some(ids)) = (f.get("JobState"), f.get("ArrayTaskId")) else {
            continue;
        };
        let end = TaskEnd {
            state: state.to_string(),
            reason: f.get("Reason").unwrap_or(&"None").to_string(),
            exit_code: f.get("ExitCode").unwrap_or(&"?").to_string(),
        };
        // `0`, `1-3`, `1,3`, `0-7%2`.
        let ids = ids.split('%').next().unwrap_or("");
        for part in ids.split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                for i in a..=b.min(a + 100_000) {
                    tasks.insert(i, end.clone());
                }
            }
        }
    }
    Ok(tasks)
}

impl SlurmExecutor {
    /// Writes the batch script; it contains no user input.
    fn script(&self) -> anyhow::Result<PathBuf> {
        let path = self.work.join("shard.sh");
        let text = format!(
            "#!/bin/sh\n# Written by heterodyne: one CMC shard per array task.\nexec {} cmc-shard --input {}/shard_\"$SLURM_ARRAY_TASK_ID\"\n",
            sh_quote(&self.exe.display().to_string()),
            sh_quote(&self.work.display().to_string()),
        );
        std::fs::write(&path, text)
            .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
        Ok(path)
    }

    /// `sbatch` for the shards in `indices`; returns the array job id.
    fn submit(&self, script: &Path, indices: &[usize]) -> anyhow::Result<String> {
        let o = &self.options;
        let list: Vec<String> = indices.iter().map(|i| i.to_string()).collect();
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable")
            .arg(format!("--array={}", list.join(",")))
            .arg("--job-name=heterodyne-cmc")
            .arg(format!("--chdir={}", self.work.display()))
            .arg(format!(
                "--output={}/shard_%a/slurm-%A_%a.out",
                self.work.display()
            ))
            // We resubmit failed shards ourselves; Slurm's requeue holds them ~2 minutes.
            .arg("--no-requeue")
            .arg(format!("--cpus-per-task={}", o.cpus_per_task));
        if let Some(p) = &o.partition {
            cmd.arg(format!("--partition={p}"));
        }
        if let Some(t) = &o.time_limit {
            cmd.arg(format!("--time={t}"));
        }
        if let Some(m) = &o.mem {
            cmd.arg(format!("--mem={m}"));
        }
        if let Some(a) = &o.account {
            cmd.arg(format!("--account={a}"));
        }
        cmd.args(&o.extra_args).arg(script);
        let out = cmd.output().map_err(|e| anyhow::anyhow!("sbatch: {e}"))?;
        if !out.status.success() {
            anyhow::bail!(
                "sbatch refused the job array: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        // `--parsable`: `JOBID` or `JOBID;CLUSTER`.
        let text = String::from_utf8_lossy(&out.stdout);
        let id = text.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            anyhow::bail!("sbatch answered {text:?}, expected a job id");
        }
        Ok(id)
    }

    fn cancel(id: &str) {
        let _ = Command::new("scancel").arg(id).output();
    }

    fn run_all(
        &self,
        k: usize,
        observer: &dyn Observer,
    ) -> anyhow::Result<Vec<heterodyne_core::Result<Vec<ChainDraws>>>> {
        let script = self.script()?;
        let mut attempts = vec![0usize; k];
        let mut draws: Vec<Option<Vec<ChainDraws>>> = (0..k).map(|_| None).collect();
        let mut todo: Vec<usize> = (0..k).collect();
        let interval = Duration::from_secs_f64(self.options.poll_interval);
        let mut shown: Vec<String> = vec![String::new(); k];
        while !todo.is_empty() {
            for &i in &todo {
                attempts[i] += 1;
                let _ =
                    std::fs::remove_file(super::shard_task::draws_path(&shard_dir(&self.work, i)));
            }
            let id = self.submit(&script, &todo)?;
            observer.on(&Event::Note(format!(
                "slurm: job array {id} for shard(s) {todo:?}"
            )));
            let ends = loop {
                if observer.on(&Event::Waiting) == Flow::Stop {
                    Self::cancel(&id);
                    return Err(heterodyne_core::Error::Cancelled.into());
                }
                let tasks = match poll(&id) {
                    Ok(t) => t,
                    Err(e) => {
                        // A busy controller answers later; an unknown job does not.
                        observer.on(&Event::Note(format!("slurm: {e}")));
                        std::thread::sleep(interval);
                        match poll(&id) {
                            Ok(t) => t,
                            Err(e) => {
                                Self::cancel(&id);
                                return Err(e);
                            }
                        }
                    }
                };
                for &i in &todo {
                    if let Some(t) = tasks.get(&i)
                        && t.state != shown[i]
                    {
                        shown[i] = t.state.clone();
                        observer.on(&Event::Shard {
                            shard: i,
                            state: t.state.clone(),
                        });
                    }
                }
                if todo
                    .iter()
                    .all(|i| tasks.get(i).is_some_and(|t| is_final(&t.state)))
                {
                    break tasks;
                }
                std::thread::sleep(interval);
            };
            let mut again = Vec::new();
            for &i in &todo {
                let end = &ends[&i];
                let dir = shard_dir(&self.work, i);
                let failure = if end.state == "COMPLETED" {
                    match read_draws(&dir) {
                        Ok(d) => {
                            draws[i] = Some(d);
                            None
                        }
                        Err(e) => Some(format!("COMPLETED without draws ({e:#})")),
                    }
                } else {
                    Some(format!(
                        "{} (reason {}, exit code {})",
                        end.state, end.reason, end.exit_code
                    ))
                };
                let Some(why) = failure else { continue };
                let log = dir.join(format!("slurm-{id}_{i}.out"));
                if attempts[i] > self.options.max_retries {
                    anyhow::bail!(
                        "slurm: shard {i} failed after {} attempt(s): {why}; its log: {}",
                        attempts[i],
                        log.display()
                    );
                }
                observer.on(&Event::Shard {
                    shard: i,
                    state: format!("retry {}", attempts[i]),
                });
                observer.on(&Event::Note(format!(
                    "slurm: shard {i} failed: {why}; resubmitting (attempt {} of {})",
                    attempts[i] + 1,
                    self.options.max_retries + 1
                )));
                again.push(i);
            }
            todo = again;
        }
        Ok(draws
            .into_iter()
            .map(|d| Ok(d.unwrap_or_default()))
            .collect())
    }
}

impl ShardExecutor for SlurmExecutor {
    fn run(
        &self,
        k: usize,
        observer: &dyn Observer,
    ) -> heterodyne_core::Result<Vec<heterodyne_core::Result<Vec<ChainDraws>>>> {
        self.run_all(k, observer)
            .map_err(|e| match e.downcast::<heterodyne_core::Error>() {
                Ok(core) => core,
                Err(e) => heterodyne_core::Error::Executor(format!("{e:#}")),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scontrol_lines_give_every_task_its_state() {
        let _ = fields("");
        let line = "JobId=12 ArrayJobId=11 ArrayTaskId=1-3%2 JobState=PENDING Reason=Resources ExitCode=0:0";
        let f = fields(line);
        assert_eq!(f["ArrayTaskId"], "1-3%2");
        assert_eq!(f["JobState"], "PENDING");
        assert!(is_final("NODE_FAIL") && !is_final("RUNNING"));
        assert_eq!(sh_quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}

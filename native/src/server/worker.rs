//! Job slots: plain threads (the fits are CPU-bound; they stay off the async runtime),
//! each taking the oldest queued job, running it through the same job runner as the CLI
//! on its own share of the cores, and recording the outcome.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use heterodyne_core::exec::{Event, Flow, Observer};

use super::state::{AppState, Inner};
use super::store::{JobRecord, JobState};
use crate::config::Config;
use crate::hw::pool::{Placement, Share};
use crate::job::{self, JobSink, JobSpec, Method, Stage};

/// Starts `slots` worker threads.
pub fn start(state: &AppState, slots: usize) -> std::io::Result<()> {
    for slot in 0..slots {
        let state = state.clone();
        std::thread::Builder::new()
            .name(format!("job-slot-{slot}"))
            .spawn(move || {
                loop {
                    match state.store.claim_next() {
                        Ok(Some(job)) => execute(&state, slot, slots, job),
                        Ok(None) => state.wake.wait(Duration::from_millis(500)),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot claim a job");
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                }
            })?;
    }
    Ok(())
}

/// Where a running job's progress goes: the live map (read by the routes and the event
/// stream) and, at phase changes, the store.
struct NodeSink<'a> {
    state: &'a Inner,
    id: &'a str,
    cancel: Arc<AtomicBool>,
    /// Share of the progress bar before CMC: NLSQ ends here.
    nlsq_end: f64,
    draws_done: AtomicU64,
    draws_total: AtomicU64,
}

impl NodeSink<'_> {
    fn set(&self, progress: f64, phase: Option<&str>) {
        self.state.set_live(self.id, |l| {
            l.progress = l.progress.max(progress.clamp(0.0, 1.0));
            if let Some(p) = phase {
                l.phase = Some(p.to_string());
            }
        });
        if let Some(p) = phase
            && let Err(e) = self.state.store.set_progress(self.id, progress, p)
        {
            tracing::warn!(job = self.id, error = %e, "cannot record progress");
        }
    }
}

impl Observer for NodeSink<'_> {
    fn on(&self, event: &Event) -> Flow {
        match event {
            Event::Iteration { iteration, cost } => {
                // The iteration count is open-ended: approach the end of the NLSQ share.
                let x = *iteration as f64;
                let p = 0.05 + (self.nlsq_end - 0.05) * x / (x + 10.0);
                self.state.set_live(self.id, |l| {
                    l.iteration = Some((*iteration, *cost));
                    l.progress = l.progress.max(p);
                });
            }
            Event::Shard { shard, state } => {
                let (shard, state) = (*shard, state.clone());
                self.state.set_live(self.id, |l| {
                    if l.shards.len() <= shard {
                        l.shards.resize(shard + 1, "PENDING".to_string());
                    }
                    l.shards[shard] = state;
                    let done = l.shards.iter().filter(|s| *s == "COMPLETED").count();
                    let p = self.nlsq_end
                        + (0.95 - self.nlsq_end) * done as f64 / l.shards.len() as f64;
                    l.progress = l.progress.max(p);
                });
            }
            Event::Note(text) if !text.is_empty() => tracing::info!(job = self.id, "{text}"),
            Event::Draw { .. } => {
                let done = self.draws_done.fetch_add(1, Ordering::Relaxed) + 1;
                let total = self.draws_total.load(Ordering::Relaxed).max(1);
                let p = self.nlsq_end + (0.95 - self.nlsq_end) * done as f64 / total as f64;
                self.state.set_live(self.id, |l| {
                    l.draws = Some((done, total));
                    l.progress = l.progress.max(p);
                });
            }
            _ => {}
        }
        if self.cancel.load(Ordering::Relaxed) {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

impl JobSink for NodeSink<'_> {
    fn stage(&self, stage: Stage) {
        let at = match stage {
            Stage::Load => 0.0,
            Stage::Nlsq => 0.05,
            Stage::Cmc { total_draws } => {
                self.draws_total.store(total_draws, Ordering::Relaxed);
                self.nlsq_end
            }
            Stage::Write => 0.95,
        };
        self.set(at, Some(stage.name()));
    }

    fn remark(&self, text: &str) {
        tracing::info!(job = self.id, "{text}");
    }
}

/// Removes `path` if it exists (a directory tree or a file).
fn remove(path: &Path) {
    let outcome = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    if let Err(e) = outcome
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove");
    }
}

/// Runs one claimed job to its end state.
fn execute(state: &AppState, slot: usize, slots: usize, job: JobRecord) {
    let span = tracing::info_span!("job", id = %job.id, attempt = job.attempts);
    let _enter = span.enter();
    tracing::info!(method = %job.method, data = %job.data_path, "started");
    let cancel = Arc::new(AtomicBool::new(false));
    state
        .cancel
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(job.id.clone(), cancel.clone());
    // A crash between writing the results and recording "done" leaves a result without
    // a record; it is replaced.
    let result_dir = state.result_dir(&job.id);
    remove(&result_dir);
    // The store holds only methods checked at submission.
    let method = Method::parse(&job.method).unwrap_or(Method::Nlsq);
    let sink = NodeSink {
        state,
        id: &job.id,
        cancel: cancel.clone(),
        nlsq_end: if method == Method::Nlsq { 0.9 } else { 0.25 },
        draws_done: AtomicU64::new(0),
        draws_total: AtomicU64::new(0),
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let config = Config::parse(&state.job_dir(&job.id).join("config.yaml"), &job.config)?;
        let spec = JobSpec {
            data_path: PathBuf::from(&job.data_path),
            output_dir: result_dir.clone(),
            phi: None,
            strategy: None,
            multistart: None,
            weights: None,
            plots: true,
            method,
            cmc: config.cmc.clone(),
            placement: Placement {
                threads: state.options.threads_per_job,
                pin: state.options.pin,
                share: Share {
                    index: slot,
                    of: slots,
                },
            },
            config,
        };
        job::run(&spec, &sink)
    }))
    .unwrap_or_else(|_| Err(anyhow::anyhow!("internal error: the job panicked")));
    let (end, error) = match &outcome {
        Ok(o) => {
            tracing::info!(
                wall_seconds = o.wall_seconds,
                converged = o.converged,
                "done"
            );
            (JobState::Done, None)
        }
        Err(_) if cancel.load(Ordering::Relaxed) => {
            tracing::info!("cancelled");
            remove(&result_dir);
            (JobState::Cancelled, None)
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "failed");
            remove(&result_dir);
            (JobState::Failed, Some(format!("{e:#}")))
        }
    };
    if let Err(e) = state.store.finish(&job.id, end, error.as_deref()) {
        tracing::error!(error = %e, "cannot record the end of the job");
    }
    state
        .cancel
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&job.id);
    state
        .live
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&job.id);
}

/// After a restart: re-queue or fail jobs that were running, then remove what no job
/// owns — uploads that never became a job, job folders without a record, staging
/// folders of interrupted writes — so no partial file stays visible.
pub fn recover(state: &Inner) -> anyhow::Result<()> {
    for id in state.store.recover()? {
        tracing::warn!(job = %id, "the node stopped while this job ran; queued again or failed");
    }
    remove(&state.tmp_dir());
    std::fs::create_dir_all(state.tmp_dir())?;
    let jobs_dir = state.options.state_dir.join("jobs");
    std::fs::create_dir_all(&jobs_dir)?;
    let known: std::collections::HashSet<String> = state.store.ids()?.into_iter().collect();
    for entry in std::fs::read_dir(&jobs_dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !known.contains(&name) {
            tracing::info!(dir = %entry.path().display(), "removing a folder no job owns");
            remove(&entry.path());
            continue;
        }
        for inner in std::fs::read_dir(entry.path())?.flatten() {
            if inner.file_name().to_string_lossy().starts_with('.') {
                remove(&inner.path());
            }
        }
    }
    Ok(())
}

//! What the API shows of a job: the stored record, the live status of a running job, and
//! the files of a finished one.

use std::path::Path;

use serde::Serialize;
use utoipa::ToSchema;

use super::state::Inner;
use super::store::{JobRecord, JobState};

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct JobView {
    /// 128-bit random id, hex.
    pub id: String,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    #[schema(value_type = String)]
    pub state: JobState,
    /// `nlsq`, `cmc` or `both`.
    pub method: String,
    /// 0..1.
    pub progress: f64,
    /// `load`, `nlsq`, `cmc` or `write` while running.
    pub phase: Option<String>,
    /// Why the job failed.
    pub error: Option<String>,
    /// Times a worker has started the job (a job running when the node died is retried once).
    pub attempts: u32,
    /// The data file's name.
    pub data: String,
    /// Last NLSQ iteration while running.
    pub iteration: Option<usize>,
    /// χ² at that iteration.
    pub chi2: Option<f64>,
    /// CMC draws done (warm-up included) while running.
    pub draws_done: Option<u64>,
    /// CMC draws in all.
    pub draws_total: Option<u64>,
    /// States of shards on a cluster scheduler (`PENDING`, `RUNNING`, `COMPLETED`,
    /// `retry 1` …), by shard, while running.
    pub shard_states: Vec<String>,
    /// Submission time, ms since the Unix epoch.
    pub created_ms: i64,
    /// Start of the last attempt, ms since the Unix epoch.
    pub started_ms: Option<i64>,
    /// End, ms since the Unix epoch.
    pub finished_ms: Option<i64>,
    /// Seconds queued and running.
    pub timings: Timings,
    /// Result files of a finished job (`result.json`, `fit.npz`, plots …).
    pub files: Vec<String>,
}

/// Where a job's time went, seconds.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Timings {
    /// Submission to the start of the last attempt.
    pub queued_seconds: Option<f64>,
    /// Start to end (or to now, while running).
    pub run_seconds: Option<f64>,
}

/// The file name of a path.
pub fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().to_string())
}

/// The view of `job`.
pub fn view(state: &Inner, job: &JobRecord) -> JobView {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let live = (job.state == JobState::Running)
        .then(|| state.live_of(&job.id))
        .flatten();
    let files = if job.state == JobState::Done {
        let mut names: Vec<String> = std::fs::read_dir(state.result_dir(&job.id))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    } else {
        Vec::new()
    };
    let secs = |a: i64, b: i64| (b - a) as f64 / 1000.0;
    JobView {
        id: job.id.clone(),
        state: job.state,
        method: job.method.clone(),
        progress: live.as_ref().map_or(job.progress, |l| l.progress),
        phase: live
            .as_ref()
            .and_then(|l| l.phase.clone())
            .or_else(|| job.phase.clone()),
        error: job.error.clone(),
        attempts: job.attempts,
        data: file_name(&job.data_path),
        iteration: live.as_ref().and_then(|l| l.iteration.map(|i| i.0)),
        chi2: live.as_ref().and_then(|l| l.iteration.map(|i| i.1)),
        draws_done: live.as_ref().and_then(|l| l.draws.map(|d| d.0)),
        draws_total: live.as_ref().and_then(|l| l.draws.map(|d| d.1)),
        shard_states: live.as_ref().map(|l| l.shards.clone()).unwrap_or_default(),
        created_ms: job.created_ms,
        started_ms: job.started_ms,
        finished_ms: job.finished_ms,
        timings: Timings {
            queued_seconds: job.started_ms.map(|s| secs(job.created_ms, s)),
            run_seconds: job
                .started_ms
                .map(|s| secs(s, job.finished_ms.unwrap_or(now))),
        },
        files,
    }
}

/// Whether the state is final.
pub fn is_final(state: JobState) -> bool {
    matches!(
        state,
        JobState::Done | JobState::Failed | JobState::Cancelled
    )
}

//! The node's one shared state: the store, the directories, the limits, and what the
//! workers report live.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;

use super::store::Store;
use crate::hw::pool::Pin;

/// How the node was started.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub addr: String,
    /// Jobs, shares and results live here.
    pub state_dir: PathBuf,
    /// Where `data_path` submissions may read (none: uploads only).
    pub data_root: Option<PathBuf>,
    /// Jobs run at once (each on its own share of the cores).
    pub concurrency: usize,
    /// Threads per job (0: the cores of its share).
    pub threads_per_job: usize,
    /// Thread pinning of job pools.
    pub pin: Option<Pin>,
    /// Jobs that may wait in the queue; more are answered 429.
    pub max_queued: usize,
    /// Largest upload, bytes.
    pub upload_limit: u64,
    /// Submissions being received or validated at once; more are answered 429.
    pub max_inflight_submissions: usize,
    /// Limit for ordinary requests (not uploads, not event streams).
    pub request_timeout: Duration,
    /// Limit for an upload.
    pub upload_timeout: Duration,
    /// Origins allowed by CORS (empty: CORS off).
    pub cors_origins: Vec<String>,
    /// Bearer token required by the job routes (share links never need it).
    pub auth_token: Option<String>,
    /// A directory to serve the browser app from instead of the embedded one (for
    /// developing the page; `heterodyne export-app` writes one).
    pub web_dir: Option<PathBuf>,
    /// Open the page in a browser once listening.
    pub open: bool,
}

/// Live status of a running job (the store holds the durable part).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Live {
    /// 0..1.
    pub progress: f64,
    /// Current phase.
    pub phase: Option<String>,
    /// Last NLSQ iteration and χ².
    pub iteration: Option<(usize, f64)>,
    /// Draws done and to do, CMC.
    pub draws: Option<(u64, u64)>,
    /// States of shards run by a cluster scheduler, by shard.
    pub shards: Vec<String>,
}

/// Wakes idle workers when a job is queued.
#[derive(Debug, Default)]
pub struct Wake {
    generation: Mutex<u64>,
    cond: Condvar,
}

impl Wake {
    /// Signals every waiting worker.
    pub fn notify(&self) {
        let mut g = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        *g += 1;
        self.cond.notify_all();
    }

    /// Waits for a signal or `timeout`.
    pub fn wait(&self, timeout: Duration) {
        let g = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        let seen = *g;
        let _ = self
            .cond
            .wait_timeout_while(g, timeout, |g| *g == seen)
            .map_err(|p| p.into_inner());
    }
}

/// Shared by every route and worker.
#[derive(Debug, Clone)]
pub struct AppState(pub Arc<Inner>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// Options.
    pub options: NodeOptions,
    /// Canonical data root.
    pub data_root: Option<PathBuf>,
    /// Durable state.
    pub store: Store,
    /// Live status of running jobs by id.
    pub live: Mutex<HashMap<String, Live>>,
    /// Cancellation flags of running jobs by id.
    pub cancel: Mutex<HashMap<String, Arc<AtomicBool>>>,
    /// Submission slots.
    pub submissions: Arc<Semaphore>,
    /// Worker wake-up.
    pub wake: Wake,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Inner {
    /// The directory of job `id`.
    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.options.state_dir.join("jobs").join(id)
    }

    /// Scratch space for uploads in flight (swept at start).
    pub fn tmp_dir(&self) -> PathBuf {
        self.options.state_dir.join("tmp")
    }

    /// The result directory of job `id`.
    pub fn result_dir(&self, id: &str) -> PathBuf {
        self.job_dir(id).join("result")
    }

    /// Live status of `id`, if running.
    pub fn live_of(&self, id: &str) -> Option<Live> {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Updates the live status of `id`.
    pub fn set_live(&self, id: &str, f: impl FnOnce(&mut Live)) {
        let mut map = self.live.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry(id.to_string()).or_default());
    }
}

//! The node's durable state: jobs and share links in one SQLite file under the state
//! directory (WAL journal, so a `kill -9` loses at most the statement in flight). A job
//! that was running when the node died is queued again once, then failed with the reason;
//! share tokens are stored as SHA-256 digests, so a lookup never compares secrets byte by
//! byte and the database alone reveals no token.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// A state-store failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database file cannot be opened or used.
    #[error("{path}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The state directory cannot be created.
    #[error("{path}: cannot create the state directory: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// No job with this id.
    #[error("no job {0}")]
    NoJob(String),
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker has it.
    Running,
    /// Finished with results.
    Done,
    /// Finished without results; `error` says why.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl JobState {
    /// The name the API and the database use.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "cancelled" => JobState::Cancelled,
            _ => JobState::Failed,
        }
    }
}

/// One job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    /// 128-bit random id, hex.
    pub id: String,
    /// State.
    pub state: JobState,
    /// `nlsq`, `cmc` or `both`.
    pub method: String,
    /// The YAML config text as submitted.
    #[serde(skip)]
    pub config: String,
    /// The data file (inside the state directory or the data root).
    pub data_path: String,
    /// 0..1.
    pub progress: f64,
    /// Current phase, if running.
    pub phase: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Times a worker has started it.
    pub attempts: u32,
    /// Submission time, ms since the Unix epoch.
    pub created_ms: i64,
    /// Start of the last attempt.
    pub started_ms: Option<i64>,
    /// End.
    pub finished_ms: Option<i64>,
}

/// The store.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `n` random bytes from the operating system's generator, as lowercase hex.
fn random_hex(n: usize) -> String {
    use rand::TryRngCore;
    let mut bytes = vec![0u8; n];
    // The OS generator failing is not something to recover from: no token without it.
    rand::rngs::OsRng.unwrap_err().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    method TEXT NOT NULL,
    config TEXT NOT NULL,
    data_path TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    phase TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    started_ms INTEGER,
    finished_ms INTEGER,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS shares (
    digest TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    created_ms INTEGER NOT NULL
);
";

const COLUMNS: &str = "id, state, method, config, data_path, progress, phase, error, attempts, created_ms, started_ms, finished_ms";

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        id: row.get(0)?,
        state: JobState::parse(&row.get::<_, String>(1)?),
        method: row.get(2)?,
        config: row.get(3)?,
        data_path: row.get(4)?,
        progress: row.get(5)?,
        phase: row.get(6)?,
        error: row.get(7)?,
        attempts: row.get(8)?,
        created_ms: row.get(9)?,
        started_ms: row.get(10)?,
        finished_ms: row.get(11)?,
    })
}

/// A job that died with the node this many times is failed, not queued again.
const MAX_ATTEMPTS: u32 = 2;

impl Store {
    /// Opens (creating if needed) `state_dir/state.sqlite3`.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StoreError::Directory {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join("state.sqlite3");
        let db = |source| StoreError::Database {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path,
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        // A panic while holding the lock leaves SQLite consistent (every change is one
        // transaction), so a poisoned lock is still usable.
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|source| StoreError::Database {
            path: self.path.clone(),
            source,
        })
    }

    /// After a restart: jobs left running are queued again, or failed after
    /// two starts. Returns the ids touched.
    pub fn recover(&self) -> Result<Vec<String>, StoreError> {
        let now = now_ms();
        self.with(|c| {
            let tx = c.transaction()?;
            let ids: Vec<(String, u32)> = {
                let mut st = tx.prepare("SELECT id, attempts FROM jobs WHERE state = 'running'")?;
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            for (id, attempts) in &ids {
                if *attempts >= MAX_ATTEMPTS {
                    tx.execute(
                        "UPDATE jobs SET state = 'failed', finished_ms = ?2, error = ?3 WHERE id = ?1",
                        params![
                            id,
                            now,
                            format!("the node stopped while this job ran ({attempts} attempts)")
                        ],
                    )?;
                } else {
                    tx.execute(
                        "UPDATE jobs SET state = 'queued', progress = 0, phase = NULL WHERE id = ?1",
                        params![id],
                    )?;
                }
            }
            tx.commit()?;
            Ok(ids.into_iter().map(|(id, _)| id).collect())
        })
    }

    /// A fresh job id: 128 random bits, hex.
    pub fn new_id() -> String {
        random_hex(16)
    }

    /// Queues job `id` (from [`Store::new_id`]) unless `max_queued` jobs already wait;
    /// `Ok(false)` when the queue is full. The count and the insert are one transaction, so
    /// concurrent submissions never overfill the queue.
    pub fn submit(
        &self,
        id: &str,
        config: &str,
        data_path: &str,
        method: &str,
        max_queued: usize,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let queued: i64 =
                tx.query_row("SELECT COUNT(*) FROM jobs WHERE state = 'queued'", [], |r| {
                    r.get(0)
                })?;
            if queued as usize >= max_queued {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO jobs (id, state, method, config, data_path, created_ms, seq)
                 VALUES (?1, 'queued', ?2, ?3, ?4, ?5, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs))",
                params![id, method, config, data_path, now],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> Result<usize, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM jobs WHERE state = 'queued'",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|n| n as usize)
    }

    /// Ids of every job, for sweeping files that belong to none.
    pub fn ids(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT id FROM jobs")?;
            st.query_map([], |r| r.get(0))?.collect()
        })
    }

    /// Takes the oldest queued job and marks it running (one transaction).
    pub fn claim_next(&self) -> Result<Option<JobRecord>, StoreError> {
        let now = now_ms();
        self.with(|c| {
            let tx = c.transaction()?;
            let id: Option<String> = tx
                .query_row(
                    "SELECT id FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = id else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_ms = ?2,
                 progress = 0, phase = NULL WHERE id = ?1",
                params![id, now],
            )?;
            let rec = tx.query_row(
                &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
                params![id],
                record,
            )?;
            tx.commit()?;
            Ok(Some(rec))
        })
    }

    /// Records progress of a running job.
    pub fn set_progress(&self, id: &str, progress: f64, phase: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE jobs SET progress = ?2, phase = ?3 WHERE id = ?1 AND state = 'running'",
                params![id, progress.clamp(0.0, 1.0), phase],
            )
        })?;
        Ok(())
    }

    /// Ends a job in `state` (done, failed or cancelled) with an optional error.
    pub fn finish(&self, id: &str, state: JobState, error: Option<&str>) -> Result<(), StoreError> {
        let now = now_ms();
        let progress = if state == JobState::Done { 1.0 } else { 0.0 };
        let n = self.with(|c| {
            c.execute(
                "UPDATE jobs SET state = ?2, error = ?3, finished_ms = ?4,
                 progress = MAX(progress, ?5), phase = NULL WHERE id = ?1",
                params![id, state.as_str(), error, now, progress],
            )
        })?;
        if n == 0 {
            return Err(StoreError::NoJob(id.to_string()));
        }
        Ok(())
    }

    /// Cancels a queued job at once; a running one is marked by the worker when it stops.
    /// Returns the state after the request.
    pub fn cancel_queued(&self, id: &str) -> Result<JobState, StoreError> {
        let now = now_ms();
        self.with(|c| {
            c.execute(
                "UPDATE jobs SET state = 'cancelled', finished_ms = ?2 WHERE id = ?1 AND state = 'queued'",
                params![id, now],
            )
        })?;
        self.get(id)?
            .map(|j| j.state)
            .ok_or_else(|| StoreError::NoJob(id.to_string()))
    }

    /// One job.
    pub fn get(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
                params![id],
                record,
            )
            .optional()
        })
    }

    /// Every job, oldest first.
    pub fn list(&self) -> Result<Vec<JobRecord>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM jobs ORDER BY seq"))?;
            st.query_map([], record)?.collect()
        })
    }

    /// A new share token (256 random bits, hex) for a finished job.
    pub fn share(&self, job_id: &str) -> Result<String, StoreError> {
        if self.get(job_id)?.is_none() {
            return Err(StoreError::NoJob(job_id.to_string()));
        }
        let token = random_hex(32);
        let now = now_ms();
        self.with(|c| {
            c.execute(
                "INSERT INTO shares (digest, job_id, created_ms) VALUES (?1, ?2, ?3)",
                params![digest(&token), job_id, now],
            )
        })?;
        Ok(token)
    }

    /// The job a token shares, if the token exists (looked up by digest).
    pub fn shared_job(&self, token: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT job_id FROM shares WHERE digest = ?1",
                params![digest(token)],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Revokes a token; `false` when it did not exist.
    pub fn revoke(&self, token: &str) -> Result<bool, StoreError> {
        let n = self.with(|c| {
            c.execute(
                "DELETE FROM shares WHERE digest = ?1",
                params![digest(token)],
            )
        })?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_survive_a_reopen_and_running_ones_are_retried_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let ids: Vec<String> = {
            let s = Store::open(dir.path()).expect("open");
            let ids: Vec<String> = (0..5)
                .map(|k| {
                    let id = Store::new_id();
                    assert!(
                        s.submit(&id, &format!("config {k}"), "data.npz", "nlsq", 5)
                            .expect("submit")
                    );
                    id
                })
                .collect();
            // The queue holds five: a sixth is refused.
            assert!(
                !s.submit(&Store::new_id(), "c", "d", "nlsq", 5)
                    .expect("submit")
            );
            assert_eq!(
                ids.iter().collect::<std::collections::HashSet<_>>().len(),
                5
            );
            assert!(ids.iter().all(|i| i.len() == 32));
            let first = s.claim_next().expect("claim").expect("a job");
            assert_eq!(first.id, ids[0], "oldest first");
            s.set_progress(&first.id, 0.4, "nlsq").expect("progress");
            s.finish(&first.id, JobState::Done, None).expect("finish");
            let second = s.claim_next().expect("claim").expect("a job");
            assert_eq!(second.id, ids[1]);
            ids
            // The store is dropped with job 1 running: the node "dies".
        };
        let s = Store::open(dir.path()).expect("reopen");
        assert_eq!(s.recover().expect("recover"), vec![ids[1].clone()]);
        let jobs = s.list().expect("list");
        assert_eq!(jobs.len(), 5);
        assert_eq!(jobs[0].state, JobState::Done);
        assert_eq!(jobs[0].progress, 1.0);
        assert_eq!(jobs[1].state, JobState::Queued);
        assert_eq!(jobs[2].config, "config 2");
        // Job 1 runs again and dies again: failed with the reason.
        let again = s.claim_next().expect("claim").expect("job");
        assert_eq!((again.id.as_str(), again.attempts), (ids[1].as_str(), 2));
        drop(s);
        let s = Store::open(dir.path()).expect("reopen");
        s.recover().expect("recover");
        let j = s.get(&ids[1]).expect("get").expect("job");
        assert_eq!(j.state, JobState::Failed);
        assert!(
            j.error.as_deref().unwrap_or("").contains("node stopped"),
            "{j:?}"
        );
        assert_eq!(
            s.cancel_queued(&ids[4]).expect("cancel"),
            JobState::Cancelled
        );
        assert!(matches!(
            s.finish("nope", JobState::Done, None),
            Err(StoreError::NoJob(_))
        ));
    }

    #[test]
    fn share_tokens_resolve_until_revoked_and_are_not_stored() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Store::open(dir.path()).expect("open");
        let id = Store::new_id();
        assert!(s.submit(&id, "c", "d", "nlsq", 10).expect("submit"));
        let token = s.share(&id).expect("share");
        assert_eq!(token.len(), 64, "256 bits in hex");
        assert_eq!(s.shared_job(&token).expect("lookup"), Some(id.clone()));
        assert_eq!(s.shared_job(&"0".repeat(64)).expect("lookup"), None);
        for file in ["state.sqlite3", "state.sqlite3-wal"] {
            let raw = std::fs::read(dir.path().join(file)).unwrap_or_default();
            let text = String::from_utf8_lossy(&raw);
            assert!(
                !text.contains(&token),
                "{file}: the token itself is never stored"
            );
        }
        assert!(s.revoke(&token).expect("revoke"));
        assert_eq!(s.shared_job(&token).expect("lookup"), None);
        assert!(!s.revoke(&token).expect("revoke twice"));
        assert!(matches!(s.share("missing"), Err(StoreError::NoJob(_))));
    }
}

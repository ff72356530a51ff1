//! Fault injection under load: `kill -9` with a full queue, and a disk that fills while
//! results are written.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Node, fixture, small_truth, walk};
use crate::fit::config;

/// A config whose jobs last long enough to be caught running (multistart).
fn slow_yaml() -> String {
    let truth = small_truth();
    config(
        std::path::Path::new("/nowhere/ignored.npz"),
        &truth,
        &truth["suggested_start"],
        "    multistart: true\n    multistart_n: 6\n",
    )
}

fn states(node: &Node) -> HashMap<String, String> {
    let jobs: Value = node.get("/api/jobs").json().expect("list");
    jobs.as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            (
                j["id"].as_str().unwrap_or("").to_string(),
                j["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The bytes of every file of a finished job's result.
fn result_files(state: &std::path::Path, id: &str) -> Vec<(String, Vec<u8>)> {
    let dir = state.join("jobs").join(id).join("result");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("result dir")
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn kill_9_with_20_queued_and_2_running_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("state");
    let args = ["--jobs", "2", "--max-queued", "40"];
    let node = Node::start(&state, &args);
    let yaml = slow_yaml();
    let data = std::fs::read(fixture("small.npz")).expect("fixture");
    // Two jobs finish first: their results must come through the crash untouched.
    let first: Vec<String> = (0..2)
        .map(|_| Node::accepted(node.upload(&yaml, "small.npz", data.clone())))
        .collect();
    for id in &first {
        assert_eq!(node.wait(id, Duration::from_secs(120))["state"], "done");
    }
    let before: Vec<_> = first.iter().map(|id| result_files(&state, id)).collect();
    let more: Vec<String> = (0..22)
        .map(|_| Node::accepted(node.upload(&yaml, "small.npz", data.clone())))
        .collect();
    let start = Instant::now();
    let (running, queued) = loop {
        let s = states(&node);
        let count = |want: &str| more.iter().filter(|id| s[*id] == want).count();
        if count("running") == 2 && count("queued") == 20 {
            break (
                more.iter()
                    .filter(|id| s[*id] == "running")
                    .cloned()
                    .collect::<Vec<_>>(),
                20,
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never saw 2 running and 20 queued: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    node.kill();

    let node = Node::start(&state, &args);
    for id in first.iter().chain(&more) {
        let job = node.wait(id, Duration::from_secs(600));
        assert_eq!(job["state"], "done", "{job}");
        let want = if running.contains(id) { 2 } else { 1 };
        assert_eq!(job["attempts"], want, "{id}: {job}");
    }
    let after: Vec<_> = first.iter().map(|id| result_files(&state, id)).collect();
    assert_eq!(before, after, "a result finished before the kill changed");
    // Every rerun gives the same numbers as the jobs that never stopped.
    let reference: Value = node
        .get(&format!("/api/jobs/{}/result", first[0]))
        .json()
        .expect("result");
    for id in &more {
        let r: Value = node
            .get(&format!("/api/jobs/{id}/result"))
            .json()
            .expect("result");
        assert_eq!(r["parameters"], reference["parameters"], "{id}");
    }
    println!(
        "kill -9 with {queued} queued and {} running: all {} jobs done after the restart, {} re-run",
        running.len(),
        first.len() + more.len(),
        running.len()
    );
}

#[test]
fn a_full_disk_fails_the_job_clearly_and_the_node_keeps_serving() {
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("state");
    // No file of the node may grow past 400 KB (RLIMIT_FSIZE, as a full disk answers
    // EFBIG/ENOSPC): the upload (168 KB), the database and the plots fit; the job's
    // fit.npz (720 KB) does not.
    let node = Node::start_with(&state, &["--jobs", "1"], |command| {
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec only async-signal-safe calls (setrlimit, signal).
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 400 << 10,
                    rlim_max: 400 << 10,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // A write past the limit then fails with EFBIG instead of killing.
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
    });
    let truth = small_truth();
    let yaml = config(
        std::path::Path::new("/nowhere/ignored.npz"),
        &truth,
        &truth["suggested_start"],
        "",
    );
    let data = std::fs::read(fixture("small.npz")).expect("fixture");
    let id = Node::accepted(node.upload(&yaml, "small.npz", data.clone()));
    let job = node.wait(&id, Duration::from_secs(120));
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("fit.npz") && error.to_lowercase().contains("too large"),
        "unclear error: {job}"
    );
    // Nothing half-written is visible: no result folder, no staging or hidden files.
    assert!(!state.join("jobs").join(&id).join("result").exists());
    for path in walk(&state) {
        let hidden = path
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
        assert!(!hidden, "partial file left visible: {}", path.display());
    }
    // The node keeps serving: health, the job list, and a new submission accepted.
    let health: Value = node.get("/api/health").json().expect("still up");
    assert_eq!(health["status"], "ok");
    let jobs: Value = node.get("/api/jobs").json().expect("list");
    assert_eq!(jobs.as_array().expect("jobs").len(), 1);
    let next = Node::accepted(node.upload(&yaml, "small.npz", data));
    assert_eq!(
        node.wait(&next, Duration::from_secs(120))["state"],
        "failed"
    );
    println!("disk full while writing results: job failed with \"{error}\"; node still serving");
}

//! Jobs and results survive `kill -9`.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Node, fixture, small_truth, walk};
use crate::fit::config;

#[test]
fn accepted_jobs_survive_kill_9_and_no_partial_file_shows() {
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("state");
    let node = Node::start(&state, &["--jobs", "1"]);
    // Multistart makes each job long enough to be caught mid-run.
    let truth = small_truth();
    let yaml = config(
        std::path::Path::new("/nowhere/ignored.npz"),
        &truth,
        &truth["suggested_start"],
        "    multistart: true\n    multistart_n: 6\n",
    );
    let data = std::fs::read(fixture("small.npz")).expect("fixture");
    let ids: Vec<String> = (0..5)
        .map(|_| Node::accepted(node.upload(&yaml, "small.npz", data.clone())))
        .collect();
    // Kill the node while a later job runs, so one result is finished before.
    let start = Instant::now();
    let interrupted = loop {
        let jobs: Value = node.get("/api/jobs").json().expect("list");
        let state_of = |k: usize| jobs[k]["state"].as_str().unwrap_or("").to_string();
        if state_of(0) == "done"
            && let Some(k) = (1..5).find(|&k| state_of(k) == "running")
        {
            break k;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "never saw a second job running: {jobs}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let first_result = std::fs::read(state.join("jobs").join(&ids[0]).join("result/result.json"))
        .expect("the finished result");
    node.kill();

    let node = Node::start(&state, &["--jobs", "1"]);
    let mut views = Vec::new();
    for id in &ids {
        let job = node.wait(id, Duration::from_secs(180));
        assert_eq!(job["state"], "done", "{job}");
        views.push(job);
    }
    // The interrupted job ran twice; the others once.
    for (k, view) in views.iter().enumerate() {
        let want = if k == interrupted { 2 } else { 1 };
        assert_eq!(view["attempts"], want, "job {k}: {view}");
    }
    // The result finished before the kill is untouched, and every job's numbers agree.
    let again = std::fs::read(state.join("jobs").join(&ids[0]).join("result/result.json"))
        .expect("result after restart");
    assert_eq!(again, first_result);
    let parameters: Vec<Value> = ids
        .iter()
        .map(|id| {
            let r: Value = node
                .get(&format!("/api/jobs/{id}/result"))
                .json()
                .expect("result");
            r["parameters"].clone()
        })
        .collect();
    assert!(parameters.windows(2).all(|w| w[0] == w[1]));
    // No partial files: no staging folders, no scratch uploads, nothing outside the jobs.
    for path in walk(&state) {
        let text = path.to_string_lossy();
        let hidden = path
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
        assert!(!hidden, "partial file left visible: {text}");
        let top = path
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().to_string());
        match top.as_deref() {
            Some("jobs") => {}
            Some("tmp") => assert_eq!(text, "tmp", "scratch left: {text}"),
            _ => assert!(text.starts_with("state.sqlite3"), "unexpected {text}"),
        }
    }
    for id in &ids {
        let files: Vec<String> = std::fs::read_dir(state.join("jobs").join(id).join("result"))
            .expect("result dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        assert!(
            files.contains(&"result.json".to_string()),
            "{id}: {files:?}"
        );
        assert!(files.contains(&"fit.npz".to_string()), "{id}: {files:?}");
    }
}

//! A node job on the Slurm backend: per-shard states in the job's progress, and a
//! cancelled job cancels its array.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Node, fixture};
use crate::cmc::small_free_config;
use crate::slurm::{slurm_up, wait_until_cancelled};

#[test]
fn slurm_jobs_show_shard_states_and_cancel_their_array() {
    if !slurm_up() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    // Long chains: the job must still run when it is cancelled.
    let yaml = small_free_config(
        "    backend: slurm\n    per_shard_mcmc: {num_warmup: 500, num_samples: 50000, num_chains: 2, seed: 1}\n    sharding: {num_shards: 2}\n    slurm: {poll_interval: 0.2, max_retries: 0, extra_args: [--job-name=node-cancel-test]}\n",
    );
    let node = Node::start(&tmp.path().join("state"), &["--jobs", "1"]);
    let data = std::fs::read(fixture("small.npz")).expect("fixture");
    let response = {
        let form = reqwest::blocking::multipart::Form::new()
            .text("config", yaml)
            .text("method", "cmc")
            .part(
                "data",
                reqwest::blocking::multipart::Part::bytes(data).file_name("small.npz"),
            );
        node.request(reqwest::Method::POST, "/api/jobs")
            .multipart(form)
            .send()
            .expect("submit")
    };
    let id = Node::accepted(response);
    let start = Instant::now();
    let states = loop {
        let job: Value = node.get(&format!("/api/jobs/{id}")).json().expect("job");
        let states: Vec<String> = job["shard_states"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if states.len() == 2 && states.iter().any(|s| s == "RUNNING") {
            assert_eq!(job["phase"], "cmc", "{job}");
            break states;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{job}");
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("shard states while running: {states:?}");
    let after: Value = node
        .post(&format!("/api/jobs/{id}/cancel"))
        .json()
        .expect("cancel");
    assert!(["running", "cancelled"].contains(&after["state"].as_str().unwrap_or("")));
    let end = node.wait(&id, Duration::from_secs(60));
    assert_eq!(end["state"], "cancelled", "{end}");
    // Slurm agrees: no task of the array is left pending or running.
    wait_until_cancelled("node-cancel-test");
    // No work directory is left for a cancelled job.
    let job_dir = tmp.path().join("state/jobs").join(&id);
    let hidden: Vec<String> = std::fs::read_dir(&job_dir)
        .expect("job dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

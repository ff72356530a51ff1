//! Hostile and broken input: clear 4xx answers, the node stays up, memory stays bounded.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::{Node, fixture, peak_rss_kib, small_yaml};

fn error_of(response: reqwest::blocking::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().expect("error body is JSON");
    (status, body["error"].as_str().unwrap_or("").to_string())
}

fn assert_error(response: reqwest::blocking::Response, status: u16, needles: &[&str]) {
    let (got, msg) = error_of(response);
    assert_eq!(got, status, "{msg}");
    for n in needles {
        assert!(msg.contains(n), "{n:?} not in {msg:?}");
    }
}

/// Resident memory high-water mark of a process, KiB.
#[test]
fn broken_and_hostile_submissions_get_clear_4xx_answers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).expect("root");
    std::fs::copy(fixture("small.npz"), root.join("small.npz")).expect("copy");
    std::fs::write(tmp.path().join("secret.h5"), b"outside").expect("secret");
    std::os::unix::fs::symlink(tmp.path().join("secret.h5"), root.join("escape.h5"))
        .expect("symlink");
    let node = Node::start(
        &tmp.path().join("state"),
        &[
            "--data-root",
            root.to_str().expect("utf8"),
            "--upload-limit",
            "120K",
            "--max-queued",
            "3",
            "--max-inflight",
            "2",
            "--jobs",
            "1",
        ],
    );
    let yaml = small_yaml();

    // A truncated HDF5 file: named in the answer, by the uploader's name.
    let h5 = std::fs::read(fixture("small_flat.h5")).expect("h5");
    let truncated = h5[..h5.len() / 2].to_vec();
    assert_error(
        node.upload(&yaml, "run42.h5", truncated),
        422,
        &["run42.h5"],
    );
    // Not a data file at all.
    assert_error(
        node.upload(&yaml, "notes.h5", b"just some text\n".to_vec()),
        415,
        &["notes.h5", "not an HDF5, NPZ or NPY file"],
    );
    // Over the upload limit (the small fixture is 168 KiB).
    let npz = std::fs::read(fixture("small.npz")).expect("npz");
    assert_error(node.upload(&yaml, "small.npz", npz), 413, &["limit"]);
    // Paths outside the data root.
    assert_error(node.submit_path(&yaml, "../secret.h5"), 400, &[".."]);
    assert_error(
        node.submit_path(&yaml, tmp.path().join("secret.h5").to_str().expect("utf8")),
        403,
        &["outside"],
    );
    assert_error(node.submit_path(&yaml, "/etc/passwd"), 403, &["outside"]);
    assert_error(node.submit_path(&yaml, "escape.h5"), 403, &["outside"]);
    assert_error(node.submit_path(&yaml, "missing.h5"), 404, &["missing.h5"]);
    // Malformed YAML, and a config with NaN bounds: the key named.
    assert_error(
        node.submit_path("parameters: [unclosed\n  - {", "small.npz"),
        422,
        &["not valid YAML"],
    );
    let nan = yaml.replacen("min: 100", "min: .nan", 1);
    assert_ne!(nan, yaml);
    assert_error(node.submit_path(&nan, "small.npz"), 422, &["D0_ref"]);
    // Neither multipart nor JSON; multipart without the data.
    let plain = node
        .request(Method::POST, "/api/jobs")
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .expect("post");
    assert_error(plain, 415, &["multipart/form-data"]);
    let form = reqwest::blocking::multipart::Form::new().text("config", yaml.clone());
    let no_data = node
        .request(Method::POST, "/api/jobs")
        .multipart(form)
        .send()
        .expect("post");
    assert_error(no_data, 400, &["data"]);
    assert_error(node.get_open("/api/jobs/0123"), 404, &["no job"]);

    // 100 submissions at once: accepted up to the queue's bound, the rest told to retry.
    let barrier = std::sync::Barrier::new(100);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let r = node.submit_path(&yaml, "small.npz");
                    let status = r.status().as_u16();
                    if status == 429 {
                        assert!(r.headers().contains_key("retry-after"));
                    }
                    status
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(accepted + refused, 100, "{statuses:?}");
    assert!(accepted >= 1 && refused >= 1, "{statuses:?}");
    // The queue holds 3, one more may already run.
    assert!(accepted <= 4 + 1, "{accepted} accepted: {statuses:?}");
    println!("100 submissions at once: {accepted} accepted, {refused} refused with 429");
    let health: Value = node.get("/api/health").json().expect("still up");
    assert_eq!(health["status"], "ok");
    let peak = peak_rss_kib(node.pid());
    println!("node peak RSS after the burst: {} MiB", peak / 1024);
    assert!(peak < 512 * 1024, "peak RSS {peak} KiB");
    // Queued jobs can be cancelled; every job ends.
    let jobs: Value = node.get("/api/jobs").json().expect("list");
    for job in jobs.as_array().expect("jobs") {
        let id = job["id"].as_str().expect("id");
        let after: Value = node
            .post(&format!("/api/jobs/{id}/cancel"))
            .json()
            .expect("cancel");
        assert!(
            ["cancelled", "running", "done"].contains(&after["state"].as_str().unwrap_or("")),
            "{after}"
        );
    }
    for job in jobs.as_array().expect("jobs") {
        let end = node.wait(job["id"].as_str().expect("id"), Duration::from_secs(120));
        assert!(
            ["cancelled", "done"].contains(&end["state"].as_str().unwrap_or("")),
            "{end}"
        );
    }
}

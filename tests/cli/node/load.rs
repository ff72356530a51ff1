//! Load: 100 concurrent submissions (uploads and data-root paths) against one node, and
//! 100 watchers of their event streams.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Node, fixture, follow, peak_rss_kib, small_yaml};

#[test]
fn a_hundred_concurrent_submissions_finish_or_are_told_to_retry() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).expect("root");
    std::fs::copy(fixture("small.npz"), root.join("small.npz")).expect("copy");
    let node = Node::start(
        &tmp.path().join("state"),
        &[
            "--data-root",
            root.to_str().expect("utf8"),
            "--max-queued",
            "60",
            "--max-inflight",
            "12",
            "--jobs",
            "2",
        ],
    );
    let yaml = small_yaml();
    let data = std::fs::read(fixture("small.npz")).expect("fixture");
    let barrier = std::sync::Barrier::new(100);
    // (status, Retry-After present, id when accepted)
    let answers: Vec<(u16, bool, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100)
            .map(|k| {
                let (node, yaml, data, barrier) = (&node, &yaml, &data, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let r = if k % 2 == 0 {
                        node.upload(yaml, "small.npz", data.clone())
                    } else {
                        node.submit_path(yaml, "small.npz")
                    };
                    let status = r.status().as_u16();
                    let retry = r.headers().contains_key("retry-after");
                    let body: Value = r.json().unwrap_or(Value::Null);
                    (status, retry, body["id"].as_str().map(str::to_string))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let accepted: Vec<String> = answers.iter().filter_map(|a| a.2.clone()).collect();
    let refused = answers.iter().filter(|a| a.0 == 429 || a.0 == 503).count();
    for a in &answers {
        match a.0 {
            202 => assert!(a.2.is_some(), "{a:?}"),
            429 | 503 => assert!(a.1, "refused without Retry-After: {a:?}"),
            other => panic!("unexpected answer {other}: {a:?}"),
        }
    }
    assert_eq!(accepted.len() + refused, 100);
    assert!(!accepted.is_empty());

    // 100 watchers over the accepted jobs: every stream ends with the job's final view.
    let start = Instant::now();
    let ends: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100)
            .map(|k| {
                let (node, id) = (&node, &accepted[k % accepted.len()]);
                s.spawn(move || follow(node, id).1)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("watcher"))
            .collect()
    });
    let watched = ends.len();
    assert_eq!(watched, 100);
    // Every accepted job finished, none lost: each is listed and done.
    let mut finished = 0;
    for id in &accepted {
        let job = node.wait(id, Duration::from_secs(300));
        assert_eq!(job["state"], "done", "{job}");
        finished += 1;
    }
    let listed: Value = node.get("/api/jobs").json().expect("list");
    let listed = listed.as_array().expect("jobs").len();
    assert_eq!(listed, accepted.len(), "jobs listed vs accepted");
    let lost = accepted.len() - finished;
    let peak = peak_rss_kib(node.pid());
    println!(
        "load: submitted 100, accepted {}, finished {finished}, refused {refused} (429/503 with Retry-After), lost {lost}, event streams ended {watched}/100 in {:.1} s, node peak RSS {} MiB",
        accepted.len(),
        start.elapsed().as_secs_f64(),
        peak / 1024
    );
    assert_eq!(lost, 0);
    assert!(peak < 1024 * 1024, "node peak RSS {peak} KiB");
    let health: Value = node.get("/api/health").json().expect("still up");
    assert_eq!(health["status"], "ok");
}

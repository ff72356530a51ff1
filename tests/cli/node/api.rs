//! Submitting, following and fetching jobs; share links.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::{Node, fixture, follow, small_truth, small_yaml};
use crate::fit::{config, run_fit};

/// The first PNG among a job view's result files.
fn first_plot(view: &Value) -> String {
    view["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(".png"))
        .expect("a plot")
        .to_string()
}

#[test]
fn uploads_and_data_root_paths_fit_like_the_cli() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("beamtime")).expect("root");
    std::fs::copy(fixture("small.npz"), root.join("beamtime/small.npz")).expect("copy");
    let node = Node::start(
        &tmp.path().join("state"),
        &["--data-root", root.to_str().expect("utf8"), "--jobs", "1"],
    );
    let health: Value = node.get("/api/health").json().expect("health");
    assert_eq!(health["status"], "ok");

    let yaml = small_yaml();
    let data = std::fs::read(fixture("small.npz")).expect("fixture");
    let uploaded = Node::accepted(node.upload(&yaml, "small.npz", data));
    let by_path = Node::accepted(node.submit_path(&yaml, "beamtime/small.npz"));

    // The second job waits for the first: its event stream shows it queued, then running,
    // then its end.
    let (progress, end) = follow(&node, &by_path);
    assert_eq!(end["state"], "done", "{end}");
    assert!(!progress.is_empty());
    let states: Vec<&str> = progress
        .iter()
        .filter_map(|v| v["state"].as_str())
        .collect();
    assert!(
        states.iter().all(|s| ["queued", "running"].contains(s)),
        "{states:?}"
    );
    let fractions: Vec<f64> = progress
        .iter()
        .filter_map(|v| v["progress"].as_f64())
        .collect();
    assert!(fractions.windows(2).all(|w| w[1] >= w[0]), "{fractions:?}");
    let first = node.wait(&uploaded, Duration::from_secs(120));
    assert_eq!(first["state"], "done", "{first}");
    assert_eq!(first["data"], "small.npz");
    assert!(first["timings"]["run_seconds"].as_f64().expect("run") > 0.0);

    // The CLI on the same input.
    let cli_dir = tmp.path().join("cli");
    std::fs::create_dir_all(&cli_dir).expect("cli dir");
    let truth = small_truth();
    let cli = run_fit(
        &cli_dir,
        &config(&fixture("small.npz"), &truth, &truth["suggested_start"], ""),
        &[],
    );
    for id in [&uploaded, &by_path] {
        let result: Value = node
            .get(&format!("/api/jobs/{id}/result"))
            .json()
            .expect("result");
        // Same numbers, to the last bit.
        for key in ["parameters", "scaling", "chi2", "iterations", "covariance"] {
            assert_eq!(
                result[key], cli[key],
                "job {id}: {key} differs from the CLI"
            );
        }
        let npz = node.get(&format!("/api/jobs/{id}/fit.npz"));
        assert_eq!(npz.status().as_u16(), 200);
        assert!(npz.bytes().expect("npz").starts_with(b"PK"));
        let view: Value = node.get(&format!("/api/jobs/{id}")).json().expect("view");
        let plot = first_plot(&view);
        let png = node.get(&format!("/api/jobs/{id}/plots/{plot}"));
        assert_eq!(png.status().as_u16(), 200);
        assert!(png.bytes().expect("png").starts_with(b"\x89PNG"));
        // An NLSQ job has no posterior, and says so.
        let missing = node.get(&format!("/api/jobs/{id}/posterior.npz"));
        assert_eq!(missing.status().as_u16(), 404);
        let msg: Value = missing.json().expect("error");
        assert!(
            msg["error"].as_str().unwrap_or("").contains("no posterior"),
            "{msg}"
        );
    }
    let list: Value = node.get("/api/jobs").json().expect("list");
    assert_eq!(list.as_array().map(Vec::len), Some(2));

    // The API description covers every route the node serves.
    let doc: Value = node.get("/api/openapi.json").json().expect("openapi");
    for path in [
        "/api/jobs",
        "/api/jobs/{id}",
        "/api/jobs/{id}/cancel",
        "/api/jobs/{id}/events",
        "/api/jobs/{id}/result",
        "/api/jobs/{id}/fit.npz",
        "/api/jobs/{id}/posterior.npz",
        "/api/jobs/{id}/plots/{name}",
        "/api/jobs/{id}/share",
        "/api/shares/{token}",
        "/api/shared/{token}",
        "/api/shared/{token}/plots/{name}",
        "/api/shared/{token}/fit.npz",
        "/api/shared/{token}/posterior.npz",
        "/s/{token}",
        "/",
        "/app/{path}",
        "/api/health",
        "/api/hw",
        "/api/openapi.json",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from openapi.json"
        );
    }
    let hw: Value = node.get("/api/hw").json().expect("hw");
    assert!(hw["cores"].as_u64().expect("cores") >= 1);
}

#[test]
fn share_links_are_open_read_only_and_revocable() {
    let tmp = tempfile::tempdir().expect("tmp");
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, "node-secret-0123456789abcdef\n").expect("token");
    let node = Node::start(
        &tmp.path().join("state"),
        &["--auth-token-file", token_file.to_str().expect("utf8")],
    );
    // The job routes need the node's token.
    assert_eq!(node.get_open("/api/jobs").status().as_u16(), 401);
    let anonymous = node
        .request(Method::POST, "/api/jobs")
        .json(&serde_json::json!({"config": "x", "data_path": "y"}))
        .send()
        .expect("post");
    assert_eq!(anonymous.status().as_u16(), 401);

    let data = std::fs::read(fixture("small.npz")).expect("fixture");
    let id = Node::accepted(node.upload(&small_yaml(), "small.npz", data));
    // Only a finished result can be shared.
    let early = node
        .post(&format!("/api/jobs/{id}/share"))
        .status()
        .as_u16();
    let job = node.wait(&id, Duration::from_secs(120));
    assert_eq!(job["state"], "done", "{job}");
    assert!(early == 409 || early == 201, "{early}");
    let share: Value = node
        .post(&format!("/api/jobs/{id}/share"))
        .json()
        .expect("share");
    let token = share["token"].as_str().expect("token").to_string();
    assert_eq!(token.len(), 64, "256 bits in hex");
    assert_eq!(share["url"], format!("/s/{token}"));
    let result: Value = node
        .get(&format!("/api/jobs/{id}/result"))
        .json()
        .expect("result");

    // Open without any token.
    let page = node.get_open(&format!("/s/{token}"));
    assert_eq!(page.status().as_u16(), 200);
    let cache = page.headers().get("cache-control").cloned();
    let html = page.text().expect("html");
    // The browser app, which reads the result from /api/shared (the e2e test drives it);
    // a build without the app serves the plain page.
    if html.contains("heterodyneAssets") {
        assert!(
            html.contains("<base href=\"/\">"),
            "assets resolve under /s/"
        );
        assert_eq!(cache.as_ref().map(|v| v.as_bytes()), Some(&b"no-cache"[..]));
    } else {
        assert!(html.contains("Read-only shared view"));
        assert!(html.contains("D0_sample") && html.contains("alpha_ref"));
        assert!(!html.contains("<form") && !html.contains("<script"));
    }
    let shared: Value = node
        .get_open(&format!("/api/shared/{token}"))
        .json()
        .expect("shared");
    assert_eq!(shared["result"]["parameters"], result["parameters"]);
    assert_eq!(shared["result"]["data_file"], "small.npz", "no node paths");
    let plot = first_plot(&shared["job"]);
    if !html.contains("heterodyneAssets") {
        assert!(html.contains(&format!("/api/shared/{token}/plots/{plot}")));
    }
    let png = node.get_open(&format!("/api/shared/{token}/plots/{plot}"));
    assert_eq!(png.status().as_u16(), 200);
    assert_eq!(
        node.get_open(&format!("/api/shared/{token}/fit.npz"))
            .status()
            .as_u16(),
        200
    );

    // Read-only: nothing but GET on a share, and the share token opens nothing else.
    for (method, path) in [
        (Method::POST, format!("/s/{token}")),
        (Method::DELETE, format!("/s/{token}")),
        (Method::POST, format!("/api/shared/{token}")),
        (Method::PUT, format!("/api/shared/{token}")),
        (Method::DELETE, format!("/api/shared/{token}")),
    ] {
        let s = node.request(method.clone(), &path).send().expect("req");
        assert_eq!(s.status().as_u16(), 405, "{method} {path}");
    }
    for (method, path) in [
        (Method::GET, format!("/api/jobs/{id}")),
        (Method::POST, format!("/api/jobs/{id}/cancel")),
        (Method::DELETE, format!("/api/shares/{token}")),
    ] {
        let s = node
            .request(method.clone(), &path)
            .bearer_auth(&token)
            .send()
            .expect("req");
        assert_eq!(
            s.status().as_u16(),
            401,
            "{method} {path} with the share token"
        );
    }

    // Revoked: gone, with the same answer as a token that never existed.
    let revoke = node
        .request(Method::DELETE, &format!("/api/shares/{token}"))
        .bearer_auth(node.token.as_deref().expect("token"))
        .send()
        .expect("delete");
    assert_eq!(revoke.status().as_u16(), 204);
    let gone = node.get_open(&format!("/s/{token}"));
    assert_eq!(gone.status().as_u16(), 404);
    let gone_body = gone.text().expect("body");
    assert_eq!(
        node.get_open(&format!("/api/shared/{token}"))
            .status()
            .as_u16(),
        404
    );
    let unknown = "0".repeat(64);
    for bad in [unknown.as_str(), "abc", &token[..63]] {
        let r = node.get_open(&format!("/s/{bad}"));
        assert_eq!(r.status().as_u16(), 404, "{bad}");
        assert_eq!(r.text().expect("body"), gone_body, "{bad}");
    }
    let again = node
        .request(Method::DELETE, &format!("/api/shares/{token}"))
        .bearer_auth(node.token.as_deref().expect("token"))
        .send()
        .expect("delete");
    assert_eq!(again.status().as_u16(), 404);
}

#[test]
fn cors_is_off_unless_an_origin_is_allowed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let closed = Node::start(&tmp.path().join("a"), &[]);
    let open = Node::start(
        &tmp.path().join("b"),
        &["--cors-origin", "http://viewer.example"],
    );
    for (node, allowed) in [(&closed, false), (&open, true)] {
        let r = node
            .request(Method::GET, "/api/health")
            .header("origin", "http://viewer.example")
            .send()
            .expect("get");
        assert_eq!(
            r.headers().get("access-control-allow-origin").is_some(),
            allowed
        );
        let other = node
            .request(Method::GET, "/api/health")
            .header("origin", "http://elsewhere.example")
            .send()
            .expect("get");
        assert!(other.headers().get("access-control-allow-origin").is_none());
    }
}

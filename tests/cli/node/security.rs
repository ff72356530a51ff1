//! Security properties as tests: share tokens, the bearer token, paths that try to leave
//! their directory through any route (`..`, absolute, URL-encoded, symlinked), and the
//! size limits on bodies and headers.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::{Node, fixture, small_yaml};

#[test]
fn tokens_paths_and_limits_hold_through_every_route() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("sub")).expect("root");
    std::fs::copy(fixture("small.npz"), root.join("small.npz")).expect("copy");
    std::fs::write(tmp.path().join("secret.h5"), b"outside the root").expect("secret");
    std::os::unix::fs::symlink(tmp.path(), root.join("sub/up")).expect("symlink");
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, "correct-horse-battery-staple-0123456789\n").expect("token");
    let state = tmp.path().join("state");
    let node = Node::start(
        &state,
        &[
            "--data-root",
            root.to_str().expect("utf8"),
            "--auth-token-file",
            token_file.to_str().expect("utf8"),
            "--upload-limit",
            "1M",
        ],
    );
    let yaml = small_yaml();
    let id = Node::accepted(node.submit_path(&yaml, "small.npz"));
    assert_eq!(node.wait(&id, Duration::from_secs(120))["state"], "done");

    // The bearer token: missing, wrong (same length and not), right.
    let status = |r: reqwest::blocking::Response| r.status().as_u16();
    assert_eq!(status(node.get_open("/api/jobs")), 401);
    for wrong in [
        "correct-horse-battery-staple-0123456788",
        "x",
        "correct-horse-battery-staple-0123456789-and-more",
    ] {
        let r = node
            .request(Method::GET, "/api/jobs")
            .bearer_auth(wrong)
            .send()
            .expect("get");
        assert_eq!(status(r), 401, "{wrong}");
    }
    assert_eq!(status(node.get("/api/jobs")), 200);

    // Share tokens: ≥ 128 bits, stored only as a digest.
    let share: Value = node
        .post(&format!("/api/jobs/{id}/share"))
        .json()
        .expect("share");
    let token = share["token"].as_str().expect("token").to_string();
    assert!(
        token.len() >= 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}: fewer than 128 bits of hex"
    );
    for entry in std::fs::read_dir(&state).expect("state").flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("state.sqlite3")
        {
            let bytes = std::fs::read(entry.path()).expect("db");
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "the raw share token is in {}",
                entry.path().display()
            );
        }
    }
    // A forged token of the right shape: 404 like any unknown one.
    let forged = "0".repeat(token.len());
    assert_eq!(status(node.get_open(&format!("/api/shared/{forged}"))), 404);
    assert_eq!(status(node.get_open(&format!("/api/shared/{token}"))), 200);

    // No route reads outside its directory, however the path is spelled.
    let secret = std::fs::read(tmp.path().join("secret.h5")).expect("secret");
    for path in [
        format!("/api/jobs/{id}/plots/..%2Fresult.json"),
        format!("/api/jobs/{id}/plots/..%2F..%2F..%2Fsecret.h5"),
        format!("/api/jobs/{id}/plots/%2e%2e%2f%2e%2e%2fstate.sqlite3"),
        format!("/api/jobs/{id}/plots/%2Fetc%2Fpasswd"),
        format!("/api/shared/{token}/plots/..%2F..%2Fstate.sqlite3"),
        format!("/api/shared/{token}/plots/%2e%2e%5c%2e%2e%5csecret.h5"),
        "/app/..%2F..%2F..%2F..%2Fetc%2Fpasswd".to_string(),
        "/app/%2e%2e/%2e%2e/%2e%2e/etc/passwd".to_string(),
        "/api/jobs/..%2F..%2Fsecret.h5".to_string(),
        "/s/..%2F..%2Fsecret.h5".to_string(),
    ] {
        let r = node.get(&path);
        let code = r.status().as_u16();
        let body = r.bytes().expect("body");
        assert!((400..500).contains(&code), "{path}: {code}");
        assert!(
            !body.windows(secret.len()).any(|w| w == secret.as_slice())
                && !body.windows(5).any(|w| w == b"root:")
                && !body.starts_with(b"SQLite format"),
            "{path} leaked a file"
        );
    }
    for (data_path, want) in [
        ("../secret.h5", 400),
        ("sub/../../secret.h5", 400),
        ("./../secret.h5", 400),
        ("sub/up/secret.h5", 403),
        ("//etc/passwd", 403),
        ("..%2Fsecret.h5", 404),
        ("%2e%2e/secret.h5", 404),
    ] {
        let r = node.submit_path(&yaml, data_path);
        assert_eq!(status(r), want, "data_path {data_path}");
    }

    // Limits: an upload over --upload-limit, a JSON body of 8 MB, a 256 KB header.
    let big = vec![0u8; 2 << 20];
    let r = node.upload(&yaml, "big.npz", big);
    assert_eq!(status(r), 413);
    let huge_config = format!("# {}\n{yaml}", "x".repeat(8 << 20));
    let r = node
        .request(Method::POST, "/api/jobs")
        .bearer_auth("correct-horse-battery-staple-0123456789")
        .json(&serde_json::json!({"config": huge_config, "data_path": "small.npz"}))
        .send()
        .expect("post");
    assert!(
        [400, 413].contains(&status(r)),
        "an 8 MB JSON body was not refused"
    );
    let r = node
        .request(Method::GET, "/api/health")
        .header("x-filler", "y".repeat(256 << 10))
        .send();
    if let Ok(r) = r {
        assert_eq!(status(r), 431, "a 256 KB header was accepted");
    }
    // …and the node still answers.
    let health: Value = node.get("/api/health").json().expect("health");
    assert_eq!(health["status"], "ok");
}

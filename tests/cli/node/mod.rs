//! End-to-end tests of `heterodyne serve`: the real binary listening on 127.0.0.1 (a
//! random port), a real SQLite state directory, real uploads over HTTP.

mod api;
mod durability;
mod faults;
mod hostile;
mod load;
mod security;
mod slurm;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response, multipart};
use serde_json::Value;

use crate::common::data_dir;
use crate::fit::{config, truth_json};

/// A running node; killed when dropped.
pub struct Node {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Bearer token, if the node requires one.
    pub token: Option<String>,
    client: Client,
}

impl Node {
    /// Starts `heterodyne serve --addr 127.0.0.1:0 --state-dir STATE` with `extra` flags
    /// and waits for its "listening on" line.
    pub fn start(state_dir: &Path, extra: &[&str]) -> Node {
        Self::start_with(state_dir, extra, |_| {})
    }

    /// As [`Node::start`], with `configure` applied to the command first (limits, …).
    pub fn start_with(
        state_dir: &Path,
        extra: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> Node {
        let mut command = Command::new(env!("CARGO_BIN_EXE_heterodyne"));
        command
            .args(["serve", "--addr", "127.0.0.1:0", "--state-dir"])
            .arg(state_dir)
            .args(extra)
            .env("RUST_LOG", "warn")
            .env("HETERODYNE_THREADS", "2")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        configure(&mut command);
        let mut child = command.spawn().expect("start the node");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).expect("read the address");
        // Keep reading what the node prints after it (as a terminal would).
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let token = extra
            .iter()
            .position(|a| *a == "--auth-token-file")
            .map(|i| {
                std::fs::read_to_string(extra[i + 1])
                    .expect("token file")
                    .trim()
                    .to_string()
            });
        Node {
            child,
            url,
            token,
            client: Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("client"),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn auth(&self, r: RequestBuilder) -> RequestBuilder {
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// GET with the node's token.
    pub fn get(&self, path: &str) -> Response {
        self.auth(self.client.get(format!("{}{path}", self.url)))
            .send()
            .expect("GET")
    }

    /// GET without any token.
    pub fn get_open(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .expect("GET")
    }

    /// POST with the node's token and no body.
    pub fn post(&self, path: &str) -> Response {
        self.auth(self.client.post(format!("{}{path}", self.url)))
            .send()
            .expect("POST")
    }

    /// Any request builder for `path`, without a token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    /// Uploads `data` (bytes named `name`) with `config`.
    pub fn upload(&self, config: &str, name: &str, data: Vec<u8>) -> Response {
        let form = multipart::Form::new()
            .text("config", config.to_string())
            .part(
                "data",
                multipart::Part::bytes(data).file_name(name.to_string()),
            );
        self.auth(self.client.post(format!("{}/api/jobs", self.url)))
            .multipart(form)
            .send()
            .expect("upload")
    }

    /// Submits a file under the data root.
    pub fn submit_path(&self, config: &str, data_path: &str) -> Response {
        self.auth(self.client.post(format!("{}/api/jobs", self.url)))
            .json(&serde_json::json!({"config": config, "data_path": data_path}))
            .send()
            .expect("submit")
    }

    /// The id of an accepted submission.
    pub fn accepted(response: Response) -> String {
        let status = response.status().as_u16();
        let body: Value = response.json().expect("json");
        assert_eq!(status, 202, "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// Polls job `id` until it is done, failed or cancelled (at most `limit`).
    pub fn wait(&self, id: &str, limit: Duration) -> Value {
        let start = Instant::now();
        loop {
            let job: Value = self.get(&format!("/api/jobs/{id}")).json().expect("job");
            if ["done", "failed", "cancelled"].contains(&job["state"].as_str().unwrap_or("")) {
                return job;
            }
            assert!(start.elapsed() < limit, "job {id} still {job}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The small fixture's truth record.
pub fn small_truth() -> Value {
    truth_json(&data_dir().join("datasets"), "small")
}

/// An NLSQ config for the small fixture (its own `file_path` points nowhere: the node
/// ignores it).
pub fn small_yaml() -> String {
    let truth = small_truth();
    config(
        Path::new("/nowhere/ignored.npz"),
        &truth,
        &truth["suggested_start"],
        "",
    )
}

/// `tests/data/datasets/NAME`.
pub fn fixture(name: &str) -> PathBuf {
    data_dir().join("datasets").join(name)
}

/// Every path under `dir`, relative.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).expect("prefix").to_path_buf());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Reads Server-Sent Events of job `id` until `end`: (progress events, the end view).
pub fn follow(node: &Node, id: &str) -> (Vec<Value>, Value) {
    let response = node.get(&format!("/api/jobs/{id}/events"));
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream")
    );
    let mut progress = Vec::new();
    let mut event = String::new();
    for line in BufReader::new(response).lines() {
        let line = line.expect("event line");
        if let Some(name) = line.strip_prefix("event: ") {
            event = name.to_string();
        } else if let Some(data) = line.strip_prefix("data: ") {
            let view: Value = serde_json::from_str(data).expect("event data");
            if event == "end" {
                return (progress, view);
            }
            progress.push(view);
        }
    }
    panic!("the event stream ended without an end event");
}

/// VmHWM of process `pid`, KiB (0 when unreadable).
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

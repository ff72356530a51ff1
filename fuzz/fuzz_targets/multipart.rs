//! The node's upload path in-process: an arbitrary body posted to `/api/jobs` as
//! `multipart/form-data` goes through the real router (body limit, multipart parsing,
//! the upload written to the scratch directory, sniffing, config and data validation)
//! over a real state directory. Any answer but a server error is fine; a 5xx, a panic or
//! a hang is a finding.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use heterodyne::server::state::NodeOptions;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

struct Harness {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let dir = tempfile::tempdir().expect("state dir");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let options = NodeOptions {
            addr: "127.0.0.1:0".into(),
            state_dir: dir.path().to_path_buf(),
            data_root: None,
            concurrency: 1,
            threads_per_job: 1,
            pin: None,
            // Jobs queue (no worker runs them): room for every valid submission found.
            max_queued: usize::MAX,
            upload_limit: 1 << 20,
            max_inflight_submissions: 4,
            request_timeout: Duration::from_secs(10),
            upload_timeout: Duration::from_secs(10),
            cors_origins: Vec::new(),
            auth_token: None,
            web_dir: None,
            open: false,
        };
        let app = runtime
            .block_on(async { heterodyne::server::app_without_workers(options) })
            .expect("app");
        Harness {
            runtime,
            app,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let request = Request::post("/api/jobs")
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(Body::from(data.to_vec()))
        .expect("request");
    let status = h
        .runtime
        .block_on(async { h.app.clone().oneshot(request).await })
        .map(|r| r.status())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "server error {status}"
    );
});

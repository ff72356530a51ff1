//! The native node, `heterodyne serve`: an axum HTTP API over durable job state.
//!
//! - [`store`]: jobs and share links in SQLite (WAL), results as files under the state
//!   directory, written atomically.
//! - [`worker`]: job slots (plain threads, each on its own share of the cores) that run
//!   jobs through the same runner as the CLI (`crate::job`).
//! - `routes/`: one file per resource; [`error`]: the one error type every route returns;
//!   [`jail`]: the data root; [`share_page`]: the read-only page of a share link.

pub mod error;
pub mod jail;
pub mod routes;
pub mod share_page;
pub mod state;
pub mod store;
pub mod view;
pub mod worker;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::sync::Semaphore;

pub use state::NodeOptions;
use state::{AppState, Inner, Wake};
use store::Store;

/// Runs the node until Ctrl-C or SIGTERM. Prints `listening on http://ADDR` on stdout
/// once the socket is bound (with port 0, the port chosen).
pub fn serve(options: NodeOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("node-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(options))
}

async fn run(options: NodeOptions) -> anyhow::Result<()> {
    let data_root = match &options.data_root {
        Some(root) => Some(root.canonicalize().with_context(|| {
            format!("--data-root {}: cannot open the directory", root.display())
        })?),
        None => None,
    };
    let store = Store::open(&options.state_dir)?;
    // Job records hold absolute paths, so a restart from another directory finds them.
    let mut options = options;
    options.state_dir = options
        .state_dir
        .canonicalize()
        .with_context(|| format!("--state-dir {}: cannot open", options.state_dir.display()))?;
    let state = AppState(Arc::new(Inner {
        submissions: Arc::new(Semaphore::new(options.max_inflight_submissions.max(1))),
        data_root,
        store,
        live: Mutex::new(HashMap::new()),
        cancel: Mutex::new(HashMap::new()),
        wake: Wake::default(),
        options,
    }));
    worker::recover(&state)
        .with_context(|| format!("{}: cannot recover", state.options.state_dir.display()))?;
    worker::start(&state, state.options.concurrency.max(1))
        .context("cannot start the job workers")?;
    let listener = tokio::net::TcpListener::bind(&state.options.addr)
        .await
        .with_context(|| format!("--addr {}: cannot listen", state.options.addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        state_dir = %state.options.state_dir.display(),
        concurrency = state.options.concurrency,
        "node started"
    );
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    let app = routes::router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .context("the HTTP server stopped")?;
    // Running jobs are not waited for: a restart re-queues them.
    tracing::info!("node stopped");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

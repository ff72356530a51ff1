//! The native node, `heterodyne serve`: an axum HTTP API over durable job state.
//!
//! - [`store`]: jobs and share links in SQLite (WAL), results as files under the state
//!   directory, written atomically.
//! - [`worker`]: job slots (plain threads, each on its own share of the cores) that run
//!   jobs through the same runner as the CLI (`crate::job`).
//! - `routes/`: one file per resource; [`error`]: the one error type every route returns;
//!   [`jail`]: the data root; [`app`]: the browser app (embedded, or `--web-dir`);
//!   [`share_page`]: the plain read-only page of a share link when there is no app.

pub mod app;
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

/// The node's state from `options`: the store opened, paths made absolute, interrupted
/// jobs re-queued. No worker and no listener yet.
fn open_state(options: NodeOptions) -> anyhow::Result<AppState> {
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
    Ok(state)
}

/// The node's HTTP routes over the state `options` describe, without job workers (jobs
/// queue but do not run): for driving the handlers in-process, as the fuzz target of the
/// upload path does. Must be called inside a tokio runtime.
pub fn app_without_workers(options: NodeOptions) -> anyhow::Result<axum::Router> {
    Ok(routes::router(open_state(options)?))
}

async fn run(options: NodeOptions) -> anyhow::Result<()> {
    let state = open_state(options)?;
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
    let url = format!("http://{addr}/");
    {
        // The first line is for scripts (tests read the port from it); the rest for people.
        // A closed stdout (a script that read the address and went away) must not stop the
        // node, so write errors are ignored.
        let o = &state.options;
        let app_line = match app::WebApp::choose(o.web_dir.as_deref()) {
            app::WebApp::Embedded => format!("  app: {url} (built in, {})", app::hash()),
            app::WebApp::Dir(d) => format!("  app: {url} (from {})", d.display()),
            app::WebApp::Missing => "  app: none (built with HETERODYNE_WEB=skip)".to_string(),
        };
        let data_root = match &state.data_root {
            Some(root) => format!("  data root: {}", root.display()),
            None => "  data root: none (uploads only; --data-root DIR)".to_string(),
        };
        say(&format!(
            "listening on http://{addr}\n  state dir: {}\n{data_root}\n{app_line}",
            o.state_dir.display()
        ));
    }
    if state.options.open {
        open_browser(&addr);
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

/// Prints `text` on stdout, ignoring a closed or full pipe.
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// Opens the page in the desktop's browser; says why not where there is none.
fn open_browser(addr: &std::net::SocketAddr) {
    // An unspecified bind address (0.0.0.0) is reached on loopback from this machine.
    let host = if addr.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        *addr
    };
    let url = format!("http://{host}/");
    let headless = cfg!(all(unix, not(target_os = "macos")))
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none();
    if headless {
        say(&format!(
            "  --open: no graphical session here; open {url} in a browser"
        ));
        return;
    }
    match opener::open_browser(&url) {
        Ok(()) => say(&format!("  opened {url} in the browser")),
        Err(e) => say(&format!(
            "  --open: could not start a browser ({e}); open {url} yourself"
        )),
    }
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

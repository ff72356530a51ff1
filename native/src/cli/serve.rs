//! `heterodyne serve`: the node (HTTP API, durable jobs, share links) on this machine.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::hw::pool::Pin;
use crate::server::{self, NodeOptions};

/// Arguments of `heterodyne serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port, printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Jobs, shares and results live here (created if missing); reuse it after a restart.
    #[arg(long)]
    pub state_dir: PathBuf,
    /// Directory that `data_path` submissions may read (nothing outside it).
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Jobs run at once (default: one per NUMA node, from `heterodyne hw`).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Threads per job (default: the physical cores of its share of the machine).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Thread pinning of job pools: none, cores or numa (default HETERODYNE_PIN, else cores).
    #[arg(long, value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<Pin>()))]
    pub pin: Option<Pin>,
    /// Jobs that may wait; more submissions are answered 429.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_queued: usize,
    /// Largest upload (bytes, or with K, M, G suffix).
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = parse_size)]
    pub upload_limit: u64,
    /// Submissions received or checked at once; more are answered 429.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_inflight: usize,
    /// Limit for ordinary requests, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub request_timeout: u64,
    /// Limit for one upload, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub upload_timeout: u64,
    /// Allow this browser origin (CORS; repeat for more). Off by default.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Serve the browser app from this directory instead of the one built into the binary
    /// (for developing the page; `heterodyne export-app DIR` writes one to start from).
    #[arg(long, value_name = "DIR")]
    pub web_dir: Option<PathBuf>,
    /// Open the app in a browser once the node listens (where there is a graphical session).
    #[arg(long)]
    pub open: bool,
    /// File holding a bearer token that the job routes require (share links never do);
    /// default: the HETERODYNE_NODE_TOKEN variable, else no token.
    #[arg(long, value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,
}

/// A size with an optional K/M/G suffix (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, 'B'),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("expected a size such as 4G or 500000, found {s:?}"))?;
    let factor: u64 = match unit {
        'B' => 1,
        'K' => 1 << 10,
        'M' => 1 << 20,
        'G' => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} (K, M or G)")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Runs the node.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let auth_token = match &args.auth_token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--auth-token-file {}", path.display()))?;
            let token = text.trim().to_string();
            anyhow::ensure!(
                token.len() >= 16,
                "--auth-token-file {}: the token must have at least 16 characters",
                path.display()
            );
            Some(token)
        }
        None => std::env::var("HETERODYNE_NODE_TOKEN")
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
    };
    let concurrency = match args.jobs {
        Some(0) => anyhow::bail!("--jobs: expected at least 1"),
        Some(n) => n,
        None => crate::hw::detect().map_or(1, |m| m.recommended.cmc_workers.max(1)),
    };
    anyhow::ensure!(args.max_queued > 0, "--max-queued: expected at least 1");
    if let Some(dir) = &args.web_dir {
        anyhow::ensure!(
            dir.join("index.html").is_file(),
            "--web-dir {}: no index.html (write one with `heterodyne export-app DIR`)",
            dir.display()
        );
    }
    server::serve(NodeOptions {
        addr: args.addr,
        state_dir: args.state_dir,
        data_root: args.data_root,
        concurrency,
        threads_per_job: args.threads,
        pin: args.pin,
        max_queued: args.max_queued,
        upload_limit: args.upload_limit,
        max_inflight_submissions: args.max_inflight,
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        upload_timeout: Duration::from_secs(args.upload_timeout.max(1)),
        cors_origins: args.cors_origins,
        auth_token,
        web_dir: args.web_dir,
        open: args.open,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("500000"), Ok(500_000));
        assert_eq!(parse_size("2m"), Ok(2 << 20));
        assert!(parse_size("4X").is_err());
        assert!(parse_size("G").is_err());
    }
}

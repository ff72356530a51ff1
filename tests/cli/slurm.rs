//! The Slurm CMC backend against a real single-node Slurm (started by `.ci/run` with
//! `scripts/slurm-local.sh`); the tests that need it skip, saying why, when none answers.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::cmc::{result, run, small_free_config};
use crate::common::{assert_fails_with, read_npz};

/// Waits (≤ 30 s) until Slurm shows the array named `job_name` cancelled, with no task
/// left pending, running or completing.
pub fn wait_until_cancelled(job_name: &str) {
    let start = std::time::Instant::now();
    loop {
        let out = Command::new("squeue")
            .args(["-h", "-t", "all", "-n", job_name, "-o", "%T"])
            .output()
            .expect("squeue");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let live = text
            .lines()
            .filter(|l| ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING"].contains(&l.trim()))
            .count();
        if live == 0 && text.contains("CANCELLED") {
            return;
        }
        assert!(start.elapsed().as_secs() < 30, "squeue: {text}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `heterodyne fit --config c.yaml --output-dir OUT --method cmc --backend slurm` in `dir`.
fn slurm_fit(dir: &Path, out: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_heterodyne"));
    cmd.args([
        "fit",
        "--config",
        "c.yaml",
        "--output-dir",
        out,
        "--method",
        "cmc",
        "--backend",
        "slurm",
    ])
    .current_dir(dir);
    cmd
}

/// Whether a Slurm controller answers here (prints why not).
pub fn slurm_up() -> bool {
    let up = Command::new("scontrol")
        .arg("ping")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("is UP"));
    if !up {
        println!(
            "skipped: no Slurm controller answers `scontrol ping` (`.ci/run` starts one with scripts/slurm-local.sh)"
        );
    }
    up
}

/// The small fixture, all 14 physics parameters free, K = 4 shards of short chains (this
/// is about identical draws, not convergence), Slurm polled every 0.2 s.
fn k4_config(slurm: &str) -> String {
    small_free_config(&format!(
        "    per_shard_mcmc: {{num_warmup: 100, num_samples: 100, num_chains: 2, seed: 5}}\n    sharding: {{num_shards: 4}}\n    validation: {{max_r_hat: 10, max_divergence_rate: 1}}\n    slurm: {{poll_interval: 0.2, {slurm}}}\n"
    ))
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn k4_cmc_through_slurm_equals_the_sequential_backend_bit_for_bit() {
    if !slurm_up() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = k4_config("max_retries: 0");
    let common = ["--method", "cmc", "--no-plots"];
    let seq = run(
        dir.path(),
        &yaml,
        "seq",
        &[&common[..], &["--backend", "sequential", "--threads", "2"]].concat(),
    );
    ok(&seq);
    let slurm = run(
        dir.path(),
        &yaml,
        "slurm",
        &[&common[..], &["--backend", "slurm"]].concat(),
    );
    ok(&slurm);
    let names = [
        "D0_ref",
        "alpha_ref",
        "D_offset_ref",
        "D0_sample",
        "alpha_sample",
        "D_offset_sample",
        "v0",
        "beta",
        "v_offset",
        "f0",
        "f1",
        "f2",
        "f3",
        "phi0",
        "sigma",
    ];
    for name in names {
        let key = format!("posterior.{name}");
        let a = read_npz(&dir.path().join("seq/posterior.npz"), &key);
        let b = read_npz(&dir.path().join("slurm/posterior.npz"), &key);
        assert!(!a.1.is_empty());
        assert_eq!(a, b, "{key} differs between sequential and slurm");
    }
    let (a, b) = (result(dir.path(), "seq"), result(dir.path(), "slurm"));
    assert_eq!(a["posterior"], b["posterior"]);
    assert_eq!(b["cmc"]["num_shards"], 4);
    // Successful runs leave no work directory behind.
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".heterodyne-slurm"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_failed_shard_is_resubmitted_and_exhausted_retries_fail_clearly() {
    if !slurm_up() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = k4_config("max_retries: 1");
    std::fs::write(dir.path().join("c.yaml"), &yaml).expect("config");
    let fit = |out: &str, fault: &str, quiet: bool| {
        slurm_fit(dir.path(), out)
            .arg("--no-plots")
            .args(quiet.then_some("--quiet"))
            .env("HETERODYNE_FAULT_SHARD", fault)
            .output()
            .expect("run")
    };
    // Shard 2 exits non-zero once: resubmitted, and the run completes.
    let once = fit("once", "2", false);
    ok(&once);
    let stderr = String::from_utf8_lossy(&once.stderr);
    assert!(
        stderr.contains("shard 2 failed: FAILED") && stderr.contains("attempt 2 of 2"),
        "{stderr}"
    );
    let r: Value = result(dir.path(), "once");
    assert_eq!(r["cmc"]["num_shards"], 4);
    // Every attempt fails: the run fails, naming the shard, Slurm's reason and the log.
    let always = fit("always", "2:always", true);
    assert_fails_with(
        &always,
        &[
            "shard 2 failed after 2 attempt(s)",
            "FAILED",
            "NonZeroExitCode",
            "slurm-",
        ],
    );
    let text = String::from_utf8_lossy(&always.stderr);
    let log = text
        .split("its log: ")
        .nth(1)
        .map(|s| s.trim().to_string())
        .expect("log path");
    let log_text = std::fs::read_to_string(Path::new(&log)).expect("the task's log is kept");
    assert!(log_text.contains("fault injected"), "{log_text}");
    assert!(!Path::new("always").exists());
}

#[test]
fn without_slurm_the_backend_fails_fast_naming_sbatch() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("c.yaml"), k4_config("max_retries: 0")).expect("config");
    let empty = dir.path().join("no-tools");
    std::fs::create_dir_all(&empty).expect("dir");
    let start = std::time::Instant::now();
    let out = slurm_fit(dir.path(), "out")
        .env("PATH", &empty)
        .output()
        .expect("run");
    assert_fails_with(&out, &["sbatch not found", "backend"]);
    // Before the NLSQ fit, not after it.
    assert!(start.elapsed().as_secs_f64() < 5.0);
    assert!(!dir.path().join("out").exists());
}

#[test]
fn ctrl_c_cancels_the_job_array() {
    if !slurm_up() {
        return;
    }
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = small_free_config(
        "    per_shard_mcmc: {num_warmup: 500, num_samples: 50000, num_chains: 2, seed: 2}\n    sharding: {num_shards: 2}\n    slurm: {poll_interval: 0.2, extra_args: [--job-name=cli-interrupt-test]}\n",
    );
    std::fs::write(dir.path().join("c.yaml"), yaml).expect("config");
    let mut child = slurm_fit(dir.path(), "out")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        if line.expect("line").contains(": RUNNING") {
            break;
        }
    }
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(2), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("cancelled")), "{rest:?}");
    wait_until_cancelled("cli-interrupt-test");
    assert!(!dir.path().join("out").exists());
}

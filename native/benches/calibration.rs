//! Calibration benchmark (issue "Honest, fast posteriors", Must show 2): coverage of the
//! central 90 % intervals and simulation-based-calibration rank histograms over replicate
//! datasets whose truths are drawn from the prior the fits use; see
//! `common/calibration.rs`.
//!
//! Run: `cargo bench -p heterodyne --bench calibration` (`BENCH_REPLICATES`, default 20;
//! `BENCH_THREADS`, default 2). Every identified quantity's coverage should lie in
//! 0.80–0.97; the bench exits non-zero when one does not.

#[path = "common/calibration.rs"]
mod calibration;

use std::path::Path;

fn main() {
    let replicates = std::env::var("BENCH_REPLICATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let threads = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = Path::new(env!("CARGO_BIN_EXE_heterodyne"));
    let t0 = std::time::Instant::now();
    let (rows, divergences) = calibration::calibrate(bin, dir.path(), replicates, None, threads)
        .unwrap_or_else(|e| panic!("calibration: {e}"));
    println!(
        "{replicates} replicates (truths from the calibration prior, noise 0.003, seeds 5000..), defaults, {threads} threads: {:.0} s, divergences {divergences}",
        t0.elapsed().as_secs_f64()
    );
    print!("{}", calibration::table(&rows));
    let outside: Vec<&str> = rows
        .iter()
        .filter(|r| !(0.80..=0.97).contains(&r.coverage()))
        .map(|r| r.name.as_str())
        .collect();
    if !outside.is_empty() {
        println!("coverage outside 0.80–0.97: {}", outside.join(", "));
        std::process::exit(1);
    }
}

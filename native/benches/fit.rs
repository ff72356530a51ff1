//! NLSQ benchmark (issue "Fit real files", Must show 6). Prints:
//! - the medium fixture (N = 500 × 3 angles): wall time of the whole `heterodyne fit`
//!   process, iterations, time per iteration, peak RSS — next to the Python package's
//!   figures on this machine kind (shared/peer-results.md);
//! - the NLSQ fit phase with 1, 2, … pinned threads (`BENCH_SCALING`, default `1,2`).
//!
//! One Gauss–Newton evaluation per memory strategy at N = 2000 × 3: `--bench scale`.
//!
//! Run: `cargo bench -p heterodyne --bench fit` (needs ../shared/fixtures for the first
//! parts; `BENCH_THREADS` sets the pool, default 2).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The Python package, CLI end to end on the medium fixture (peer-results.md).
const PYTHON_MEDIUM_CLI_S: f64 = 33.1;
/// …and its compiled second fit in-process.
const PYTHON_MEDIUM_FIT_S: f64 = 24.7;

fn peak_child_rss_mb() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss as f64 / 1024.0
    }
}

fn medium(threads: usize) {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/datasets");
    let data = shared.join("medium_aps_u.h5");
    if !data.exists() {
        println!("medium fixture: skipped ({} is absent)", data.display());
        return;
    }
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shared.join("medium.json")).expect("json"))
            .expect("json");
    let start = &truth["suggested_start"];
    let dir = tempfile::tempdir().expect("tempdir");
    let mut yaml = format!(
        "experimental_data:\n  file_path: {}\nanalyzer_parameters:\n  dt: 0.1\n  start_frame: 1\n  end_frame: 500\n  scattering:\n    wavevector_q: 0.0054\nparameters:\n",
        data.display()
    );
    for (group, names) in [
        ("reference", &["D0_ref", "alpha_ref", "D_offset_ref"][..]),
        (
            "sample",
            &["D0_sample", "alpha_sample", "D_offset_sample"][..],
        ),
        ("velocity", &["v0", "beta", "v_offset"][..]),
        ("fraction", &["f0", "f1", "f2", "f3"][..]),
        ("angle", &["phi0"][..]),
    ] {
        yaml += &format!("  {group}:\n");
        for n in names {
            let bounds = match *n {
                "D0_ref" | "D0_sample" => ", min: 100, max: 5.0e4",
                "alpha_ref" | "alpha_sample" => ", min: -2, max: 2",
                _ => "",
            };
            yaml += &format!("    {n}: {{value: {}{bounds}}}\n", start[n]);
        }
    }
    std::fs::write(dir.path().join("c.yaml"), yaml).expect("config");
    scaling(dir.path());
    let mut walls = Vec::new();
    let mut result = serde_json::Value::Null;
    for _ in 0..3 {
        let t0 = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_heterodyne"))
            .args([
                "fit",
                "--config",
                "c.yaml",
                "--output-dir",
                "out",
                "--quiet",
                "--no-plots",
            ])
            .arg("--threads")
            .arg(threads.to_string())
            .current_dir(dir.path())
            .output()
            .expect("run");
        walls.push(t0.elapsed().as_secs_f64());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        result = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("out/result.json")).expect("r"),
        )
        .expect("json");
    }
    walls.sort_by(f64::total_cmp);
    let wall = walls[1];
    let iterations = result["iterations"].as_f64().unwrap_or(f64::NAN);
    let fit_s = result["timings"]["fit_seconds"]
        .as_f64()
        .unwrap_or(f64::NAN);
    println!("medium fixture (N = 500 × 3 angles, {threads} threads), median of 3 processes:");
    println!(
        "  full `heterodyne fit` wall    {wall:.3} s   (Python CLI {PYTHON_MEDIUM_CLI_S} s → {:.0}× faster)",
        PYTHON_MEDIUM_CLI_S / wall
    );
    println!(
        "  fit phase                     {fit_s:.3} s   (Python compiled fit {PYTHON_MEDIUM_FIT_S} s → {:.0}×)",
        PYTHON_MEDIUM_FIT_S / fit_s
    );
    println!(
        "  iterations                    {iterations}   ({:.1} ms per iteration)",
        1e3 * fit_s / iterations
    );
    println!(
        "  peak RSS                      {:.0} MB   (Python 1.52 GB)",
        peak_child_rss_mb()
    );
}

/// NLSQ fit phase of the medium fixture with 1, 2, … pinned threads (`BENCH_SCALING`,
/// default `1,2`; `1,2,4,8,16` on a 16-core node), median of 3 processes each, and the
/// speed-up over one thread (the node issue's Must show 6).
fn scaling(dir: &Path) {
    let counts: Vec<usize> = std::env::var("BENCH_SCALING")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2]);
    println!("NLSQ thread scaling, medium fixture, threads pinned one per core (--pin cores):");
    let mut base = (0, f64::NAN);
    for n in counts {
        let mut fits: Vec<f64> = (0..3)
            .map(|_| {
                let out = Command::new(env!("CARGO_BIN_EXE_heterodyne"))
                    .args(["fit", "--config", "c.yaml", "--output-dir", "scale"])
                    .args(["--quiet", "--no-plots", "--pin", "cores", "--threads"])
                    .arg(n.to_string())
                    .current_dir(dir)
                    .output()
                    .expect("run");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let r: serde_json::Value = serde_json::from_str(
                    &std::fs::read_to_string(dir.join("scale/result.json")).expect("r"),
                )
                .expect("json");
                r["timings"]["fit_seconds"].as_f64().unwrap_or(f64::NAN)
            })
            .collect();
        fits.sort_by(f64::total_cmp);
        let fit = fits[1];
        if base.1.is_nan() {
            base = (n, fit);
        }
        println!(
            "  {n:>3} threads: fit {fit:.3} s   speed-up {:.2}× over {} thread(s)",
            base.1 / fit,
            base.0
        );
    }
}

fn main() {
    let threads = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    medium(threads);
}

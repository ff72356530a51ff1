//! CMC benchmark: `heterodyne fit --method both` on the small fixture's APS-U file
//! (N = 100 × 3 angles, all 14 physics parameters, a reference-schema config from the
//! suggested start, every CMC default), as a whole process. Prints the wall time, the CMC
//! phase time, the smallest bulk ESS over the identified quantities (f0 and f2 through their
//! identified combination), ESS per second next to the Python package on this machine kind,
//! and where the time went: warm-up against sampling, and the share of the CMC wall spent
//! in log-posterior gradients (evaluations × the cost of one, over the threads).
//!
//! The Python package's CMC on this fixture did not finish in 50 minutes for 2 chains ×
//! (500 + 500) draws (shared/peer-results.md), so its ESS/s is at most
//! 1000 draws / 3000 s ≈ 0.33 /s (ESS ≤ draws); the ratio printed is against that bound,
//! i.e. a lower bound on our advantage. One log-likelihood gradient costs it ~12 ms; ours
//! is printed alongside.
//!
//! Run: `cargo bench -p heterodyne --bench cmc` (`BENCH_THREADS`, default 2; `BENCH_SEED`,
//! default 1; `BENCH_DRAWS` = warm-up = kept draws per chain, default: the defaults).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Upper bound of the Python package's ESS/s on this fixture (see the module docs).
const PYTHON_ESS_PER_S_BOUND: f64 = 1000.0 / 3000.0;

fn main() {
    let threads = std::env::var("BENCH_THREADS").unwrap_or_else(|_| "2".into());
    let draws = std::env::var("BENCH_DRAWS").ok();
    let seed = std::env::var("BENCH_SEED").unwrap_or_else(|_| "1".into());
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/datasets");
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("small.json")).expect("json"))
            .expect("json");
    let start = &truth["suggested_start"];
    let dir = tempfile::tempdir().expect("tempdir");
    let mut yaml = format!(
        "experimental_data:\n  file_path: {}\nanalyzer_parameters:\n  dt: 0.5\n  start_frame: 1\n  end_frame: 100\n  scattering:\n    wavevector_q: 0.0054\nparameters:\n",
        data.join("small_aps_u.h5").display()
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
            yaml += &format!("    {n}: {}\n", start[n]);
        }
    }
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, yaml).expect("config");
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_heterodyne"))
        .args(["fit", "--config"])
        .arg(&config)
        .args(["--output-dir"])
        .arg(dir.path().join("out"))
        .args([
            "--method",
            "both",
            "--quiet",
            "--no-plots",
            "--threads",
            &threads,
            "--seed",
            &seed,
        ])
        .args(
            draws
                .iter()
                .flat_map(|d| ["--num-warmup", d, "--num-samples", d]),
        )
        .output()
        .expect("run heterodyne");
    let wall = t0.elapsed().as_secs_f64();
    if !matches!(out.status.code(), Some(0 | 3)) {
        panic!("fit failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/result.json")).expect("result"),
    )
    .expect("json");
    let cmc_s = r["timings"]["cmc_seconds"].as_f64().unwrap_or(f64::NAN);
    let mut worst = (String::new(), f64::INFINITY, 0.0_f64);
    let mut judged: Vec<(String, &serde_json::Value)> = r["posterior"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "f0" | "f2"))
                .map(|(k, v)| (k.clone(), v))
                .collect()
        })
        .unwrap_or_default();
    if let Some(m) = r["cmc"]["identified_combinations"].as_object() {
        judged.extend(
            m.iter()
                .filter(|(k, _)| k.starts_with("ln(f0"))
                .map(|(k, v)| (k.clone(), v)),
        );
    }
    for (name, p) in &judged {
        let ess = p["ess_bulk"].as_f64().unwrap_or(0.0);
        let rhat = p["r_hat"].as_f64().unwrap_or(f64::NAN);
        if ess < worst.1 {
            worst = (name.clone(), ess, rhat);
        }
        println!("{name:<24} ESS_bulk {ess:>7.0}  R̂ {rhat:.4}");
    }
    let ess_per_s = worst.1 / cmc_s;
    let draws = draws.unwrap_or_else(|| "default".into());
    println!(
        "small fixture (APS-U), seed {seed}, 4 chains × ({draws} + {draws}), {threads} threads: wall {wall:.1} s, CMC {cmc_s:.1} s, divergences {}",
        r["divergences"]
    );
    let t = &r["timings"];
    let f = |k: &str| t[k].as_f64().unwrap_or(f64::NAN);
    let warm = f("cmc_warmup_seconds");
    let (g_warm, g_kept, g_each) = (
        f("cmc_gradients_warmup"),
        f("cmc_gradients_sampling"),
        f("cmc_gradient_seconds"),
    );
    let lanes = threads.parse::<f64>().unwrap_or(1.0).min(4.0);
    println!(
        "time split: warm-up {warm:.2} s ({:.0} %), sampling {:.2} s ({:.0} %); gradients {:.0} + {:.0} × {:.1} µs over {lanes} threads = {:.0} % of the CMC wall",
        100.0 * warm / cmc_s,
        cmc_s - warm,
        100.0 * (cmc_s - warm) / cmc_s,
        g_warm,
        g_kept,
        1e6 * g_each,
        100.0 * (g_warm + g_kept) * g_each / lanes / cmc_s
    );
    println!(
        "min ESS_bulk {:.0} ({}, R̂ {:.4}) → {ess_per_s:.2} ESS/s; Python ≤ {PYTHON_ESS_PER_S_BOUND:.2} ESS/s → ≥ {:.0}× faster",
        worst.1,
        worst.0,
        worst.2,
        ess_per_s / PYTHON_ESS_PER_S_BOUND
    );
}

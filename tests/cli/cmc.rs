//! `heterodyne fit --method both|cmc`: the posterior block of result.json, posterior.npz,
//! the plots, same-seed reproducibility across backends, and bad CMC settings.

use std::path::Path;

use serde_json::Value;

use crate::common::{assert_fails_with, data_dir, heterodyne, read_npz};
use crate::fit::truth_json;

/// A config for the small fixture `data` with values `start`; only `free` parameters vary
/// (all when `None`); `cmc` is the body of `optimization.cmc`. Scaling is left to the
/// data (quantile start, averaged over the three angles).
pub fn small_config(
    data: &Path,
    truth: &Value,
    start: &Value,
    free: Option<&[&str]>,
    cmc: &str,
) -> String {
    let groups: [(&str, &[&str]); 5] = [
        ("reference", &["D0_ref", "alpha_ref", "D_offset_ref"]),
        ("sample", &["D0_sample", "alpha_sample", "D_offset_sample"]),
        ("velocity", &["v0", "beta", "v_offset"]),
        ("fraction", &["f0", "f1", "f2", "f3"]),
        ("angle", &["phi0"]),
    ];
    let mut yaml = format!(
        "experimental_data:\n  file_path: {}\nanalyzer_parameters:\n  dt: {}\n  start_frame: 1\n  end_frame: {}\n  scattering:\n    wavevector_q: {}\nparameters:\n",
        data.display(),
        truth["dt"],
        truth["n_frames"],
        truth["q_target"]
    );
    for (group, names) in groups {
        yaml += &format!("  {group}:\n");
        for name in names {
            let vary = free.is_none_or(|f| f.contains(name));
            yaml += &format!("    {name}: {{value: {}, vary: {vary}}}\n", start[name]);
        }
    }
    yaml += &format!("optimization:\n  cmc:\n{cmc}");
    yaml
}

/// The small fixture with all 14 physics parameters free from the suggested start, and
/// `cmc` as the `optimization.cmc` section.
pub fn small_free_config(cmc: &str) -> String {
    let data = data_dir().join("datasets");
    let truth = truth_json(&data, "small");
    small_config(
        &data.join("small.npz"),
        &truth,
        &truth["suggested_start"],
        None,
        cmc,
    )
}

/// The small fixture with only the velocity and angle parameters and f3 free (the rest
/// fixed at truth): a posterior that samples in seconds.
pub fn reduced_config(data: &Path, truth: &Value, cmc: &str) -> String {
    let free = ["v0", "beta", "v_offset", "f3", "phi0"];
    small_config(data, truth, &truth["truth"], Some(&free), cmc)
}

pub fn run(dir: &Path, yaml: &str, out: &str, extra: &[&str]) -> std::process::Output {
    std::fs::write(dir.join("c.yaml"), yaml).expect("config");
    let mut args = vec!["fit", "--config", "c.yaml", "--output-dir", out, "--quiet"];
    args.extend(extra);
    heterodyne(dir, &args)
}

pub fn result(dir: &Path, out: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(out).join("result.json")).expect("read"))
        .expect("json")
}

#[test]
fn method_both_writes_posterior_json_npz_and_plots() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = data_dir().join("datasets");
    let truth = truth_json(&data, "small");
    let yaml = reduced_config(
        &data.join("small.npz"),
        &truth,
        "    per_shard_mcmc: {num_warmup: 300, num_samples: 300, num_chains: 2, seed: 3}\n",
    );
    let out = run(
        dir.path(),
        &yaml,
        "out",
        &["--method", "both", "--threads", "2"],
    );
    assert!(
        out.status.success() || out.status.code() == Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = result(dir.path(), "out");
    assert_eq!(r["method"], "both");
    // NLSQ block and posterior block side by side.
    assert!(r["parameters"]["v0"]["std_error"].is_number());
    let post = &r["posterior"];
    for name in [
        "v0", "beta", "v_offset", "f3", "phi0", "contrast", "offset", "sigma",
    ] {
        let p = &post[name];
        for key in [
            "mean",
            "std",
            "median",
            "q2_5",
            "q97_5",
            "hdi94_low",
            "hdi94_high",
            "r_hat",
            "ess_bulk",
            "ess_tail",
        ] {
            assert!(p[key].is_number(), "{name}.{key} missing: {p}");
        }
        if name != "sigma" && name != "contrast" && name != "offset" {
            let (m, s) = (
                p["mean"].as_f64().unwrap_or(f64::NAN),
                p["std"].as_f64().unwrap_or(f64::NAN),
            );
            let t = truth["truth"][name].as_f64().expect("truth");
            assert!(((m - t) / s).abs() < 3.0, "{name}: {m} ± {s} vs {t}");
            assert!(p["r_hat"].as_f64().unwrap_or(9.0) < 1.05, "{name}: {p}");
        }
    }
    assert!(r["divergences"].is_u64(), "top-level divergences: {r}");
    assert_eq!(r["cmc"]["num_shards"], 1);
    assert!(r["timings"]["cmc_seconds"].as_f64().unwrap_or(0.0) > 0.0);
    // posterior.npz: (chain, draw) per quantity, sample stats (chain, draw).
    let npz = dir.path().join("out/posterior.npz");
    let (shape, v0) = read_npz(&npz, "posterior.v0");
    assert_eq!(shape, vec![2, 300]);
    let mean = v0.iter().sum::<f64>() / v0.len() as f64;
    let reported = post["v0"]["mean"].as_f64().expect("mean");
    assert!(
        (mean - reported).abs() <= 1e-9 * reported.abs(),
        "{mean} vs {reported}"
    );
    let file = std::fs::File::open(&npz).expect("npz");
    let mut z = ndarray_npy::NpzReader::new(file).expect("npz");
    let energy: ndarray::ArrayD<f64> = z.by_name("sample_stats.energy").expect("energy");
    assert_eq!(energy.shape(), &[2, 300]);
    let depth: ndarray::ArrayD<u64> = z.by_name("sample_stats.tree_depth").expect("depth");
    assert!(depth.iter().all(|d| *d >= 1 && *d <= 10));
    let _: ndarray::ArrayD<bool> = z.by_name("sample_stats.diverging").expect("diverging");
    for plot in ["cmc_trace", "cmc_rank", "cmc_corner", "cmc_vs_nlsq"] {
        let p = dir.path().join(format!("out/{plot}.png"));
        assert!(
            std::fs::metadata(&p)
                .map(|m| m.len() > 10_000)
                .unwrap_or(false),
            "{} missing or empty",
            p.display()
        );
    }
}

#[test]
fn same_seed_same_posterior_on_any_backend() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = data_dir().join("datasets");
    let truth = truth_json(&data, "small");
    let yaml = reduced_config(
        &data.join("small.npz"),
        &truth,
        // Short chains: this is about identical draws, not convergence.
        "    per_shard_mcmc: {num_warmup: 150, num_samples: 150, num_chains: 2, seed: 11}\n    validation: {max_r_hat: 10}\n",
    );
    let common = ["--method", "cmc", "--no-plots", "--num-shards", "2"];
    let seq = run(
        dir.path(),
        &yaml,
        "seq",
        &[&common[..], &["--backend", "sequential", "--threads", "1"]].concat(),
    );
    let par = run(
        dir.path(),
        &yaml,
        "par",
        &[
            &common[..],
            &["--backend", "parallel", "--workers", "2", "--threads", "2"],
        ]
        .concat(),
    );
    for o in [&seq, &par] {
        assert!(
            o.status.code() == Some(0) || o.status.code() == Some(3),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    for name in ["posterior.v0", "posterior.phi0", "posterior.sigma"] {
        let a = read_npz(&dir.path().join("seq/posterior.npz"), name);
        let b = read_npz(&dir.path().join("par/posterior.npz"), name);
        assert_eq!(a, b, "{name} differs between backends");
    }
    assert_eq!(result(dir.path(), "seq")["cmc"]["num_shards"], 2);
}

#[test]
fn bad_cmc_settings_are_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = data_dir().join("datasets");
    let truth = truth_json(&data, "small");
    let yaml = reduced_config(&data.join("small.npz"), &truth, "    num_chains: 0\n");
    let out = run(dir.path(), &yaml, "o1", &["--method", "cmc"]);
    assert_fails_with(&out, &["optimization.cmc.num_chains", "≥ 1"]);
    let yaml = reduced_config(
        &data.join("small.npz"),
        &truth,
        "    target_accept_prob: 1.5\n",
    );
    let out = run(dir.path(), &yaml, "o2", &["--method", "cmc"]);
    assert_fails_with(&out, &["target_accept_prob", "(0, 1)"]);
    let yaml = reduced_config(&data.join("small.npz"), &truth, "    seed: 1\n");
    let out = run(
        dir.path(),
        &yaml,
        "o3",
        &["--method", "cmc", "--num-shards", "100000"],
    );
    assert_fails_with(&out, &["num_shards", "at most one shard per row"]);
    let out = run(
        dir.path(),
        &yaml,
        "o4",
        &["--method", "cmc", "--num-chains", "0"],
    );
    assert_fails_with(&out, &["num_chains"]);
    assert!(!dir.path().join("o3").exists(), "no partial output");
}

/// Issue 14's bar, as a new user meets it: the small fixture's APS-U file, a
/// reference-schema config (values only: the registry's bounds and priors), the suggested
/// start, every CMC default, `--seed 1`. No divergent draw after warm-up, R̂ < 1.01 and
/// bulk ESS > 400 on every identified quantity (f0 and f2 enter only through
/// f0·exp(−f1·f2), which is checked instead), every posterior mean within 3 σ of truth.
#[test]
fn aps_u_posterior_at_the_defaults_has_no_divergences() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = data_dir().join("datasets");
    let truth = truth_json(&data, "small");
    let start = &truth["suggested_start"];
    let mut yaml = format!(
        "experimental_data:\n  file_path: {}\nanalyzer_parameters:\n  dt: {}\n  start_frame: 1\n  end_frame: {}\n  scattering:\n    wavevector_q: {}\nparameters:\n",
        data.join("small_aps_u.h5").display(),
        truth["dt"],
        truth["n_frames"],
        truth["q_target"]
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
        for name in names {
            yaml += &format!("    {name}: {{value: {}}}\n", start[*name]);
        }
    }
    let out = run(
        dir.path(),
        &yaml,
        "out",
        &["--method", "both", "--seed", "1", "--no-plots"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = result(dir.path(), "out");
    let divergences = r["divergences"].as_u64().expect("divergences");
    let per_chain = &r["cmc"]["shards"][0]["divergences_per_chain"];
    println!("divergences {divergences} (per chain {per_chain})");
    assert_eq!(divergences, 0, "divergent draws after warm-up: {per_chain}");
    assert_eq!(r["cmc"]["converged"], true, "{}", r["cmc"]["warnings"]);
    let post = r["posterior"].as_object().expect("posterior");
    let t = &truth["truth"];
    for (name, p) in post {
        let (mean, std) = (
            p["mean"].as_f64().unwrap_or(f64::NAN),
            p["std"].as_f64().unwrap_or(f64::NAN),
        );
        let (rhat, ess) = (
            p["r_hat"].as_f64().unwrap_or(f64::NAN),
            p["ess_bulk"].as_f64().unwrap_or(0.0),
        );
        let truth_value = t[name.as_str()].as_f64();
        println!(
            "{name:<16} {mean:>12.5} ± {std:<10.4} truth {truth_value:?} R̂ {rhat:.4} ESS {ess:.0}"
        );
        if let Some(truth_value) = truth_value {
            assert!(
                ((mean - truth_value) / std).abs() < 3.0,
                "{name}: {mean} ± {std} vs truth {truth_value}"
            );
        }
        if name != "f0" && name != "f2" {
            assert!(rhat < 1.01, "{name}: R̂ {rhat}");
            assert!(ess > 400.0, "{name}: ESS {ess}");
        }
    }
    let comb = &r["cmc"]["identified_combinations"]["ln(f0·exp(−f1·f2))"];
    let want = (t["f0"].as_f64().expect("f0")).ln()
        - t["f1"].as_f64().expect("f1") * t["f2"].as_f64().expect("f2");
    let (m, s) = (
        comb["mean"].as_f64().expect("mean"),
        comb["std"].as_f64().expect("std"),
    );
    assert!(
        ((m - want) / s).abs() < 3.0,
        "combination {m} ± {s} vs {want}"
    );
    assert!(comb["r_hat"].as_f64().unwrap_or(9.0) < 1.01, "{comb}");
    assert!(comb["ess_bulk"].as_f64().unwrap_or(0.0) > 400.0, "{comb}");
}

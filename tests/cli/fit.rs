//! `heterodyne fit` on the shared synthetic datasets (known truth) in every layout, the
//! per-angle modes, strategies, multistart, and bad input.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{data_dir, heterodyne, read_npz};

/// Relative noise of the synthetic datasets (their JSON: noise.sigma_rel).
const SIGMA_REL: f64 = 3e-3;
/// Reduced χ² with the known noise must land here (Must show 1).
const CHI2_RANGE: (f64, f64) = (0.9, 1.1);
/// Identical data in different layouts must give identical fits to this.
const LAYOUT_RTOL: f64 = 1e-12;

pub fn shared_datasets() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/datasets");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "skipped: {} is absent (a fresh clone has no shared fixtures)",
            dir.display()
        );
        None
    }
}

pub fn truth_json(dir: &Path, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("json"))
        .expect("parse")
}

const GROUPS: [(&str, &[&str]); 5] = [
    ("reference", &["D0_ref", "alpha_ref", "D_offset_ref"]),
    ("sample", &["D0_sample", "alpha_sample", "D_offset_sample"]),
    ("velocity", &["v0", "beta", "v_offset"]),
    ("fraction", &["f0", "f1", "f2", "f3"]),
    ("angle", &["phi0"]),
];

/// Bounds of the reference's master template (D0 ≤ 5e4, α in [−2, 2]), registry otherwise.
fn bounds(name: &str) -> (f64, f64) {
    match name {
        "D0_ref" | "D0_sample" => (100.0, 5e4),
        "alpha_ref" | "alpha_sample" | "beta" => (-2.0, 2.0),
        "D_offset_ref" | "D_offset_sample" => (-1e5, 1e5),
        "v0" => (1e-6, 1e4),
        "v_offset" => (-100.0, 100.0),
        "f0" | "f3" => (0.0, 1.0),
        "f1" | "phi0" => (-10.0, 10.0),
        "f2" => (-1e4, 1e4),
        _ => unreachable!("{name}"),
    }
}

/// A config for `data` (N frames, dt) starting from `start` with extra `nlsq` keys.
pub fn config(data: &Path, truth: &Value, start: &Value, nlsq: &str) -> String {
    let mut yaml = format!(
        "experimental_data:\n  file_path: {}\nanalyzer_parameters:\n  dt: {}\n  start_frame: 1\n  end_frame: {}\n  scattering:\n    wavevector_q: {}\nparameters:\n",
        data.display(),
        truth["dt"],
        truth["n_frames"],
        truth["q_target"]
    );
    for (group, names) in GROUPS {
        yaml += &format!("  {group}:\n");
        for name in names {
            let (lo, hi) = bounds(name);
            yaml += &format!(
                "    {name}: {{value: {}, min: {lo}, max: {hi}}}\n",
                start[name]
            );
        }
    }
    yaml += "  scaling:\n    contrast: {value: 0.1}\n    offset: {value: 1.0}\n";
    if !nlsq.is_empty() {
        yaml += &format!("optimization:\n  nlsq:\n{nlsq}");
    }
    yaml
}

/// Runs a fit in `dir` with `config_text`; returns result.json.
pub fn run_fit(dir: &Path, config_text: &str, extra: &[&str]) -> Value {
    std::fs::write(dir.join("c.yaml"), config_text).expect("config");
    let mut args = vec![
        "fit",
        "--config",
        "c.yaml",
        "--output-dir",
        "out",
        "--quiet",
        "--no-plots",
    ];
    args.extend(extra);
    let out = heterodyne(dir, &args);
    assert!(
        out.status.success(),
        "fit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(dir.join("out/result.json")).expect("result"))
        .expect("json")
}

/// Reduced χ² with the known noise σ = σ_rel·c2 on the residual support (both
/// triangles, rows/columns ≥ 1, off the diagonal), over the fit's dof.
pub fn chi2_known(dir: &Path, result: &Value) -> f64 {
    let (shape, resid) = read_npz(&dir.join("out/fit.npz"), "residuals");
    let (_, fit) = read_npz(&dir.join("out/fit.npz"), "c2_fit");
    let n = shape[1];
    let mut s = 0.0;
    for e in 0..resid.len() {
        let (i, j) = ((e / n) % n, e % n);
        if i >= 1 && j >= 1 && i != j {
            s += (resid[e] / (SIGMA_REL * fit[e])).powi(2);
        }
    }
    s / result["dof"].as_f64().expect("dof")
}

/// Every parameter with a standard error lies within 3 of them from truth; f0 and f2
/// have none and their identified combination does.
pub fn assert_recovers_truth(result: &Value, truth: &Value, label: &str) {
    assert_recovers_truth_except(result, truth, label, &[]);
}

/// As [`assert_recovers_truth`], also allowing `undetermined` parameters without a
/// standard error when a reported degeneracy names them.
pub fn assert_recovers_truth_except(
    result: &Value,
    truth: &Value,
    label: &str,
    undetermined: &[&str],
) {
    for (_, names) in GROUPS {
        for name in names {
            let p = &result["parameters"][name];
            let (v, t) = (
                p["value"].as_f64().expect("value"),
                truth["truth"][name].as_f64().expect("truth"),
            );
            match p["std_error"].as_f64() {
                Some(se) => assert!(
                    ((v - t) / se).abs() <= 3.0,
                    "{label} {name}: {v} ± {se} vs truth {t}"
                ),
                None if undetermined.contains(name) => {
                    let named = result["degeneracies"]
                        .as_array()
                        .expect("degeneracies")
                        .iter()
                        .any(|d| {
                            d["parameters"]
                                .as_array()
                                .is_some_and(|ps| ps.iter().any(|p| p == name))
                        });
                    assert!(
                        named,
                        "{label}: {name} is undetermined but no degeneracy names it"
                    );
                }
                None => assert!(
                    matches!(*name, "f0" | "f2"),
                    "{label}: {name} has no standard error"
                ),
            }
        }
    }
    let t = &truth["truth"];
    let combo = t["f0"].as_f64().expect("f0")
        * (-t["f1"].as_f64().expect("f1") * t["f2"].as_f64().expect("f2")).exp();
    let ridge = result["degeneracies"]
        .as_array()
        .expect("degeneracies")
        .iter()
        .find(|d| d["combination"].is_string())
        .unwrap_or_else(|| panic!("{label}: the f0–f2 ridge is not reported"));
    let (v, se) = (
        ridge["value"].as_f64().expect("v"),
        ridge["std_error"].as_f64().expect("se"),
    );
    assert!(
        ((v - combo) / se).abs() <= 3.0,
        "{label}: f0·exp(−f1·f2) = {v} ± {se} vs {combo}"
    );
}

fn values(result: &Value) -> Vec<f64> {
    GROUPS
        .iter()
        .flat_map(|(_, names)| {
            names
                .iter()
                .map(|n| result["parameters"][n]["value"].as_f64().expect("value"))
        })
        .collect()
}

#[test]
fn small_in_every_layout_recovers_truth_identically() {
    let data = data_dir().join("datasets");
    let truth = truth_json(&data, "small");
    let mut first: Option<Vec<f64>> = None;
    for file in [
        "small_aps_u.h5",
        "small_aps_old.h5",
        "small_exchange.h5",
        "small_flat.h5",
        "small.npz",
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let result = run_fit(
            dir.path(),
            &config(&data.join(file), &truth, &truth["suggested_start"], ""),
            &[],
        );
        assert_eq!(result["converged"], Value::Bool(true), "{file}");
        assert_eq!(result["scaling"]["mode"], "averaged", "{file}");
        let chi2 = chi2_known(dir.path(), &result);
        println!(
            "{file}: reduced χ² (known noise) {chi2:.4}, {} iterations",
            result["iterations"]
        );
        assert!(
            (CHI2_RANGE.0..=CHI2_RANGE.1).contains(&chi2),
            "{file}: {chi2}"
        );
        // The reference reached 0.991 here (peer-results.md, 3 decimals); a least-squares
        // optimum can only be lower.
        assert!(
            chi2 <= 0.991 + 5e-4,
            "{file}: {chi2} is above the reference's 0.991"
        );
        assert_recovers_truth(&result, &truth, file);
        let v = values(&result);
        match &first {
            None => first = Some(v),
            Some(f) => {
                for (a, b) in v.iter().zip(f) {
                    assert!(
                        (a - b).abs() <= LAYOUT_RTOL * b.abs().max(1e-300),
                        "{file}: {a} vs {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn medium_recovers_truth() {
    let Some(shared) = shared_datasets() else {
        return;
    };
    let truth = truth_json(&shared, "medium");
    for file in ["medium_aps_u.h5", "medium.npz"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let result = run_fit(
            dir.path(),
            &config(&shared.join(file), &truth, &truth["suggested_start"], ""),
            &[],
        );
        assert_eq!(result["converged"], Value::Bool(true), "{file}");
        let chi2 = chi2_known(dir.path(), &result);
        println!(
            "{file}: reduced χ² (known noise) {chi2:.5}, {} iterations",
            result["iterations"]
        );
        assert!(
            (CHI2_RANGE.0..=CHI2_RANGE.1).contains(&chi2),
            "{file}: {chi2}"
        );
        assert!(
            chi2 <= 1.001 + 5e-4,
            "{file}: {chi2} is above the reference's 1.001"
        );
        assert_recovers_truth(&result, &truth, file);
    }
}

#[test]
fn far_start_escapes_with_multistart() {
    let data = data_dir().join("datasets");
    let truth = truth_json(&data, "small");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = data.join("small_aps_u.h5");
    let text = config(
        &file,
        &truth,
        &truth["suggested_start_far"],
        "    multistart: true\n",
    );
    let result = run_fit(dir.path(), &text, &[]);
    assert_eq!(result["converged"], Value::Bool(true));
    // Default count: 2P + 1 = 33 for 14 physics parameters and one averaged pair.
    assert_eq!(result["multistart"].as_array().expect("starts").len(), 33);
    let chi2 = chi2_known(dir.path(), &result);
    println!("small far start + multistart: reduced χ² (known noise) {chi2:.4}");
    assert!((CHI2_RANGE.0..=CHI2_RANGE.1).contains(&chi2), "{chi2}");
    assert_recovers_truth(&result, &truth, "far start");
}

/// The slow one (about 20 s): 33 screened starts on N = 500 × 3.
#[test]
fn medium_far_start_escapes_with_multistart() {
    let Some(shared) = shared_datasets() else {
        return;
    };
    let truth = truth_json(&shared, "medium");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = shared.join("medium_aps_u.h5");
    let text = config(
        &file,
        &truth,
        &truth["suggested_start_far"],
        "    multistart: true\n",
    );
    let result = run_fit(dir.path(), &text, &[]);
    assert_eq!(result["converged"], Value::Bool(true));
    let chi2 = chi2_known(dir.path(), &result);
    println!("medium far start + multistart: reduced χ² (known noise) {chi2:.5}");
    assert!((CHI2_RANGE.0..=CHI2_RANGE.1).contains(&chi2), "{chi2}");
    assert_recovers_truth(&result, &truth, "medium far start");
}

#[test]
fn every_per_angle_mode_and_angle_count_converges() {
    let data = data_dir().join("datasets");
    let truth = truth_json(&data, "small");
    let file = data.join("small_aps_u.h5");
    let start = &truth["suggested_start"];
    let cases: [(&str, &str, &[&str]); 7] = [
        ("averaged", "    per_angle_mode: averaged\n", &[]),
        ("individual", "    per_angle_mode: individual\n", &[]),
        (
            "fourier",
            "    per_angle_mode: fourier\n    fourier_order: 1\n",
            &[],
        ),
        ("fixed", "    per_angle_mode: fixed\n", &[]),
        ("constant", "    per_angle_mode: constant\n", &[]),
        ("one angle", "", &["--phi", "45"]),
        ("two angles", "", &["--phi", "0,45"]),
    ];
    for (label, nlsq, extra) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let result = run_fit(dir.path(), &config(&file, &truth, start, nlsq), extra);
        assert_eq!(result["converged"], Value::Bool(true), "{label}");
        let chi2 = chi2_known(dir.path(), &result);
        println!(
            "{label}: mode {} reduced χ² (known noise) {chi2:.4}",
            result["scaling"]["mode"]
        );
        // `constant` holds contrast/offset at rough quantile estimates: it converges,
        // but cannot reach the noise floor; every fitted mode must.
        if label != "constant" {
            assert!(
                (CHI2_RANGE.0..=CHI2_RANGE.1).contains(&chi2),
                "{label}: {chi2}"
            );
        }
    }
}

#[test]
fn joint_fit_is_no_worse_than_separate_fits() {
    let data = data_dir().join("datasets");
    let truth = truth_json(&data, "small");
    let file = data.join("small_aps_u.h5");
    let start = &truth["suggested_start"];
    let joint_dir = tempfile::tempdir().expect("tempdir");
    let joint = run_fit(joint_dir.path(), &config(&file, &truth, start, ""), &[]);
    let sep_dir = tempfile::tempdir().expect("tempdir");
    let sep = run_fit(
        sep_dir.path(),
        &config(&file, &truth, start, "    fit_angles: separate\n"),
        &[],
    );
    let angles = sep["angles"].as_array().expect("angles");
    assert_eq!(angles.len(), 3);
    // Separate fits have 3× the parameters, so raw χ² favours them by construction;
    // per degree of freedom the joint fit must do at least as well.
    let sep_chi2: f64 = angles
        .iter()
        .map(|a| a["chi2"].as_f64().expect("chi2"))
        .sum();
    let sep_dof: f64 = angles.iter().map(|a| a["dof"].as_f64().expect("dof")).sum();
    let joint_red = joint["chi2"].as_f64().expect("chi2") / joint["dof"].as_f64().expect("dof");
    let sep_red = sep_chi2 / sep_dof;
    println!("joint χ²/dof {joint_red:.6e}, separate {sep_red:.6e}");
    assert!(
        joint_red <= sep_red * 1.001,
        "joint {joint_red} vs separate {sep_red}"
    );
}

#[test]
fn strategies_give_the_same_parameters() {
    let data = data_dir().join("datasets");
    let truth = truth_json(&data, "small");
    let file = data.join("small_flat.h5");
    let mut all = Vec::new();
    let mut chi2 = Vec::new();
    for strategy in ["dense", "chunked", "streaming", "separable"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = run_fit(
            dir.path(),
            &config(
                &file,
                &truth,
                &truth["suggested_start"],
                "    chunk_size: 1000\n",
            ),
            &["--strategy", strategy],
        );
        assert_eq!(r["strategy"], strategy);
        all.push(values(&r));
        chi2.push(r["chi2"].as_f64().expect("chi2"));
    }
    for v in &all[1..] {
        for (a, b) in v.iter().zip(&all[0]) {
            assert!((a - b).abs() <= 1e-8 * b.abs(), "{a} vs {b}");
        }
    }
    // The separable Gram (the `auto` choice here) against the per-cell path: the same
    // optimum, χ² equal to 1e-10 relative (issue 15).
    for c in &chi2[1..] {
        assert!(
            (c - chi2[0]).abs() <= 1e-10 * chi2[0],
            "χ² {c} vs {}",
            chi2[0]
        );
    }
}

#[test]
fn real_aps_u_shells_with_synthetic_twotime_fit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/real-twotime");
    if !dir.is_dir() {
        println!(
            "skipped: {} is absent (a fresh clone has no shared fixtures)",
            dir.display()
        );
        return;
    }
    for name in ["twotime_e0173_3phi_N300", "twotime_e0173_1phi_N300"] {
        let truth = truth_json(&dir, name);
        let out = tempfile::tempdir().expect("tempdir");
        let data = dir.join(format!("{name}.hdf"));
        let result = run_fit(
            out.path(),
            &config(&data, &truth, &truth["suggested_start"], ""),
            &[],
        );
        assert_eq!(result["converged"], Value::Bool(true), "{name}");
        assert_eq!(result["layout"], "aps-u");
        let n_phi = truth["phi_angles_deg"].as_array().map_or(1, Vec::len);
        assert_eq!(
            result["phi"].as_array().expect("phi").len(),
            n_phi,
            "{name}"
        );
        let chi2 = chi2_known(out.path(), &result);
        println!("{name}: reduced χ² (known noise) {chi2:.4}");
        assert!(
            (CHI2_RANGE.0..=CHI2_RANGE.1).contains(&chi2),
            "{name}: {chi2}"
        );
        // One angle cannot separate v0, v_offset and phi0 (only cos(φ + phi0)·v(t) enters).
        let undetermined: &[&str] = if n_phi == 1 {
            &["v0", "v_offset", "phi0"]
        } else {
            &[]
        };
        assert_recovers_truth_except(&result, &truth, name, undetermined);
    }
}

#[test]
fn bundled_example_fits_and_draws_its_plots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fit.yaml");
    let out = heterodyne(
        dir.path(),
        &[
            "fit",
            "--config",
            example.to_str().expect("path"),
            "--output-dir",
            "out",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("D0_ref") && stdout.contains("phi0"),
        "no table: {stdout}"
    );
    for phi in ["+000.00", "+045.00", "+090.00"] {
        for kind in ["c2", "cuts"] {
            let png = dir.path().join(format!("out/{kind}_phi_{phi}.png"));
            let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
            assert!(
                bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
                "{}",
                png.display()
            );
        }
    }
    let out = heterodyne(
        dir.path(),
        &[
            "plot",
            "--config",
            example.to_str().expect("path"),
            "--output-dir",
            "plots",
            "--quiet",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("plots/data_phi_+045.00.png").exists());
}

#[test]
fn unit_weights_change_nothing_and_bad_weights_are_named() {
    use ndarray_npy::WriteNpyExt;
    let data = data_dir().join("datasets");
    let truth = truth_json(&data, "small");
    let text = config(
        &data.join("small_flat.h5"),
        &truth,
        &truth["suggested_start"],
        "",
    );
    let plain_dir = tempfile::tempdir().expect("tempdir");
    // Weighted fits take the per-cell Gram: compare on the same path (the separable
    // one agrees to the optimum's precision, ~1e-10 on ridge parameters; see
    // `strategies_give_the_same_parameters`).
    let plain = run_fit(plain_dir.path(), &text, &["--strategy", "chunked"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let ones = ndarray::Array2::<f64>::ones((100, 100));
    ones.write_npy(std::fs::File::create(dir.path().join("w.npy")).expect("create"))
        .expect("write");
    let weighted = run_fit(dir.path(), &text, &["--weights", "w.npy"]);
    for (a, b) in values(&weighted).iter().zip(values(&plain)) {
        assert!((a - b).abs() <= 1e-10 * b.abs(), "{a} vs {b}");
    }
    let wrong = ndarray::Array2::<f64>::ones((50, 50));
    wrong
        .write_npy(std::fs::File::create(dir.path().join("bad.npy")).expect("create"))
        .expect("write");
    std::fs::write(dir.path().join("c.yaml"), &text).expect("config");
    let out = heterodyne(
        dir.path(),
        &[
            "fit",
            "--config",
            "c.yaml",
            "--output-dir",
            "o2",
            "--weights",
            "bad.npy",
        ],
    );
    crate::common::assert_fails_with(&out, &["bad.npy", "expected [3, 100, 100] or [100, 100]"]);
}

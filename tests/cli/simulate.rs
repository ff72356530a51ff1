//! `heterodyne simulate`: fixture parity through the CLI, every output format, noise, and
//! bad input.

use std::path::Path;

use serde_json::Value;

use crate::common::{assert_fails_with, data_dir, heterodyne, read_npy, read_npz};

/// Same bound as the core parity test: max |ours − ref| / max(|ref|, 1e-300).
const CLI_PARITY_RTOL: f64 = 1e-9;

fn list(v: &Value) -> String {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number").to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// A heterodyne config (grouped parameters) reproducing a model fixture.
fn config_for_fixture(json: &Value) -> String {
    let p = &json["params"];
    let n = json["n_frames"].as_u64().expect("n");
    let start = json.get("start_frame").and_then(Value::as_u64).unwrap_or(1);
    let end = json
        .get("end_frame")
        .and_then(Value::as_u64)
        .unwrap_or(start + n - 1);
    let origin = json
        .get("time_origin")
        .and_then(Value::as_str)
        .unwrap_or("window");
    let groups: [(&str, &[&str]); 5] = [
        ("reference", &["D0_ref", "alpha_ref", "D_offset_ref"]),
        ("sample", &["D0_sample", "alpha_sample", "D_offset_sample"]),
        ("velocity", &["v0", "beta", "v_offset"]),
        ("fraction", &["f0", "f1", "f2", "f3"]),
        ("angle", &["phi0"]),
    ];
    let mut yaml = format!(
        "analyzer_parameters:\n  dt: {}\n  start_frame: {start}\n  end_frame: {end}\n  time_origin: {origin}\n  scattering:\n    wavevector_q: {}\n    phi_angles: [{}]\nparameters:\n",
        json["dt"],
        json["q"],
        list(&json["phi_angles_deg"])
    );
    for (group, names) in groups {
        yaml += &format!("  {group}:\n");
        for name in names {
            // Wide bounds: the fixtures draw values from the registry ranges.
            yaml += &format!("    {name}: {{value: {}}}\n", p[name]);
        }
    }
    yaml
}

fn max_rel_err(ours: &[f64], reference: &[f64]) -> f64 {
    ours.iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1e-300))
        .fold(0.0, f64::max)
}

#[test]
fn simulate_reproduces_every_model_fixture() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model_dir = data_dir().join("model");
    let mut cases = 0;
    for entry in std::fs::read_dir(&model_dir).expect("model dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let config = dir.path().join("c.yaml");
        std::fs::write(&config, config_for_fixture(&json)).expect("write config");
        let out = heterodyne(
            dir.path(),
            &[
                "simulate",
                "--config",
                "c.yaml",
                "--out",
                "c2.npy",
                "--contrast",
                &list(&json["contrast"]),
                "--offset",
                &list(&json["offset"]),
                "--quiet",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (shape, ours) = read_npy(&dir.path().join("c2.npy"));
        let (ref_shape, reference) =
            read_npy(&model_dir.join(json["c2_file"].as_str().expect("c2_file")));
        assert_eq!(shape, ref_shape);
        let err = max_rel_err(&ours, &reference);
        println!("{}: CLI max rel err {err:.3e}", path.display());
        assert!(err <= CLI_PARITY_RTOL, "{}: {err:e}", path.display());
        cases += 1;
    }
    assert_eq!(cases, 4, "expected the four model fixtures");
}

const SMALL: &str = "analyzer_parameters:\n  dt: 0.5\n  start_frame: 1\n  end_frame: 40\n  scattering:\n    wavevector_q: 0.0054\n    phi_angles: [0, 45, 90]\nparameters:\n  reference:\n    D0_ref: {value: 500}\n  sample:\n    D0_sample: {value: 2000}\n  velocity:\n    v0: {value: 80}\n";

fn write_config(dir: &Path, text: &str) {
    std::fs::write(dir.join("c.yaml"), text).expect("write config");
}

#[test]
fn every_output_format_holds_the_same_matrices() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), SMALL);
    for (out, layout) in [
        ("a.npz", "flat"),
        ("a.npy", "flat"),
        ("a.h5", "flat"),
        ("u.h5", "aps-u"),
    ] {
        let o = heterodyne(
            dir.path(),
            &[
                "simulate", "--config", "c.yaml", "--out", out, "--layout", layout, "--quiet",
            ],
        );
        assert!(
            o.status.success(),
            "{out}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let (shape, npz) = read_npz(&dir.path().join("a.npz"), "c2");
    assert_eq!(shape, vec![3, 40, 40]);
    let (_, t) = read_npz(&dir.path().join("a.npz"), "t");
    assert_eq!(t[0], 0.5);
    let (_, npy) = read_npy(&dir.path().join("a.npy"));
    assert_eq!(npz, npy);

    let flat = hdf5::File::open(dir.path().join("a.h5")).expect("open flat");
    let c2: Vec<f64> = flat.dataset("c2").expect("c2").read_raw().expect("read");
    assert_eq!(c2, npz);
    let phi: Vec<f64> = flat.dataset("phi").expect("phi").read_raw().expect("read");
    assert_eq!(phi, vec![0.0, 45.0, 90.0]);

    let aps = hdf5::File::open(dir.path().join("u.h5")).expect("open aps-u");
    let bins: Vec<i64> = aps
        .dataset("xpcs/twotime/processed_bins")
        .expect("bins")
        .read_raw()
        .expect("read");
    assert_eq!(bins, vec![1, 2, 3]);
    let n = 40;
    for a in 0..3 {
        let m: Vec<f64> = aps
            .dataset(&format!("xpcs/twotime/correlation_map/c2_{:05}", a + 1))
            .expect("map")
            .read_raw()
            .expect("read");
        for i in 0..n {
            for j in 0..n {
                let expected = if j >= i {
                    npz[(a * n + i) * n + j]
                } else {
                    0.0
                };
                assert_eq!(m[i * n + j], expected, "angle {a} ({i},{j})");
            }
        }
    }
}

#[test]
fn noise_is_reproducible_symmetric_and_of_the_requested_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), SMALL);
    let run = |out: &str, seed: &str| {
        let o = heterodyne(
            dir.path(),
            &[
                "simulate", "--config", "c.yaml", "--out", out, "--noise", "0.01", "--seed", seed,
                "--quiet",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        read_npy(&dir.path().join(out)).1
    };
    let clean = {
        let o = heterodyne(
            dir.path(),
            &[
                "simulate", "--config", "c.yaml", "--out", "c.npy", "--quiet",
            ],
        );
        assert!(o.status.success());
        read_npy(&dir.path().join("c.npy")).1
    };
    let a = run("a.npy", "5");
    let b = run("b.npy", "5");
    let c = run("d.npy", "6");
    assert_eq!(a, b);
    assert_ne!(a, c);
    let n = 40;
    let z: Vec<f64> = a
        .iter()
        .zip(&clean)
        .map(|(x, c)| (x / c - 1.0) / 0.01)
        .collect();
    for p in 0..3 {
        for i in 0..n {
            for j in 0..n {
                assert_eq!(a[(p * n + i) * n + j], a[(p * n + j) * n + i]);
            }
        }
    }
    let var = z.iter().map(|v| v * v).sum::<f64>() / z.len() as f64;
    // 2460 independent draws: the sample variance is within ±0.1 of 1 with > 99.9 %.
    assert!((var - 1.0).abs() < 0.1, "noise variance {var}");
}

#[test]
fn time_origin_flag_changes_the_grid() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        dir.path(),
        &SMALL.replace(
            "start_frame: 1\n  end_frame: 40",
            "start_frame: 11\n  end_frame: 50",
        ),
    );
    for origin in ["window", "absolute"] {
        let out = format!("{origin}.npz");
        let o = heterodyne(
            dir.path(),
            &[
                "simulate",
                "--config",
                "c.yaml",
                "--out",
                &out,
                "--time-origin",
                origin,
                "--quiet",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (_, tw) = read_npz(&dir.path().join("window.npz"), "t");
    let (_, ta) = read_npz(&dir.path().join("absolute.npz"), "t");
    assert_eq!(tw[0], 0.5);
    assert_eq!(ta[0], 11.0 * 0.5);
}

#[test]
fn bad_input_exits_2_with_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cases: Vec<(String, Vec<&str>, Vec<&str>)> = vec![
        (
            SMALL.replace("D0_ref: {value: 500}", "D0_reference_typo: {value: 500}"),
            vec![],
            vec![
                "parameters.reference.D0_reference_typo",
                "unknown parameter",
            ],
        ),
        (
            SMALL.replace("D0_ref: {value: 500}", "D0_ref: {value: 5e7}"),
            vec![],
            vec!["D0_ref", "outside its bounds"],
        ),
        (
            SMALL.replace("dt: 0.5", "dt: 0"),
            vec![],
            vec!["analyzer_parameters.dt", "> 0"],
        ),
        (
            SMALL.replace("dt: 0.5", "dt: -1"),
            vec![],
            vec!["analyzer_parameters.dt"],
        ),
        (
            SMALL.replace("wavevector_q: 0.0054", "wavevector_q: 0"),
            vec![],
            vec!["wavevector_q", "> 0"],
        ),
        (
            SMALL.replace("end_frame: 40", "end_frame: 0"),
            vec![],
            vec!["analyzer_parameters.end_frame", "before start_frame"],
        ),
        (
            SMALL.to_string(),
            vec!["--contrast", "2"],
            vec!["--contrast", "outside its bounds"],
        ),
        (
            SMALL.to_string(),
            vec!["--offset", "1,1"],
            vec!["--offset", "2 values given for 3 angles"],
        ),
        (SMALL.to_string(), vec!["--noise", "-1"], vec!["--noise"]),
        (
            "parameters: [1, 2\n".to_string(),
            vec![],
            vec!["c.yaml", "YAML"],
        ),
    ];
    for (config, extra, needles) in cases {
        write_config(d, &config);
        let mut args = vec!["simulate", "--config", "c.yaml", "--out", "x.npz"];
        args.extend(extra);
        let out = heterodyne(d, &args);
        assert_fails_with(&out, &needles);
        assert!(!d.join("x.npz").exists());
    }
    // Unwritable output: a directory that does not exist, and a read-only one.
    write_config(d, SMALL);
    let out = heterodyne(
        d,
        &["simulate", "--config", "c.yaml", "--out", "missing/x.npz"],
    );
    assert_fails_with(&out, &["missing/x.npz", "does not exist"]);
    let out = heterodyne(d, &["simulate", "--config", "c.yaml", "--out", "x.csv"]);
    assert_fails_with(&out, &["x.csv", "extension"]);
    // No temporary files are left behind by the failures.
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

//! Bad input to `heterodyne fit`: exit code 2, one line naming the file, dataset or key
//! and the problem, and no output directory left behind.

use std::path::Path;

use crate::common::{assert_fails_with, data_dir, heterodyne};
use crate::fit::{config, truth_json};

fn small_config(data: &Path) -> String {
    let truth = truth_json(&data_dir().join("datasets"), "small");
    config(data, &truth, &truth["suggested_start"], "")
}

fn write_flat(path: &Path, c2: &ndarray::Array3<f64>) {
    let f = hdf5::File::create(path).expect("create");
    f.new_dataset_builder()
        .with_data(c2)
        .create("c2")
        .expect("c2");
    f.new_dataset_builder()
        .with_data(&ndarray::arr1(&[0.0, 45.0, 90.0]))
        .create("phi")
        .expect("phi");
}

/// Runs a failing fit and checks the message and that nothing was written.
fn fails(dir: &Path, config_text: &str, extra: &[&str], needles: &[&str]) {
    std::fs::write(dir.join("c.yaml"), config_text).expect("config");
    let mut args = vec![
        "fit",
        "--config",
        "c.yaml",
        "--output-dir",
        "out",
        "--no-plots",
    ];
    args.extend(extra);
    let out = heterodyne(dir, &args);
    assert_fails_with(&out, needles);
    assert!(
        !dir.join("out").exists(),
        "an output directory was left: {needles:?}"
    );
    let stray: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".heterodyne-output"))
        .collect();
    assert!(stray.is_empty(), "staging left behind: {stray:?}");
}

#[test]
fn bad_files_are_named_with_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    fails(
        d,
        &small_config(&d.join("missing.h5")),
        &[],
        &["missing.h5", "not found"],
    );

    std::fs::write(d.join("text.h5"), "not hdf5 at all").expect("write");
    fails(
        d,
        &small_config(&d.join("text.h5")),
        &[],
        &["text.h5", "not a readable HDF5 file"],
    );

    let other = d.join("other.h5");
    {
        let f = hdf5::File::create(&other).expect("create");
        f.new_dataset_builder()
            .with_data(&ndarray::arr1(&[1.0, 2.0]))
            .create("intensity")
            .expect("ds");
        f.create_group("meta").expect("group");
    }
    fails(
        d,
        &small_config(&other),
        &[],
        &["other.h5", "no known two-time layout", "intensity", "meta"],
    );

    let mut nan = ndarray::Array3::<f64>::from_elem((3, 100, 100), 1.05);
    nan[[1, 40, 41]] = f64::NAN;
    write_flat(&d.join("nan.h5"), &nan);
    fails(
        d,
        &small_config(&d.join("nan.h5")),
        &[],
        &["nan.h5", "non-finite", "φ = 45"],
    );

    let mut inf = ndarray::Array3::<f64>::from_elem((3, 100, 100), 1.05);
    inf[[0, 3, 7]] = f64::INFINITY;
    write_flat(&d.join("inf.h5"), &inf);
    fails(
        d,
        &small_config(&d.join("inf.h5")),
        &[],
        &["inf.h5", "non-finite"],
    );

    write_flat(
        &d.join("rect.h5"),
        &ndarray::Array3::<f64>::from_elem((3, 100, 90), 1.0),
    );
    fails(
        d,
        &small_config(&d.join("rect.h5")),
        &[],
        &["rect.h5", "c2", "square"],
    );

    std::fs::write(d.join("data.csv"), "1,2").expect("write");
    fails(
        d,
        &small_config(&d.join("data.csv")),
        &[],
        &["data.csv", "unknown data format"],
    );
}

#[test]
fn bad_settings_are_named_with_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let data = data_dir().join("datasets/small_aps_u.h5");
    let base = small_config(&data);
    fails(
        d,
        &base.replace("end_frame: 100", "end_frame: 150"),
        &[],
        &["small_aps_u.h5", "end_frame", "beyond the 100 frames"],
    );
    fails(
        d,
        &base.replace(
            "D0_ref: {value: 550.0, min: 100, max: 50000}",
            "D0_ref: {value: 550.0, min: 5e4, max: 100}",
        ),
        &[],
        &["D0_ref", "must be below max"],
    );
    fails(
        d,
        &base.replace("D0_ref: {value: 550.0", "D0_ref: {value: 5.0"),
        &[],
        &["D0_ref", "outside its bounds"],
    );
    fails(
        d,
        &base.replace("    D0_ref:", "    D0_reff:"),
        &[],
        &["parameters.reference.D0_reff", "unknown parameter"],
    );
    fails(
        d,
        &base.replace("wavevector_q: 0.0054", "wavevector_q: 0.02"),
        &[],
        &["small_aps_u.h5", "no q-bin"],
    );
    let strict = format!(
        "{base}phi_filtering:\n  enabled: true\n  target_ranges:\n    - {{min_angle: 20, max_angle: 30}}\n  fallback_to_all_angles: false\n"
    );
    fails(d, &strict, &[], &["phi_filtering", "match none"]);
    // With the fallback the same filter fits every angle and says so.
    let lenient = strict.replace(
        "fallback_to_all_angles: false",
        "fallback_to_all_angles: true",
    );
    std::fs::write(d.join("c.yaml"), lenient).expect("config");
    let out = heterodyne(
        d,
        &[
            "fit",
            "--config",
            "c.yaml",
            "--output-dir",
            "ok",
            "--no-plots",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("fallback_to_all_angles"));
}

#[test]
fn config_template_validates_and_bad_configs_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let out = heterodyne(d, &["config", "--output", "t.yaml"]);
    assert!(out.status.success());
    let out = heterodyne(d, &["config", "--validate", "t.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(d.join("t.yaml")).expect("read");
    std::fs::write(
        d.join("bad.yaml"),
        text.replace("per_angle_mode: auto", "per_angle_mode: sometimes"),
    )
    .expect("write");
    let out = heterodyne(d, &["config", "--validate", "bad.yaml"]);
    assert_fails_with(
        &out,
        &["bad.yaml", "optimization.nlsq.per_angle_mode", "sometimes"],
    );
}

#[test]
fn multitau_result_files_are_rejected_clearly() {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/real");
    let file = real.join("E0173_H06-c6c5-4_a0009_f100000_r00001_results.hdf");
    if !file.exists() {
        println!("skipped: {} is absent", file.display());
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    fails(
        dir.path(),
        &small_config(&file),
        &[],
        &["E0173", "multitau"],
    );
}

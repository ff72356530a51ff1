//! `heterodyne hw`: the report, `--json`, and `--export` evaluated by a real shell.

use crate::common::heterodyne;

#[test]
fn hw_reports_json_and_evaluable_exports() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = heterodyne(dir.path(), &["hw"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "physical cores",
        "hardware threads",
        "NUMA node",
        "recommended",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    println!("{text}");

    let out = heterodyne(dir.path(), &["hw", "--json"]);
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let cores = j["cores"].as_u64().expect("cores");
    let threads = j["hardware_threads"].as_u64().expect("threads");
    assert!(cores >= 1 && threads >= cores, "{j}");
    assert!(!j["numa_nodes"].as_array().expect("numa").is_empty());
    let r = &j["recommended"];
    let (nlsq, workers, per) = (
        r["nlsq_threads"].as_u64().expect("nlsq"),
        r["cmc_workers"].as_u64().expect("workers"),
        r["threads_per_worker"].as_u64().expect("per"),
    );
    assert_eq!(nlsq, cores, "NLSQ threads = physical cores");
    assert!(workers * per <= cores, "workers × threads ≤ cores: {r}");

    // eval the exports in bash and read the variables back.
    let bin = env!("CARGO_BIN_EXE_heterodyne");
    let script = format!(
        "eval \"$('{bin}' hw --export)\" && echo \"$RAYON_NUM_THREADS $HETERODYNE_WORKERS $HETERODYNE_THREADS_PER_WORKER $HETERODYNE_PIN\""
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let want = format!("{nlsq} {workers} {per} {}", r["pin"].as_str().expect("pin"));
    assert_eq!(got, want);
}

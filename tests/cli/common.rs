//! Running the binary and reading what it wrote.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `tests/data` of the workspace.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data")
}

/// Runs `heterodyne` with `args` in `dir`.
pub fn heterodyne(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heterodyne"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run heterodyne")
}

/// Asserts a failed run: exit code 2 and exactly one line on stderr that contains all of
/// `needles`.
pub fn assert_fails_with(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("warning:"))
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {stderr}");
    for n in needles {
        assert!(lines[0].contains(n), "'{n}' not in: {}", lines[0]);
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Reads a little-endian float64 `.npy`: (shape, values).
pub fn read_npy(path: &Path) -> (Vec<usize>, Vec<f64>) {
    use ndarray_npy::ReadNpyExt;
    let file = std::fs::File::open(path).expect("open npy");
    let a = ndarray::ArrayD::<f64>::read_npy(file).expect("read npy");
    (a.shape().to_vec(), a.iter().copied().collect())
}

/// Reads one array of a `.npz`.
pub fn read_npz(path: &Path, name: &str) -> (Vec<usize>, Vec<f64>) {
    let file = std::fs::File::open(path).expect("open npz");
    let mut npz = ndarray_npy::NpzReader::new(file).expect("npz");
    let a: ndarray::ArrayD<f64> = npz.by_name(name).expect("array");
    (a.shape().to_vec(), a.iter().copied().collect())
}

//! The short calibration check (the benchmark `calibration` runs ≥ 20 replicates): six
//! replicate datasets, truths drawn from the prior the fits use, each through
//! `heterodyne fit --method both`. A
//! calibrated 90 % interval misses in at most 3 of 6 replicates with probability > 0.99,
//! so the per-quantity floor of 3/6 only fails for intervals far too narrow; the pooled
//! coverage (90 rows) must lie in 0.75–1.0, and divergent draws stay under 1 % (the
//! 100-replicate benchmark saw 388 in 800 000 draws, in a few replicates).

#[path = "../../native/benches/common/calibration.rs"]
#[allow(dead_code)]
mod common;

use std::path::Path;

#[test]
fn posterior_intervals_cover_the_truth() {
    let dir = tempfile::tempdir().expect("tmp");
    let bin = Path::new(env!("CARGO_BIN_EXE_heterodyne"));
    let (rows, divergences) =
        common::calibrate(bin, dir.path(), 6, Some(500), 2).expect("calibration runs");
    print!("{}", common::table(&rows));
    assert!(
        divergences <= 6 * 4 * 500 / 100,
        "{divergences} divergent draws over the replicates"
    );
    for r in &rows {
        assert!(
            r.covered >= 3,
            "{}: covered {}/{}",
            r.name,
            r.covered,
            r.replicates
        );
    }
    let (c, n) = rows
        .iter()
        .fold((0, 0), |(c, n), r| (c + r.covered, n + r.replicates));
    let pooled = c as f64 / n as f64;
    println!("pooled 90 % coverage {c}/{n} = {pooled:.3}");
    assert!((0.75..=1.0).contains(&pooled), "pooled coverage {pooled}");
}

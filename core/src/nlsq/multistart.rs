//! Latin-hypercube starting points inside the bounds, for the global escape of
//! `multistart`.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `n` points in `[lo, hi]`, one per stratum along every axis; axes flagged in
/// `log_axes` (with a positive lower bound) are stratified in log space.
pub fn latin_hypercube(
    n: usize,
    lo: &[f64],
    hi: &[f64],
    log_axes: &[bool],
    seed: u64,
) -> Vec<Vec<f64>> {
    let dim = lo.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut points = vec![vec![0.0; dim]; n];
    for k in 0..dim {
        let mut strata: Vec<usize> = (0..n).collect();
        // Fisher–Yates with the seeded stream.
        for i in (1..n).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            strata.swap(i, j);
        }
        let log = log_axes[k] && lo[k] > 0.0;
        for (i, point) in points.iter_mut().enumerate() {
            let u = (strata[i] as f64 + uniform(&mut rng)) / n as f64;
            point[k] = if log {
                (lo[k].ln() + u * (hi[k].ln() - lo[k].ln())).exp()
            } else {
                lo[k] + u * (hi[k] - lo[k])
            }
            .clamp(lo[k], hi[k]);
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_per_stratum_reproducibly() {
        let pts = latin_hypercube(10, &[0.0, 100.0], &[1.0, 1e6], &[false, true], 3);
        assert_eq!(
            pts,
            latin_hypercube(10, &[0.0, 100.0], &[1.0, 1e6], &[false, true], 3)
        );
        let mut strata: Vec<usize> = pts.iter().map(|p| (p[0] * 10.0) as usize).collect();
        strata.sort();
        assert_eq!(strata, (0..10).collect::<Vec<_>>());
        let mut decades: Vec<usize> = pts
            .iter()
            .map(|p| ((p[1] / 100.0).log10() * 2.5) as usize)
            .collect();
        decades.sort();
        assert_eq!(decades, (0..10).collect::<Vec<_>>());
    }
}

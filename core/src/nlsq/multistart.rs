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

/// `n` starting points: `x0` itself, then points equal to `x0` except for one pair of
/// parameters, which take Latin-hypercube values in `[lo, hi]`. Pairs are visited in a
/// seeded random order (all pairs before any repeats).
pub fn sparse_starts(
    x0: &[f64],
    lo: &[f64],
    hi: &[f64],
    log_axes: &[bool],
    n: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    let p = x0.len();
    let mut points = vec![x0.to_vec()];
    if n <= 1 || p == 0 {
        return points;
    }
    let values = latin_hypercube(n - 1, lo, hi, log_axes, seed);
    let mut pairs: Vec<(usize, usize)> = (0..p)
        .flat_map(|a| (a..p).map(move |b| (a, b)))
        .filter(|(a, b)| a != b || p == 1)
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15);
    for i in (1..pairs.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        pairs.swap(i, j);
    }
    for (s, v) in values.into_iter().enumerate() {
        let (a, b) = pairs[s % pairs.len()];
        let mut x = x0.to_vec();
        x[a] = v[a];
        x[b] = v[b];
        points.push(x);
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

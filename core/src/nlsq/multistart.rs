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

/// `n` starting points: `x0` itself; then points equal to `x0` except for one
/// parameter moved to the lower edge of its box, axis by axis; then the same at the
/// upper edge (edges equal to `x0` are skipped); then pairs of parameters moved to
/// Latin-hypercube values within `[lo, hi]`, pairs in a seeded random order.
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
    for edge in [lo, hi] {
        for k in 0..p {
            if points.len() >= n {
                return points;
            }
            if edge[k] != x0[k] {
                let mut x = x0.to_vec();
                x[k] = edge[k];
                points.push(x);
            }
        }
    }
    if points.len() >= n {
        return points;
    }
    let rest = n - points.len();
    let values = latin_hypercube(rest, lo, hi, log_axes, seed.wrapping_add(2));
    let mut pairs: Vec<(usize, usize)> = (0..p)
        .flat_map(|a| (a + 1..p).map(move |b| (a, b)))
        .collect();
    if pairs.is_empty() {
        pairs.push((0, 0));
    }
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
    fn sparse_starts_probe_every_edge_then_pairs() {
        let x0 = [0.5, 10.0];
        let pts = sparse_starts(&x0, &[0.0, 5.0], &[1.0, 20.0], &[false, true], 7, 1);
        assert_eq!(pts[0], vec![0.5, 10.0]);
        assert_eq!(
            pts[1..5],
            [
                vec![0.0, 10.0],
                vec![0.5, 5.0],
                vec![1.0, 10.0],
                vec![0.5, 20.0]
            ]
        );
        assert_eq!(pts.len(), 7);
        assert!(
            pts[5].iter().zip(&x0).all(|(a, b)| a != b),
            "a pair moves both parameters"
        );
    }

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

//! Reproducible multiplicative noise for simulated c2: `c2·(1 + rel·Z)` with Z standard
//! normal and symmetric (`Z[i,j] = Z[j,i]`), as the shared fixtures were made.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Applies noise in place to `c2` (`[phi][t1][t2]`, `n×n` matrices). Draw order: angle by
/// angle, upper triangle (diagonal included) row by row; ChaCha8 keeps the stream the same
/// across platforms and crate versions.
pub fn add_symmetric_noise(c2: &mut [f64], n: usize, rel: f64, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for m in c2.chunks_exact_mut(n * n) {
        for i in 0..n {
            for j in i..n {
                let z: f64 = StandardNormal.sample(&mut rng);
                m[i * n + j] *= 1.0 + rel * z;
                if j != i {
                    m[j * n + i] = m[i * n + j];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_reproducible_and_scaled() {
        let n = 60;
        let mut a = vec![2.0; 2 * n * n];
        let mut b = a.clone();
        add_symmetric_noise(&mut a, n, 0.01, 7);
        add_symmetric_noise(&mut b, n, 0.01, 7);
        assert_eq!(a, b);
        for i in 0..n {
            for j in 0..n {
                assert_eq!(a[i * n + j], a[j * n + i]);
            }
        }
        let z: Vec<f64> = a[..n * n].iter().map(|v| (v / 2.0 - 1.0) / 0.01).collect();
        let var = z.iter().map(|x| x * x).sum::<f64>() / z.len() as f64;
        assert!((var - 1.0).abs() < 0.1, "variance {var}");
    }
}

//! Convergence diagnostics of MCMC draws (Vehtari, Gelman, Simpson, Carpenter & Bürkner
//! 2021, "Rank-normalization, folding, and localization: an improved R̂"):
//! rank-normalised split R̂ (the larger of the bulk and the folded-tail value), bulk and
//! tail effective sample sizes with Geyer's initial monotone sequence.
//!
//! Draws are given per chain, `chains[c][t]`; chains of unequal length are cut to the
//! shortest.

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative error
/// below 1.2e-9 — far finer than rank normalisation needs).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let p_low = 0.02425;
    if p < p_low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - p_low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

/// Chains split in halves, cut to a common even length.
fn split(chains: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = chains.iter().map(Vec::len).min().unwrap_or(0) / 2 * 2;
    chains
        .iter()
        .flat_map(|c| [c[..n / 2].to_vec(), c[n / 2..n].to_vec()])
        .collect()
}

/// Rank-normalised draws: pooled average ranks mapped through Φ⁻¹((r − 3/8)/(S + 1/4)).
fn rank_normalise(chains: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut all: Vec<(f64, usize, usize)> = chains
        .iter()
        .enumerate()
        .flat_map(|(c, ch)| ch.iter().enumerate().map(move |(t, &v)| (v, c, t)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let s = all.len() as f64;
    let mut out: Vec<Vec<f64>> = chains.iter().map(|c| vec![0.0; c.len()]).collect();
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Ties share their average rank (1-based).
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let z = normal_quantile((rank - 0.375) / (s + 0.25));
        for &(_, c, t) in &all[i..=j] {
            out[c][t] = z;
        }
        i = j + 1;
    }
    out
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn var(x: &[f64]) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() as f64 - 1.0)
}

/// Classic R̂ of (already split) chains.
fn rhat_basic(chains: &[Vec<f64>]) -> f64 {
    let n = chains[0].len() as f64;
    let means: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
    let w = chains.iter().map(|c| var(c)).sum::<f64>() / chains.len() as f64;
    let b_over_n = var(&means);
    if w <= 0.0 {
        return if b_over_n > 0.0 { f64::INFINITY } else { 1.0 };
    }
    (((n - 1.0) / n * w + b_over_n) / w).sqrt()
}

/// Rank-normalised split R̂: the larger of the bulk value and the value for the draws
/// folded about their median. NaN with fewer than 4 draws per chain.
pub fn rhat(chains: &[Vec<f64>]) -> f64 {
    let s = split(chains);
    if s.is_empty() || s[0].len() < 2 {
        return f64::NAN;
    }
    let bulk = rhat_basic(&rank_normalise(&s));
    let mut pooled: Vec<f64> = s.iter().flatten().copied().collect();
    pooled.sort_by(f64::total_cmp);
    let median = pooled[pooled.len() / 2];
    let folded: Vec<Vec<f64>> = s
        .iter()
        .map(|c| c.iter().map(|v| (v - median).abs()).collect())
        .collect();
    bulk.max(rhat_basic(&rank_normalise(&folded)))
}

/// Effective sample size of (already split) chains by Geyer's initial monotone sequence
/// on the multi-chain autocorrelation.
fn ess_basic(chains: &[Vec<f64>]) -> f64 {
    let m = chains.len();
    let n = chains[0].len();
    let means: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
    // Autocovariances per chain (direct sums; chains here are thousands of draws).
    let acov = |c: &[f64], mu: f64, lag: usize| -> f64 {
        (0..n - lag)
            .map(|t| (c[t] - mu) * (c[t + lag] - mu))
            .sum::<f64>()
            / n as f64
    };
    let w = chains.iter().map(|c| var(c)).sum::<f64>() / m as f64;
    let var_plus = (n as f64 - 1.0) / n as f64 * w + if m > 1 { var(&means) } else { 0.0 };
    if var_plus <= 0.0 {
        return f64::NAN;
    }
    let rho = |lag: usize| -> f64 {
        let mean_acov = chains
            .iter()
            .zip(&means)
            .map(|(c, &mu)| acov(c, mu, lag))
            .sum::<f64>()
            / m as f64;
        1.0 - (w - mean_acov) / var_plus
    };
    let mut sum = 0.0;
    let mut prev_pair = f64::INFINITY;
    let mut t = 0;
    while t + 1 < n {
        let pair = rho(t) + rho(t + 1);
        if pair <= 0.0 {
            break;
        }
        let pair = pair.min(prev_pair);
        sum += pair;
        prev_pair = pair;
        t += 2;
    }
    let tau = (-1.0 + 2.0 * sum).max(1.0 / ((m * n) as f64).log10().max(1.0));
    (m * n) as f64 / tau
}

/// Energy Bayesian fraction of missing information of one chain:
/// `Σ (E_t − E_{t−1})² / Σ (E_t − Ē)²` (Betancourt 2016). Below 0.3 the momentum
/// resampling explores the energy distribution poorly (heavy tails, funnels).
pub fn bfmi(energy: &[f64]) -> f64 {
    let n = energy.len();
    if n < 2 {
        return f64::NAN;
    }
    let mean = energy.iter().sum::<f64>() / n as f64;
    let num: f64 = energy.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
    let den: f64 = energy.iter().map(|e| (e - mean).powi(2)).sum();
    num / den
}

/// Bulk effective sample size (rank-normalised split chains).
pub fn ess_bulk(chains: &[Vec<f64>]) -> f64 {
    let s = split(chains);
    if s.is_empty() || s[0].len() < 2 {
        return f64::NAN;
    }
    ess_basic(&rank_normalise(&s))
}

/// Tail effective sample size: the smaller of the ESS of the indicators of the 5 % and
/// 95 % quantiles.
pub fn ess_tail(chains: &[Vec<f64>]) -> f64 {
    let s = split(chains);
    if s.is_empty() || s[0].len() < 2 {
        return f64::NAN;
    }
    let mut pooled: Vec<f64> = s.iter().flatten().copied().collect();
    pooled.sort_by(f64::total_cmp);
    let q = |p: f64| pooled[((pooled.len() - 1) as f64 * p).round() as usize];
    let (q05, q95) = (q(0.05), q(0.95));
    let ind = |cut: f64| -> Vec<Vec<f64>> {
        s.iter()
            .map(|c| c.iter().map(|&v| f64::from(u8::from(v <= cut))).collect())
            .collect()
    };
    ess_basic(&ind(q05)).min(ess_basic(&ind(q95)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    fn normal(rng: &mut ChaCha8Rng) -> f64 {
        let u = |rng: &mut ChaCha8Rng| ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let (a, b) = (u(rng), u(rng));
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    }

    fn ar1(chains: usize, n: usize, phi: f64, shift: &[f64], seed: u64) -> Vec<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..chains)
            .map(|c| {
                let mut x = normal(&mut rng);
                (0..n)
                    .map(|_| {
                        x = phi * x + (1.0 - phi * phi).sqrt() * normal(&mut rng);
                        x + shift[c]
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn bfmi_of_independent_and_sticky_energies() {
        // Independent energies: E(ΔE²) = 2 Var E → 2; AR(1) with ρ: 2(1 − ρ).
        let iid = &ar1(1, 20_000, 0.0, &[0.0], 1)[0];
        assert!((bfmi(iid) - 2.0).abs() < 0.05, "{}", bfmi(iid));
        let sticky = &ar1(1, 20_000, 0.9, &[0.0], 2)[0];
        assert!((bfmi(sticky) - 0.2).abs() < 0.03, "{}", bfmi(sticky));
        assert!(bfmi(&[1.0]).is_nan());
    }

    #[test]
    fn quantile_inverts_the_cdf() {
        assert_eq!(normal_quantile(0.5), 0.0);
        assert!((normal_quantile(0.975) - 1.959963984540054).abs() < 1e-8);
        assert!((normal_quantile(1e-6) + 4.753424308822899).abs() < 1e-8);
        assert!((normal_quantile(0.3) + 0.5244005127080407).abs() < 1e-8);
    }

    #[test]
    fn independent_draws_mix_and_count_fully() {
        let c = ar1(4, 1000, 0.0, &[0.0; 4], 1);
        let (r, bulk, tail) = (rhat(&c), ess_bulk(&c), ess_tail(&c));
        assert!(r < 1.01, "{r}");
        assert!((bulk / 4000.0 - 1.0).abs() < 0.15, "bulk {bulk}");
        assert!(tail > 2500.0, "tail {tail}");
    }

    #[test]
    fn autocorrelation_shrinks_the_ess() {
        // AR(1) with φ = 0.9: τ = (1 + φ)/(1 − φ) = 19.
        let c = ar1(4, 5000, 0.9, &[0.0; 4], 2);
        let bulk = ess_bulk(&c);
        let expected = 20_000.0 / 19.0;
        assert!(
            (bulk / expected - 1.0).abs() < 0.25,
            "bulk {bulk} vs {expected}"
        );
    }

    #[test]
    fn separated_chains_are_flagged() {
        let c = ar1(4, 1000, 0.0, &[0.0, 0.0, 0.0, 1.0], 3);
        assert!(rhat(&c) > 1.1, "{}", rhat(&c));
    }
}

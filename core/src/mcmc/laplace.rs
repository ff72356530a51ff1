//! The Laplace approximation of a posterior at its mode: the mode itself (from the NLSQ
//! optimum by damped Gauss–Newton on the log posterior), and its marginal standard
//! deviations, which size the sampler's coordinates (the width of each clamp's linear
//! part, the units of the rate blocks' ridge coordinates). Only the sampler's efficiency
//! depends on them, never what it samples.
//!
//! The precision is the Gauss–Newton Hessian of the likelihood plus the priors' precision
//! (so directions the data do not constrain get the prior's width):
//! `H = JᵀWJ/(2σ²) + w·diag(1/var_prior)`, with JᵀWJ over both triangles (the likelihood
//! counts each independent cell once) and `w` the prior's power on a shard.

use super::prior::Prior;
use crate::exec::Par;
use crate::nlsq::FitProblem;
use crate::nlsq::gradient::chi2_and_gradient;
use crate::nlsq::normal::normal_equations;
use crate::nlsq::strategy::Strategy;

/// The covariance (P×P, row-major) at `x0` for noise `sigma`, prior variances
/// `prior_var` (each raised to the power `prior_weight`); `None` when the precision is
/// not positive definite (then the caller falls back to the priors' widths).
pub fn covariance(
    problem: &FitProblem,
    x0: &[f64],
    sigma: f64,
    prior_var: &[f64],
    prior_weight: f64,
) -> Option<Vec<f64>> {
    let p = x0.len();
    if !(sigma.is_finite() && sigma > 0.0) || prior_var.len() != p {
        return None;
    }
    // One row at a time: the Hessian is needed once per shard, at any problem size.
    let ne = normal_equations(problem, x0, Strategy::Streaming, 4096, Par::Seq);
    let scale = 1.0 / (2.0 * sigma * sigma);
    let h = nalgebra::DMatrix::from_fn(p, p, |i, j| {
        let prior = if i == j && prior_var[i] > 0.0 && prior_var[i].is_finite() {
            prior_weight / prior_var[i]
        } else {
            0.0
        };
        ne.jtj[i * p + j] * scale + prior
    });
    if h.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let chol = h.cholesky()?;
    let cov = chol.inverse();
    let ok = (0..p).all(|k| cov[(k, k)].is_finite() && cov[(k, k)] > 0.0);
    ok.then(|| (0..p * p).map(|k| cov[(k / p, k % p)]).collect())
}

/// The posterior's mode at noise `sigma`, from `x0` (inside `[lo, hi]`), by
/// Levenberg–Marquardt on −log p: the Gauss–Newton Hessian of the likelihood plus the
/// priors' precision, each step accepted only where −log p falls.
///
/// Why not the NLSQ optimum itself: where the data pin only a combination (J(t) =
/// D0·t^α + D_offset with α near 0 pins D0 + D_offset), least squares stops anywhere on
/// the ridge — `D_offset = −4e4` for a prior σ of 1e3 — while the posterior sits where the
/// prior puts it. Sampling coordinates anchored at the optimum then miss the bulk, and NUTS
/// diverges crossing the gap.
pub fn mode(
    problem: &FitProblem,
    x0: &[f64],
    sigma: f64,
    priors: &[Prior],
    (lo, hi): (&[f64], &[f64]),
    prior_var: &[f64],
) -> Vec<f64> {
    let p = x0.len();
    if !(sigma.is_finite() && sigma > 0.0) || priors.len() != p || prior_var.len() != p {
        return x0.to_vec();
    }
    let inv_s2 = 1.0 / (sigma * sigma);
    let margin = |k: usize| 1e-9 * (hi[k] - lo[k]);
    let inside = |x: &mut [f64]| {
        for k in 0..p {
            let m = margin(k);
            if m.is_finite() {
                x[k] = x[k].clamp(lo[k] + m, hi[k] - m);
            }
        }
    };
    // −log p up to a constant (likelihood counts each independent cell once), and its
    // gradient.
    let objective = |x: &[f64]| -> (f64, Vec<f64>) {
        let (chi2_both, jtr) = chi2_and_gradient(problem, x, Par::Seq);
        let mut f = 0.25 * chi2_both * inv_s2;
        let mut g: Vec<f64> = jtr.iter().map(|j| 0.5 * j * inv_s2).collect();
        for k in 0..p {
            let (lp, dlp) = priors[k].log_density(x[k], lo[k], hi[k]);
            f -= lp;
            g[k] -= dlp;
        }
        (f, g)
    };
    let mut x = x0.to_vec();
    inside(&mut x);
    let (mut f, mut g) = objective(&x);
    if !f.is_finite() {
        return x;
    }
    let mut lambda = 1e-3;
    for _ in 0..50 {
        let ne = normal_equations(problem, &x, Strategy::Streaming, 4096, Par::Seq);
        let h = nalgebra::DMatrix::from_fn(p, p, |i, j| {
            let prior = if i == j && prior_var[i] > 0.0 && prior_var[i].is_finite() {
                1.0 / prior_var[i]
            } else {
                0.0
            };
            0.5 * ne.jtj[i * p + j] * inv_s2 + prior
        });
        let mut improved = false;
        for _ in 0..12 {
            let mut a = h.clone();
            for k in 0..p {
                a[(k, k)] += lambda * h[(k, k)].max(1e-300);
            }
            let Some(chol) = a.cholesky() else {
                lambda *= 10.0;
                continue;
            };
            let step = chol.solve(&nalgebra::DVector::from_iterator(p, g.iter().map(|v| -v)));
            let mut trial: Vec<f64> = (0..p).map(|k| x[k] + step[k]).collect();
            inside(&mut trial);
            let (ft, gt) = objective(&trial);
            if ft.is_finite() && ft < f {
                let gain = f - ft;
                x = trial;
                f = ft;
                g = gt;
                lambda = (lambda / 3.0).max(1e-12);
                improved = true;
                if gain <= 1e-10 * (1.0 + f.abs()) {
                    return x;
                }
                break;
            }
            lambda *= 4.0;
        }
        if !improved {
            break;
        }
    }
    x
}

/// The point of `[lo, hi]` where `var(τ)` is smallest (a scan, then golden-section
/// refinement): the time at which a rate is best determined.
pub fn best_time(lo: f64, hi: f64, var: impl Fn(f64) -> f64) -> f64 {
    let n = 200;
    let at = |k: usize| lo + (hi - lo) * k as f64 / n as f64;
    let best = (0..=n)
        .min_by(|&a, &b| var(at(a)).total_cmp(&var(at(b))))
        .unwrap_or(n / 2);
    let (mut a, mut b) = (at(best.saturating_sub(1)), at((best + 1).min(n)));
    let g = 0.5 * (5f64.sqrt() - 1.0);
    for _ in 0..60 {
        let (c, d) = (b - g * (b - a), a + g * (b - a));
        if var(c) < var(d) {
            b = d;
        } else {
            a = c;
        }
    }
    0.5 * (a + b)
}

//! The posterior of a fit problem in the sampler's unconstrained coordinates.
//!
//! Every fitted quantity (the varying physics parameters and the scaling coefficients of
//! a [`FitProblem`]) lives in its box `[lo, hi]` and is sampled as `u` with
//! `x = lo + (hi − lo)·σ(u)` (σ the logistic function; the log-Jacobian is added).
//! Likelihood: Gaussian on the independent cells of the residual support — c2 is
//! symmetric, so each off-diagonal pair counts once (the reference's pooled likelihood
//! counts both triangles, which narrows every posterior by √2). The noise σ is fixed
//! (e.g. from the NLSQ residuals) or sampled as `ln σ` with a half-normal prior.
//! Priors: the registry's normal priors (truncated by the box), contrast N(0.5, 0.25),
//! offset N(1, 0.25), higher Fourier terms N(0, half their range).

use crate::exec::Par;
use crate::model::params::PHYSICS;
use crate::nlsq::FitProblem;
use crate::nlsq::normal::chi2_and_gradient;

use super::nuts::{DensityError, LogDensity};

/// How the noise level enters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// σ held at this value (same units as c2).
    Fixed(f64),
    /// σ sampled with a half-normal prior of this scale.
    Sampled {
        /// Scale of the half-normal prior.
        scale: f64,
    },
}

/// Log posterior density of a fit problem, with its gradient.
#[derive(Debug, Clone)]
pub struct Posterior<'a> {
    problem: &'a FitProblem,
    lo: Vec<f64>,
    hi: Vec<f64>,
    prior_mean: Vec<f64>,
    prior_std: Vec<f64>,
    noise: Noise,
    /// Independent cells (the likelihood's observation count).
    n_cells: f64,
    /// Power of the prior (and of the transform's Jacobian): 1/K on each of K shards, so
    /// that the product of the shard densities is the full posterior.
    prior_weight: f64,
}

fn logistic(u: f64) -> f64 {
    if u >= 0.0 {
        1.0 / (1.0 + (-u).exp())
    } else {
        let e = u.exp();
        e / (1.0 + e)
    }
}

impl<'a> Posterior<'a> {
    /// The posterior of `problem` (its start's bounds) with `noise`.
    pub fn new(problem: &'a FitProblem, noise: Noise) -> Self {
        let (_, lo, hi) = problem.start();
        let names = problem.param_names();
        let (prior_mean, prior_std): (Vec<f64>, Vec<f64>) = names
            .iter()
            .enumerate()
            .map(|(k, name)| {
                if let Some(spec) = PHYSICS.iter().find(|s| s.name == name) {
                    (spec.prior_mean, spec.prior_std)
                } else if name.starts_with("contrast")
                    && !name.contains("cos")
                    && !name.contains("sin")
                {
                    (0.5, 0.25)
                } else if name.starts_with("offset")
                    && !name.contains("cos")
                    && !name.contains("sin")
                {
                    (1.0, 0.25)
                } else {
                    (0.0, 0.5 * (hi[k] - lo[k]))
                }
            })
            .unzip();
        Self {
            problem,
            lo,
            hi,
            prior_mean,
            prior_std,
            noise,
            n_cells: problem.n_cells() as f64,
            prior_weight: 1.0,
        }
    }

    /// The same posterior with its prior (and Jacobian) raised to `weight` (1/K per shard).
    pub fn with_prior_weight(mut self, weight: f64) -> Self {
        self.prior_weight = weight;
        self
    }

    /// Number of fitted quantities (without σ).
    pub fn n_params(&self) -> usize {
        self.lo.len()
    }

    /// Unconstrained coordinates of `x` (strictly inside its box) and, when sampled, σ.
    pub fn to_unconstrained(&self, x: &[f64], sigma: Option<f64>) -> Vec<f64> {
        let mut u: Vec<f64> = x
            .iter()
            .zip(self.lo.iter().zip(&self.hi))
            .map(|(&v, (&l, &h))| {
                let s = ((v - l) / (h - l)).clamp(1e-9, 1.0 - 1e-9);
                (s / (1.0 - s)).ln()
            })
            .collect();
        if let (Noise::Sampled { .. }, Some(s)) = (self.noise, sigma) {
            u.push(s.ln());
        }
        u
    }

    /// Parameters (and σ when sampled) of unconstrained coordinates `u`.
    pub fn from_unconstrained(&self, u: &[f64]) -> (Vec<f64>, Option<f64>) {
        let p = self.n_params();
        let x = (0..p)
            .map(|k| self.lo[k] + (self.hi[k] - self.lo[k]) * logistic(u[k]))
            .collect();
        let sigma = matches!(self.noise, Noise::Sampled { .. }).then(|| u[p].exp());
        (x, sigma)
    }
}

impl LogDensity for Posterior<'_> {
    fn dim(&self) -> usize {
        self.n_params() + usize::from(matches!(self.noise, Noise::Sampled { .. }))
    }

    fn logp(&mut self, u: &[f64], grad: &mut [f64]) -> Result<f64, DensityError> {
        let p = self.n_params();
        let (x, sampled_sigma) = self.from_unconstrained(u);
        let (chi2_both, jtr) = chi2_and_gradient(self.problem, &x, Par::Seq);
        // Each independent cell once: half the both-triangle sums.
        let chi2 = 0.5 * chi2_both;
        let sigma = match (self.noise, sampled_sigma) {
            (Noise::Fixed(s), _) => s,
            (_, Some(s)) => s,
            _ => unreachable!("sampled σ comes with its coordinate"),
        };
        if !(chi2.is_finite() && sigma > 0.0) {
            return Err(DensityError {
                message: format!("model not finite at {x:?}"),
                recoverable: true,
            });
        }
        let inv_s2 = 1.0 / (sigma * sigma);
        let mut logp = -0.5 * chi2 * inv_s2 - self.n_cells * sigma.ln();
        for k in 0..p {
            let s = logistic(u[k]);
            let width = self.hi[k] - self.lo[k];
            let dx_du = width * s * (1.0 - s);
            let z = (x[k] - self.prior_mean[k]) / self.prior_std[k];
            let w = self.prior_weight;
            logp += w * (-0.5 * z * z + width.ln() + s.ln() + (1.0 - s).ln());
            // ∂χ²/∂x = ½·∂χ²_both/∂x = JᵀWr, and log L = −χ²/(2σ²).
            let dlogp_dx = -0.5 * jtr[k] * inv_s2 - w * z / self.prior_std[k];
            grad[k] = dlogp_dx * dx_du + w * (1.0 - 2.0 * s);
        }
        if let Noise::Sampled { scale } = self.noise {
            // u_σ = ln σ: likelihood, half-normal prior and the Jacobian σ.
            let w = self.prior_weight;
            logp += w * (-0.5 * (sigma / scale).powi(2) + u[p]);
            grad[p] = chi2 * inv_s2 - self.n_cells + w * (1.0 - (sigma / scale).powi(2));
        }
        Ok(logp)
    }
}

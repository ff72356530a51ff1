//! Bounded Levenberg–Marquardt on the normal equations.
//!
//! The step solves `(Â_FF + λI) δ̂ = −ĝ_F` in Jacobian-scaled variables (Â = D⁻¹ J ᵀWJ D⁻¹,
//! D = running max of the column norms, Moré 1978), so parameters six orders of magnitude
//! apart are treated alike. Bounds: parameters sitting on a bound with the gradient pushing
//! outwards are frozen for the step (active set), the step is projected onto the box, and
//! the gain ratio uses the model reduction of the projected step. λ follows Nielsen's rule.

use nalgebra::{DMatrix, DVector};

use crate::error::{Error, Result};
use crate::exec::{Event, Flow, Observer, Par};

use super::normal::{Normal, normal_equations};
use super::problem::FitProblem;
use super::strategy::Strategy;

/// Stopping rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Relative χ² reduction (actual and predicted) below which the fit stops.
    pub ftol: f64,
    /// Relative step size (scaled) below which the fit stops.
    pub xtol: f64,
    /// Largest cosine between the residual and a free Jacobian column at convergence.
    pub gtol: f64,
    /// Most accepted steps.
    pub max_iterations: usize,
}

impl Default for Tolerances {
    fn default() -> Self {
        Self {
            ftol: 1e-8,
            xtol: 1e-8,
            gtol: 1e-8,
            max_iterations: 1000,
        }
    }
}

/// Outcome of one local fit.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalFit {
    /// Final optimiser vector.
    pub x: Vec<f64>,
    /// Normal equations at `x`.
    pub normal: Normal,
    /// Accepted steps (Jacobian evaluations − 1).
    pub iterations: usize,
    /// χ² evaluations (including the Jacobian ones).
    pub evaluations: usize,
    /// Whether a tolerance was met.
    pub converged: bool,
    /// Which rule stopped the fit.
    pub message: String,
}

impl LocalFit {
    fn done(
        x: Vec<f64>,
        normal: Normal,
        iterations: usize,
        evaluations: usize,
        converged: bool,
        message: impl Into<String>,
    ) -> Self {
        Self {
            x,
            normal,
            iterations,
            evaluations,
            converged,
            message: message.into(),
        }
    }
}

/// Runs LM from `x0` (clipped into `[lo, hi]`).
#[allow(clippy::too_many_arguments)]
pub fn levenberg_marquardt(
    problem: &FitProblem,
    x0: &[f64],
    lo: &[f64],
    hi: &[f64],
    tol: &Tolerances,
    strategy: Strategy,
    chunk_size: usize,
    par: Par,
    observer: &dyn Observer,
) -> Result<LocalFit> {
    let p = x0.len();
    let mut x: Vec<f64> = x0
        .iter()
        .zip(lo.iter().zip(hi))
        .map(|(v, (l, h))| v.clamp(*l, *h))
        .collect();
    let mut normal = normal_equations(problem, &x, strategy, chunk_size, par);
    let mut chi2 = normal.chi2();
    let mut evaluations = 1;
    if !chi2.is_finite() {
        return Err(Error::invalid(
            "initial values",
            "the model is not finite at the start",
        ));
    }
    if p == 0 {
        return Ok(LocalFit {
            x,
            normal,
            iterations: 0,
            evaluations,
            converged: true,
            message: "nothing to fit (no parameter varies)".into(),
        });
    }
    let mut d: Vec<f64> = vec![0.0; p];
    let mut lambda = 1e-3;
    let mut nu = 2.0;
    let mut iterations = 0;
    loop {
        // Moré's scaling: the running maximum of the column norms.
        for k in 0..p {
            d[k] = d[k].max(normal.jtj[k * p + k].sqrt());
        }
        let scale: Vec<f64> = d.iter().map(|&v| if v > 0.0 { v } else { 1.0 }).collect();
        let g = &normal.jtr;
        let free: Vec<usize> = (0..p)
            .filter(|&k| !((x[k] <= lo[k] && g[k] > 0.0) || (x[k] >= hi[k] && g[k] < 0.0)))
            .collect();
        // Convergence on the gradient: cosine between r and each free column.
        let r_norm = chi2.max(f64::MIN_POSITIVE).sqrt();
        let g_cos = free
            .iter()
            .map(|&k| {
                if d[k] > 0.0 {
                    g[k].abs() / (d[k] * r_norm)
                } else {
                    0.0
                }
            })
            .fold(0.0, f64::max);
        if free.is_empty() || g_cos <= tol.gtol {
            return Ok(LocalFit::done(
                x,
                normal,
                iterations,
                evaluations,
                true,
                format!("gtol: gradient cosine {g_cos:.2e} ≤ {:.0e}", tol.gtol),
            ));
        }
        if iterations >= tol.max_iterations {
            return Ok(LocalFit::done(
                x,
                normal,
                iterations,
                evaluations,
                false,
                format!("stopped after max_iterations = {}", tol.max_iterations),
            ));
        }
        let nf = free.len();
        let a_s = DMatrix::from_fn(nf, nf, |u, v| {
            let (ku, kv) = (free[u], free[v]);
            normal.jtj[ku * p + kv] / (scale[ku] * scale[kv])
        });
        let g_s = DVector::from_fn(nf, |u, _| -g[free[u]] / scale[free[u]]);
        // Try steps until one is accepted or λ says the model can make no progress.
        loop {
            if lambda > 1e16 {
                return Ok(LocalFit::done(
                    x,
                    normal,
                    iterations,
                    evaluations,
                    false,
                    "no further reduction possible (damping exhausted)",
                ));
            }
            let mut m = a_s.clone();
            for u in 0..nf {
                m[(u, u)] += lambda;
            }
            let Some(chol) = m.cholesky() else {
                lambda *= nu;
                nu *= 2.0;
                continue;
            };
            let step_s = chol.solve(&g_s);
            let mut trial = x.clone();
            for (u, &k) in free.iter().enumerate() {
                trial[k] = (x[k] + step_s[u] / scale[k]).clamp(lo[k], hi[k]);
            }
            let delta: Vec<f64> = trial.iter().zip(&x).map(|(t, v)| t - v).collect();
            // Predicted χ² reduction of the projected step: −(2gᵀδ + δᵀAδ).
            let mut quad = 0.0;
            for u in 0..p {
                for v in 0..p {
                    quad += delta[u] * normal.jtj[u * p + v] * delta[v];
                }
            }
            let lin: f64 = g.iter().zip(&delta).map(|(a, b)| a * b).sum();
            let predicted = -(2.0 * lin + quad);
            // Most steps are accepted, so the trial point gets its full normal equations
            // at once (reused on acceptance) rather than a χ²-only pass first.
            let trial_normal = normal_equations(problem, &trial, strategy, chunk_size, par);
            let trial_chi2 = trial_normal.chi2();
            evaluations += 1;
            let actual = chi2 - trial_chi2;
            let rho = if predicted > 0.0 {
                actual / predicted
            } else {
                -1.0
            };
            let step_norm = delta
                .iter()
                .zip(&scale)
                .map(|(s, c)| (s * c).powi(2))
                .sum::<f64>()
                .sqrt();
            let x_norm = x
                .iter()
                .zip(&scale)
                .map(|(s, c)| (s * c).powi(2))
                .sum::<f64>()
                .sqrt();
            if trial_chi2.is_finite() && rho > 1e-4 {
                let old = chi2;
                x = trial;
                normal = trial_normal;
                chi2 = normal.chi2();
                iterations += 1;
                lambda *= (1.0 - (2.0 * rho - 1.0).powi(3)).max(1.0 / 3.0);
                nu = 2.0;
                if observer.on(&Event::Iteration {
                    iteration: iterations,
                    cost: chi2,
                }) == Flow::Stop
                {
                    return Err(Error::Cancelled);
                }
                if actual <= tol.ftol * old && predicted <= tol.ftol * old {
                    return Ok(LocalFit::done(
                        x,
                        normal,
                        iterations,
                        evaluations,
                        true,
                        format!("ftol: relative χ² reduction ≤ {:.0e}", tol.ftol),
                    ));
                }
                if step_norm <= tol.xtol * (tol.xtol + x_norm) {
                    return Ok(LocalFit::done(
                        x,
                        normal,
                        iterations,
                        evaluations,
                        true,
                        format!("xtol: relative step ≤ {:.0e}", tol.xtol),
                    ));
                }
                break;
            }
            // A rejected step that is already negligible: the minimum is reached.
            if step_norm <= tol.xtol * (tol.xtol + x_norm) {
                return Ok(LocalFit::done(
                    x,
                    normal,
                    iterations,
                    evaluations,
                    true,
                    format!("xtol: relative step ≤ {:.0e}", tol.xtol),
                ));
            }
            lambda *= nu;
            nu *= 2.0;
        }
    }
}

//! The posterior of a fit problem in the sampler's unconstrained coordinates.
//!
//! Coordinates: [`Transform`] — logistic maps onto each quantity's bounds, and the
//! ridge-straightening pairs of [`Reparam`]. Likelihood: Gaussian on the independent
//! cells of the residual support — c2 is symmetric, so each off-diagonal pair counts once
//! (the reference's pooled likelihood counts both triangles, which narrows every
//! posterior by √2). The noise σ is fixed (e.g. from the NLSQ residuals) or sampled as
//! `ln σ` with a half-normal prior. Priors: [`Prior`] per quantity — by default the
//! registry's truncated normals, contrast TN(0.5, 0.25), offset TN(1, 0.25), higher
//! Fourier terms N(0, half their range) — or the config's.
//!
//! Sharding: each of K shards carries the prior (and the Jacobian) to the power 1/K, so
//! the product of the shard densities is exactly the full posterior. For the half-normal
//! σ prior this is the reference's `HalfNormal(scale·√K)` per shard; the reference does
//! not temper the physics priors, which counts them K times.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::exec::Par;
use crate::model::params::PHYSICS;
use crate::nlsq::FitProblem;
use crate::nlsq::gradient::chi2_and_gradient;

use super::clamp::Clamp;
use super::nuts::{DensityError, LogDensity};
use super::prior::Prior;
use super::transform::{
    FractionBlock, PhaseScale, RateTriple, RidgePair, RidgeScales, Slope, Transform,
};

/// How the noise level enters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Noise {
    /// σ held at this value (same units as c2).
    Fixed(f64),
    /// σ sampled with a half-normal prior of this scale.
    Sampled {
        /// Scale of the half-normal prior.
        scale: f64,
    },
}

/// Which ridges the sampler's coordinates straighten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reparam {
    /// Sample `ln(f0·exp(−f1·f2))` and `f2` instead of `f0` and `f2` (when both vary).
    pub fraction_ridge: bool,
    /// Sample `ln(A0·t_ref^e)` and `e` instead of `A0` and `e` for the power laws
    /// (`D0_ref`, `alpha_ref`), (`D0_sample`, `alpha_sample`), (`v0`, `beta`), with
    /// `t_ref = √(t_first·t_last)` of the grid.
    pub power_law: bool,
    /// Sample each fully varied rate triple (`D0, alpha, D_offset` of reference and sample,
    /// `v0, beta, v_offset`) as [`RateTriple`] — the rate and its log-slope at t_ref and
    /// the log of its prefactor; with `fraction_ridge` and f0–f3 all varied, the fraction
    /// too ([`FractionBlock`]). Takes precedence over `power_law`.
    #[serde(default)]
    pub rate_triples: bool,
}

impl Default for Reparam {
    fn default() -> Self {
        Self {
            fraction_ridge: true,
            power_law: false,
            rate_triples: true,
        }
    }
}

/// The fraction block when `reparam` asks for ridges and rates and f0–f3 all vary.
fn fraction_block(
    problem: &FitProblem,
    names: &[String],
    reparam: Reparam,
) -> Option<FractionBlock> {
    if !(reparam.fraction_ridge && reparam.rate_triples) {
        return None;
    }
    let index = |n: &str| names.iter().position(|m| m == n);
    let grid = problem.model().grid();
    let t_ref = (grid.t(0) * grid.t(grid.n - 1)).sqrt();
    Some(FractionBlock {
        f: [index("f0")?, index("f1")?, index("f2")?, index("f3")?],
        t_ref,
        scales: RidgeScales {
            offset: 1.0,
            exponent: 1.0,
        },
    })
}

/// The rate triples `reparam` asks for among `names`.
fn rate_triples(problem: &FitProblem, names: &[String], reparam: Reparam) -> Vec<RateTriple> {
    if !reparam.rate_triples {
        return Vec::new();
    }
    let index = |n: &str| names.iter().position(|m| m == n);
    let grid = problem.model().grid();
    let t_ref = (grid.t(0) * grid.t(grid.n - 1)).sqrt();
    let phase = index("phi0").map(|phi0| PhaseScale {
        phi0,
        phi: problem.model().phi().to_vec(),
    });
    [
        ("D0_ref", "alpha_ref", "D_offset_ref", "D_ref(t_ref)"),
        (
            "D0_sample",
            "alpha_sample",
            "D_offset_sample",
            "D_sample(t_ref)",
        ),
        ("v0", "beta", "v_offset", "v(t_ref)"),
    ]
    .iter()
    .filter_map(|(a, e, b, label)| {
        Some(RateTriple {
            prefactor: index(a)?,
            exponent: index(e)?,
            offset: index(b)?,
            ln_t_ref: t_ref.ln(),
            // Set from the centre's widths.
            scales: RidgeScales {
                offset: 1.0,
                exponent: 1.0,
            },
            phase: if *a == "v0" { phase.clone() } else { None },
            label: label.to_string(),
        })
    })
    .filter(|_| t_ref > 0.0)
    .collect()
}

/// Everything about a posterior besides the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PosteriorOptions {
    /// Noise model.
    pub noise: Noise,
    /// Priors that replace the defaults, by quantity name.
    pub priors: Vec<(String, Prior)>,
    /// Ridge straightening.
    pub reparam: Reparam,
}

impl PosteriorOptions {
    /// Defaults with `noise`.
    pub fn new(noise: Noise) -> Self {
        Self {
            noise,
            priors: Vec::new(),
            reparam: Reparam::default(),
        }
    }
}

/// Log posterior density of a fit problem, with its gradient.
#[derive(Debug, Clone)]
pub struct Posterior<'a> {
    problem: &'a FitProblem,
    lo: Vec<f64>,
    hi: Vec<f64>,
    priors: Vec<Prior>,
    transform: Transform,
    noise: Noise,
    /// Independent cells (the likelihood's observation count).
    n_cells: f64,
    /// Power of the prior (and of the transform's Jacobian): 1/K on each of K shards.
    prior_weight: f64,
}

/// The default prior of quantity `name` with bounds `[lo, hi]`.
pub fn default_prior(name: &str, lo: f64, hi: f64) -> Prior {
    if let Some(spec) = PHYSICS.iter().find(|s| s.name == name) {
        Prior::Normal {
            mean: spec.prior_mean,
            std: spec.prior_std,
        }
    } else if name.starts_with("contrast") && !name.contains("cos") && !name.contains("sin") {
        Prior::Normal {
            mean: 0.5,
            std: 0.25,
        }
    } else if name.starts_with("offset") && !name.contains("cos") && !name.contains("sin") {
        Prior::Normal {
            mean: 1.0,
            std: 0.25,
        }
    } else {
        Prior::Normal {
            mean: 0.0,
            std: 0.5 * (hi - lo),
        }
    }
}

/// The ridge pairs `reparam` asks for, among the quantities `names` of `problem`.
pub(crate) fn ridge_pairs(
    problem: &FitProblem,
    names: &[String],
    reparam: Reparam,
) -> Vec<RidgePair> {
    let index = |n: &str| names.iter().position(|m| m == n);
    let mut pairs = Vec::new();
    if reparam.fraction_ridge
        && fraction_block(problem, names, reparam).is_none()
        && let (Some(f0), Some(f2)) = (index("f0"), index("f2"))
    {
        let slope = match index("f1") {
            Some(f1) => Slope::Quantity {
                index: f1,
                sign: -1.0,
            },
            None => Slope::Const(-problem.unpack(&problem.start().0).0.f1),
        };
        pairs.push(RidgePair {
            target: f0,
            partner: f2,
            slope,
            label: "ln(f0·exp(−f1·f2))".into(),
        });
    }
    if reparam.power_law {
        let tripled = rate_triples(problem, names, reparam);
        let grid = problem.model().grid();
        let t_ref = (grid.t(0) * grid.t(grid.n - 1)).sqrt();
        for (a, e) in [
            ("D0_ref", "alpha_ref"),
            ("D0_sample", "alpha_sample"),
            ("v0", "beta"),
        ] {
            if let (Some(ia), Some(ie)) = (index(a), index(e))
                && t_ref > 0.0
                && !tripled.iter().any(|t| t.prefactor == ia)
            {
                pairs.push(RidgePair {
                    target: ia,
                    partner: ie,
                    slope: Slope::Const(t_ref.ln()),
                    label: format!("ln({a}·t_ref^{e})"),
                });
            }
        }
    }
    pairs
}

/// Where the sampler's coordinates are centred and how wide they are: each quantity's
/// clamp is linear around `x` with slope `widths` (and the rate blocks' ridge coordinates
/// are measured in the widths of their offset and exponent). Every shard of a run uses
/// the same centre, so that their draws share one coordinate system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Centre {
    /// The centre (the posterior's mode at the NLSQ noise level, found from the NLSQ
    /// optimum), in the fit's coordinates.
    pub x: Vec<f64>,
    /// Widths, same units: the Laplace approximation's marginal standard deviations, at
    /// most the prior's and a quarter of the range.
    pub widths: Vec<f64>,
    /// The reference time of each rate block (by the index of its prefactor, `f0` for the
    /// fraction), s: where the Laplace approximation determines the rate best, so that its
    /// value and slope there are nearly uncorrelated. Blocks not listed use the grid's
    /// geometric centre.
    pub t_ref: Vec<(usize, f64)>,
}

impl Centre {
    /// Centred on `x` with the priors' widths (no data).
    pub fn prior(problem: &FitProblem, options: &PosteriorOptions, x: &[f64]) -> Result<Self> {
        Self::laplace(problem, options, x, None)
    }

    /// Centred on `x` with the widths of the Laplace approximation of the posterior of the
    /// whole `problem` at noise `sigma` (`None`: the priors' widths).
    pub fn laplace(
        problem: &FitProblem,
        options: &PosteriorOptions,
        x: &[f64],
        sigma: Option<f64>,
    ) -> Result<Self> {
        let (_, lo, hi) = problem.start();
        if x.len() != lo.len() {
            return Err(Error::invalid(
                "cmc",
                format!(
                    "the start has {} values for {} fitted quantities",
                    x.len(),
                    lo.len()
                ),
            ));
        }
        let priors = priors_of(problem, options)?;
        let prior_var: Vec<f64> = (0..lo.len())
            .map(|k| priors[k].variance(lo[k], hi[k]))
            .collect();
        // An optimum on a bound is centred just inside it.
        let inside: Vec<f64> = (0..lo.len())
            .map(|k| {
                let m = 1e-9 * (hi[k] - lo[k]);
                let a = if m.is_finite() {
                    x[k].clamp(lo[k] + m, hi[k] - m)
                } else {
                    x[k].clamp(lo[k], hi[k])
                };
                if a.is_finite() { a } else { 0.0 }
            })
            .collect();
        let sigma = match (sigma, options.noise) {
            (_, Noise::Fixed(s)) => Some(s),
            (s, Noise::Sampled { .. }) => s,
        };
        let p = lo.len();
        let inside = match sigma {
            Some(s) => super::laplace::mode(problem, &inside, s, &priors, (&lo, &hi), &prior_var),
            None => inside,
        };
        let cov =
            sigma.and_then(|s| super::laplace::covariance(problem, &inside, s, &prior_var, 1.0));
        let laplace: Option<Vec<f64>> = cov
            .as_ref()
            .map(|c| (0..p).map(|k| c[k * p + k].sqrt()).collect());
        let widths: Vec<f64> = (0..p)
            .map(|k| {
                let quarter = 0.25 * (hi[k] - lo[k]);
                let prior_sd = prior_var[k].sqrt();
                let fitted = laplace.as_ref().map_or(f64::INFINITY, |l| l[k]);
                let mut w = f64::INFINITY;
                for c in [quarter, prior_sd, fitted] {
                    if c.is_finite() && c > 0.0 {
                        w = w.min(c);
                    }
                }
                if w.is_finite() { w } else { 1.0 }
            })
            .collect();
        let t_ref = cov
            .map(|c| best_rate_times(problem, &inside, &c))
            .unwrap_or_default();
        Ok(Self {
            x: inside,
            widths,
            t_ref,
        })
    }
}

/// For each fully varied rate block, the grid time at which the rate's value is best
/// determined under the covariance `cov` at `x` (delta method).
fn best_rate_times(problem: &FitProblem, x: &[f64], cov: &[f64]) -> Vec<(usize, f64)> {
    let names = problem.param_names();
    let p = names.len();
    let index = |n: &str| names.iter().position(|m| m == n);
    let grid = problem.model().grid();
    let (t1, tn) = (grid.t(0), grid.t(grid.n - 1));
    if !(t1 > 0.0 && tn > t1) {
        return Vec::new();
    }
    let quad = |idx: &[usize], g: &[f64]| -> f64 {
        let mut v = 0.0;
        for (a, &i) in idx.iter().enumerate() {
            for (b, &j) in idx.iter().enumerate() {
                v += g[a] * cov[i * p + j] * g[b];
            }
        }
        v
    };
    let mut out = Vec::new();
    for (a, e, b) in [
        ("D0_ref", "alpha_ref", "D_offset_ref"),
        ("D0_sample", "alpha_sample", "D_offset_sample"),
        ("v0", "beta", "v_offset"),
    ] {
        if let (Some(ia), Some(ie), Some(ib)) = (index(a), index(e), index(b)) {
            let (a0, ex) = (x[ia], x[ie]);
            // J(t) = A0·t^e + B: ∂J/∂(A0, e, B) = (t^e, A0·t^e·ln t, 1).
            let var = |tau: f64| {
                let te = (ex * tau).exp();
                quad(&[ia, ie, ib], &[te, a0 * te * tau, 1.0])
            };
            let tau = super::laplace::best_time(t1.ln(), tn.ln(), var);
            out.push((ia, tau.exp()));
        }
    }
    if let (Some(i0), Some(i1), Some(i2), Some(i3)) =
        (index("f0"), index("f1"), index("f2"), index("f3"))
    {
        let (f0, f1, f2) = (x[i0], x[i1], x[i2]);
        // V(t) = f0·e^{f1(t − f2)} + f3.
        let var = |t: f64| {
            let g = (f1 * (t - f2)).exp();
            quad(
                &[i0, i1, i2, i3],
                &[g, f0 * (t - f2) * g, -f0 * f1 * g, 1.0],
            )
        };
        out.push((i0, super::laplace::best_time(t1, tn, var)));
    }
    out
}

/// `ln_t` moved, where needed, onto the rate block's branch `1 + e·ln t ≥ 0.1` (the
/// ridge map is monotone only there) while staying on the grid: a best time at the
/// grid's start with a large exponent would otherwise drop the block altogether.
fn on_branch(ln_t: f64, e: f64, problem: &FitProblem) -> f64 {
    let grid = problem.model().grid();
    let (lo, hi) = (grid.t(0).ln(), grid.t(grid.n - 1).ln());
    let edge = -0.9 / e;
    let (a, b) = if e > 0.0 {
        (lo.max(edge), hi)
    } else if e < 0.0 {
        (lo, hi.min(edge))
    } else {
        (lo, hi)
    };
    if a <= b && ln_t.is_finite() {
        ln_t.clamp(a, b)
    } else {
        ln_t
    }
}

/// The reference time the centre gives the block led by quantity `k`.
fn centre_t_ref(centre: &Centre, k: usize) -> Option<f64> {
    centre.t_ref.iter().find(|(i, _)| *i == k).map(|(_, t)| *t)
}

/// The prior of every fitted quantity: the config's, else the default.
fn priors_of(problem: &FitProblem, options: &PosteriorOptions) -> Result<Vec<Prior>> {
    let (_, lo, hi) = problem.start();
    let names = problem.param_names();
    if let Some((name, _)) = options
        .priors
        .iter()
        .find(|(n, _)| !names.iter().any(|m| m == n))
    {
        return Err(Error::invalid(
            "prior",
            format!(
                "{name} is not a fitted quantity (fitted: {})",
                names.join(", ")
            ),
        ));
    }
    names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let prior = options
                .priors
                .iter()
                .find(|(n, _)| n == name)
                .map_or_else(|| default_prior(name, lo[k], hi[k]), |(_, p)| *p);
            prior.validate(name, lo[k], hi[k]).map(|()| prior)
        })
        .collect()
}

impl<'a> Posterior<'a> {
    /// The posterior of `problem` (its start's bounds) with `options`, its coordinates
    /// centred on the problem's start with the priors' widths.
    pub fn new(problem: &'a FitProblem, options: &PosteriorOptions) -> Result<Self> {
        let (start, _, _) = problem.start();
        let centre = Centre::prior(problem, options, &start)?;
        Self::anchored(problem, options, &centre)
    }

    /// The same posterior with its coordinates at `centre` (see [`Centre`]); the rate
    /// blocks are used where the centre lies on their branch.
    pub fn anchored(
        problem: &'a FitProblem,
        options: &PosteriorOptions,
        centre: &Centre,
    ) -> Result<Self> {
        let (_, lo, hi) = problem.start();
        if centre.x.len() != lo.len() || centre.widths.len() != lo.len() {
            return Err(Error::invalid(
                "cmc",
                format!(
                    "the centre has {} values for {} fitted quantities",
                    centre.x.len(),
                    lo.len()
                ),
            ));
        }
        let names = problem.param_names();
        let priors = priors_of(problem, options)?;
        if let Noise::Sampled { scale } | Noise::Fixed(scale) = options.noise
            && !(scale.is_finite() && scale > 0.0)
        {
            return Err(Error::invalid(
                "sigma",
                format!("noise scale must be finite and > 0, got {scale}"),
            ));
        }
        let clamps: Vec<Clamp> = centre
            .x
            .iter()
            .zip(&centre.widths)
            .map(|(&anchor, &scale)| Clamp { anchor, scale })
            .collect();
        let w = &centre.widths;
        let transform = Transform::new(
            lo.clone(),
            hi.clone(),
            clamps,
            ridge_pairs(problem, &names, options.reparam),
        )?
        .with_triples(
            rate_triples(problem, &names, options.reparam)
                .into_iter()
                .map(|t| RateTriple {
                    scales: RidgeScales {
                        offset: w[t.offset],
                        exponent: w[t.exponent],
                    },
                    ln_t_ref: on_branch(
                        centre_t_ref(centre, t.prefactor).map_or(t.ln_t_ref, f64::ln),
                        centre.x[t.exponent],
                        problem,
                    ),
                    ..t
                })
                .collect(),
        )?
        .with_fraction(
            fraction_block(problem, &names, options.reparam).map(|b| FractionBlock {
                scales: RidgeScales {
                    offset: w[b.f[3]],
                    exponent: w[b.f[1]],
                },
                t_ref: centre_t_ref(centre, b.f[0]).unwrap_or(b.t_ref),
                ..b
            }),
        )?;
        Ok(Self {
            problem,
            lo,
            hi,
            priors,
            transform,
            noise: options.noise,
            n_cells: problem.n_cells() as f64,
            prior_weight: 1.0,
        })
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

    /// The priors, in the fit's order.
    pub fn priors(&self) -> &[Prior] {
        &self.priors
    }

    /// Bounds of the fitted quantities.
    pub fn bounds(&self) -> (&[f64], &[f64]) {
        (&self.lo, &self.hi)
    }

    /// The coordinate map.
    pub fn transform(&self) -> &Transform {
        &self.transform
    }

    /// Whether σ is sampled.
    pub fn samples_sigma(&self) -> bool {
        matches!(self.noise, Noise::Sampled { .. })
    }

    /// Unconstrained coordinates of `x` (pulled strictly inside its box) and, when
    /// sampled, σ.
    pub fn to_unconstrained(&self, x: &[f64], sigma: Option<f64>) -> Vec<f64> {
        // An optimum on a bound (common for NLSQ) is pulled 1e-9 of the range inside:
        // the coordinate maps are open at the bounds.
        let inside: Vec<f64> = x
            .iter()
            .zip(self.lo.iter().zip(&self.hi))
            .map(|(&v, (&l, &h))| {
                let m = 1e-9 * (h - l);
                v.clamp(l + m, h - m)
            })
            .collect();
        let mut u = self.transform.inverse(&inside);
        if let (Noise::Sampled { .. }, Some(s)) = (self.noise, sigma) {
            u.push(s.ln());
        }
        u
    }

    /// Parameters (and σ when sampled) of unconstrained coordinates `u`.
    pub fn from_unconstrained(&self, u: &[f64]) -> (Vec<f64>, Option<f64>) {
        let p = self.n_params();
        let x = self.transform.forward(&u[..p]).x;
        let sigma = self.samples_sigma().then(|| u[p].exp());
        (x, sigma)
    }
}

impl LogDensity for Posterior<'_> {
    fn dim(&self) -> usize {
        self.n_params() + usize::from(self.samples_sigma())
    }

    fn logp(&mut self, u: &[f64], grad: &mut [f64]) -> std::result::Result<f64, DensityError> {
        let p = self.n_params();
        let mapped = self.transform.forward(&u[..p]);
        let x = &mapped.x;
        let (chi2_both, jtr) = chi2_and_gradient(self.problem, x, Par::Seq);
        // Each independent cell once: half the both-triangle sums.
        let chi2 = 0.5 * chi2_both;
        let sigma = match self.noise {
            Noise::Fixed(s) => s,
            Noise::Sampled { .. } => u[p].exp(),
        };
        if !mapped.log_jac.is_finite() {
            return Err(DensityError {
                message: "a step left the parameter bounds".into(),
                recoverable: true,
            });
        }
        if !(chi2.is_finite() && sigma > 0.0) {
            return Err(DensityError {
                message: "the model is not finite here".into(),
                recoverable: true,
            });
        }
        let w = self.prior_weight;
        let inv_s2 = 1.0 / (sigma * sigma);
        let mut logp = -0.5 * chi2 * inv_s2 - self.n_cells * sigma.ln() + w * mapped.log_jac;
        // ∂/∂x of the likelihood and the prior: ∂χ²/∂x = ½·∂χ²_both/∂x = JᵀWr.
        let mut g_x = vec![0.0; p];
        for k in 0..p {
            let (lp, dlp) = self.priors[k].log_density(x[k], self.lo[k], self.hi[k]);
            logp += w * lp;
            g_x[k] = -0.5 * jtr[k] * inv_s2 + w * dlp;
        }
        let g_u = mapped.pullback(&g_x);
        for k in 0..p {
            grad[k] = g_u[k] + w * mapped.grad_log_jac[k];
        }
        if let Noise::Sampled { scale } = self.noise {
            // u_σ = ln σ: likelihood, half-normal prior and the Jacobian σ.
            logp += w * (-0.5 * (sigma / scale).powi(2) + u[p]);
            grad[p] = chi2 * inv_s2 - self.n_cells + w * (1.0 - (sigma / scale).powi(2));
        }
        Ok(logp)
    }
}

//! NUTS through nuts-rs: a log density with its gradient in, chains of draws with their
//! divergences out. Chains run in parallel on the caller's pool when granted threads;
//! each chain's random stream comes from (seed, chain) alone, so the draws do not depend
//! on the thread count.

use std::collections::HashMap;

use nuts_rs::rand::SeedableRng;
use nuts_rs::rand::rngs::ChaCha8Rng;
use nuts_rs::{Chain, CpuLogpFunc, CpuMath, CpuMathError, HasDims, LogpError, Settings};
use rayon::prelude::*;
use thiserror::Error;

use crate::error::{Error, Result};
use crate::exec::{Flow, Par};

/// A log density on ℝⁿ with its gradient.
pub trait LogDensity: Send {
    /// Dimension.
    fn dim(&self) -> usize;
    /// log p(x) up to a constant, writing ∂ log p/∂x into `grad`.
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> std::result::Result<f64, DensityError>;
}

/// A point where the density cannot be evaluated.
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct DensityError {
    /// What happened.
    pub message: String,
    /// Whether the sampler may treat it as a divergence and go on (e.g. a non-finite
    /// value far out in a tail) rather than stop.
    pub recoverable: bool,
}

impl LogpError for DensityError {
    fn is_recoverable(&self) -> bool {
        self.recoverable
    }
}

/// Mass-matrix adaptation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum MassMatrix {
    /// Diagonal.
    Diag,
    /// Diagonal plus low-rank corrections from the draws and gradients (handles the
    /// correlated ridges of this model).
    #[default]
    LowRank,
}

/// Sampler settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NutsSettings {
    /// Warm-up (tuning) draws per chain.
    pub num_warmup: u64,
    /// Kept draws per chain.
    pub num_samples: u64,
    /// Target mean acceptance probability, in (0, 1).
    pub target_accept: f64,
    /// Largest tree depth (at most 2^depth leapfrog steps per draw).
    pub max_tree_depth: u64,
    /// Seed; chain c uses the stream of (seed, c).
    pub seed: u64,
    /// Mass-matrix adaptation.
    pub mass: MassMatrix,
}

impl Default for NutsSettings {
    fn default() -> Self {
        Self {
            num_warmup: 1000,
            num_samples: 1000,
            target_accept: 0.9,
            max_tree_depth: 10,
            seed: 0,
            mass: MassMatrix::LowRank,
        }
    }
}

impl NutsSettings {
    /// Checks the settings, naming the offending one.
    pub fn validate(&self, num_chains: usize) -> Result<()> {
        if num_chains == 0 {
            return Err(Error::invalid("num_chains", "must be ≥ 1"));
        }
        if self.num_samples == 0 {
            return Err(Error::invalid("num_samples", "must be ≥ 1"));
        }
        if !(self.target_accept > 0.0 && self.target_accept < 1.0) {
            return Err(Error::invalid(
                "target_accept_prob",
                format!("must lie in (0, 1), got {}", self.target_accept),
            ));
        }
        if self.max_tree_depth == 0 {
            return Err(Error::invalid("max_tree_depth", "must be ≥ 1"));
        }
        Ok(())
    }
}

/// The kept draws of one chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChainDraws {
    /// Positions, `[draw][parameter]`.
    pub draws: Vec<Vec<f64>>,
    /// Whether each kept draw ended in a divergence.
    pub divergent: Vec<bool>,
    /// Leapfrog steps of each kept draw.
    pub steps: Vec<u64>,
    /// Tree depth of each kept draw.
    pub depth: Vec<u64>,
    /// Hamiltonian (potential + kinetic energy) at each kept draw, for the BFMI.
    pub energy: Vec<f64>,
    /// Log density (up to a constant, in the sampler's coordinates) at each kept draw.
    #[serde(default)]
    pub lp: Vec<f64>,
    /// Step size after warm-up.
    pub step_size: f64,
    /// Leapfrog steps (= gradient evaluations) spent in warm-up.
    #[serde(default)]
    pub warmup_steps: u64,
}

/// nuts-rs's view of a [`LogDensity`].
struct Adapter<D>(D);

impl<D: LogDensity> HasDims for Adapter<D> {
    fn dim_sizes(&self) -> HashMap<String, u64> {
        HashMap::from([("unconstrained_parameter".to_string(), self.0.dim() as u64)])
    }
}

impl<D: LogDensity> CpuLogpFunc for Adapter<D> {
    type LogpError = DensityError;
    type FlowParameters = ();
    type ExpandedVector = Vec<f64>;

    fn dim(&self) -> usize {
        self.0.dim()
    }

    fn logp(
        &mut self,
        position: &[f64],
        grad: &mut [f64],
    ) -> std::result::Result<f64, DensityError> {
        let v = self.0.logp(position, grad)?;
        if v.is_finite() && grad.iter().all(|g| g.is_finite()) {
            Ok(v)
        } else {
            Err(DensityError {
                message: format!("non-finite log density {v} at {position:?}"),
                recoverable: true,
            })
        }
    }

    fn expand_vector<R>(
        &mut self,
        _rng: &mut R,
        array: &[f64],
    ) -> std::result::Result<Vec<f64>, CpuMathError>
    where
        R: nuts_rs::rand::Rng + ?Sized,
    {
        Ok(array.to_vec())
    }
}

/// Called after every draw with (chain, draws done); `Flow::Stop` cancels.
pub type Progress<'a> = &'a (dyn Fn(usize, u64) -> Flow + Sync);

#[allow(clippy::too_many_arguments)]
fn run_chain<S: Settings, D: LogDensity>(
    settings: &S,
    density: D,
    init: &[f64],
    chain: u64,
    seed: u64,
    total: u64,
    warmup: u64,
    progress: Progress<'_>,
) -> Result<ChainDraws> {
    // nuts-rs errors carry a backtrace in their text: keep the first line.
    let sampler_err = |e: &dyn std::fmt::Display| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("sampler error").to_string();
        Error::invalid("nuts", format!("chain {chain}: {first}"))
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ chain);
    let math = CpuMath::new(Adapter(density));
    let mut sampler = settings
        .new_chain(chain, math, &mut rng)
        .map_err(|e| sampler_err(&e))?;
    sampler.set_position(init).map_err(|e| sampler_err(&e))?;
    let mut out = ChainDraws {
        draws: Vec::new(),
        divergent: Vec::new(),
        steps: Vec::new(),
        depth: Vec::new(),
        energy: Vec::new(),
        lp: Vec::new(),
        step_size: f64::NAN,
        warmup_steps: 0,
    };
    let dims = From::from(&*sampler.math());
    for k in 0..total {
        let (draw, _, mut stats, info) = sampler.expanded_draw().map_err(|e| sampler_err(&e))?;
        if progress(chain as usize, k + 1) == Flow::Stop {
            return Err(Error::Cancelled);
        }
        if k < warmup {
            out.warmup_steps += info.num_steps;
        } else {
            // The per-draw statistics are only reachable by name.
            let (mut energy, mut depth, mut lp) = (f64::NAN, 0, f64::NAN);
            for (name, value) in nuts_rs::Storable::get_all(&mut stats, &dims) {
                match (name, value) {
                    ("energy", Some(nuts_rs::Value::ScalarF64(v))) => energy = v,
                    ("depth", Some(nuts_rs::Value::ScalarU64(v))) => depth = v,
                    ("logp", Some(nuts_rs::Value::ScalarF64(v))) => lp = v,
                    _ => {}
                }
            }
            out.draws.push(draw.to_vec());
            out.divergent.push(info.diverging);
            out.steps.push(info.num_steps);
            out.depth.push(depth);
            out.energy.push(energy);
            out.lp.push(lp);
            out.step_size = info.step_size;
        }
    }
    Ok(out)
}

/// Runs one chain per entry of `inits`, each with its own density from `make`.
pub fn sample<D: LogDensity>(
    make: impl Fn() -> D + Sync,
    inits: &[Vec<f64>],
    settings: &NutsSettings,
    par: Par,
) -> Result<Vec<ChainDraws>> {
    sample_with(make, inits, settings, par, &|_, _| Flow::Continue)
}

/// [`sample`], reporting every draw to `progress` (which may cancel).
pub fn sample_with<D: LogDensity>(
    make: impl Fn() -> D + Sync,
    inits: &[Vec<f64>],
    settings: &NutsSettings,
    par: Par,
    progress: Progress<'_>,
) -> Result<Vec<ChainDraws>> {
    settings.validate(inits.len())?;
    let total = settings.num_warmup + settings.num_samples;
    let one = |(c, init): (usize, &Vec<f64>)| -> Result<ChainDraws> {
        let chain = c as u64;
        // The two mass-matrix kinds are different types with the same fields.
        macro_rules! run_with {
            ($kind:ty) => {{
                let mut s = <$kind>::default();
                s.num_tune = settings.num_warmup;
                s.num_draws = settings.num_samples;
                s.maxdepth = settings.max_tree_depth;
                s.seed = settings.seed;
                s.adapt_options.step_size_settings.target_accept = settings.target_accept;
                run_chain(
                    &s,
                    make(),
                    init,
                    chain,
                    settings.seed,
                    total,
                    settings.num_warmup,
                    progress,
                )
            }};
        }
        match settings.mass {
            MassMatrix::Diag => run_with!(nuts_rs::DiagNutsSettings),
            MassMatrix::LowRank => run_with!(nuts_rs::LowRankNutsSettings),
        }
    };
    if par.is_parallel() {
        inits.par_iter().enumerate().map(one).collect()
    } else {
        inits.iter().enumerate().map(one).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A correlated Gaussian with known covariance Σ = [[1, 1.8], [1.8, 4]] (ρ = 0.9).
    struct Gauss;

    impl LogDensity for Gauss {
        fn dim(&self) -> usize {
            2
        }
        fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> std::result::Result<f64, DensityError> {
            // Σ⁻¹ = 1/(4 − 3.24) · [[4, −1.8], [−1.8, 1]].
            let det = 4.0 - 1.8 * 1.8;
            let (a, b, c) = (4.0 / det, -1.8 / det, 1.0 / det);
            grad[0] = -(a * x[0] + b * x[1]);
            grad[1] = -(b * x[0] + c * x[1]);
            Ok(-0.5 * (a * x[0] * x[0] + 2.0 * b * x[0] * x[1] + c * x[1] * x[1]))
        }
    }

    /// A banana: x ~ N(0, 1), y | x ~ N(x²/2, 1): E[x] = 0, E[y] = 1/2, Var y = 1.5.
    struct Banana;

    impl LogDensity for Banana {
        fn dim(&self) -> usize {
            2
        }
        fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> std::result::Result<f64, DensityError> {
            let r = x[1] - 0.5 * x[0] * x[0];
            grad[0] = -x[0] + r * x[0];
            grad[1] = -r;
            Ok(-0.5 * x[0] * x[0] - 0.5 * r * r)
        }
    }

    fn pooled(chains: &[ChainDraws], k: usize) -> Vec<f64> {
        chains
            .iter()
            .flat_map(|c| c.draws.iter().map(move |d| d[k]))
            .collect()
    }

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    fn cov(a: &[f64], b: &[f64]) -> f64 {
        let (ma, mb) = (mean(a), mean(b));
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - ma) * (y - mb))
            .sum::<f64>()
            / (a.len() as f64 - 1.0)
    }

    #[test]
    fn correlated_gaussian_moments_match() {
        let inits = vec![
            vec![0.5, -0.5],
            vec![-1.0, 1.0],
            vec![0.0, 2.0],
            vec![1.0, 0.0],
        ];
        for mass in [MassMatrix::Diag, MassMatrix::LowRank] {
            let settings = NutsSettings {
                mass,
                seed: 3,
                ..NutsSettings::default()
            };
            let chains = sample(|| Gauss, &inits, &settings, Par::Seq).expect("sample");
            let (x, y) = (pooled(&chains, 0), pooled(&chains, 1));
            // 4000 draws with ESS of a few thousand: Monte Carlo errors ≈ 0.03 (mean x),
            // 0.06 (mean y); the bounds are about 4 of them.
            assert!(mean(&x).abs() < 0.12, "{mass:?} mean x {}", mean(&x));
            assert!(mean(&y).abs() < 0.25, "{mass:?} mean y {}", mean(&y));
            assert!(
                (cov(&x, &x) - 1.0).abs() < 0.12,
                "{mass:?} var x {}",
                cov(&x, &x)
            );
            assert!(
                (cov(&y, &y) - 4.0).abs() < 0.5,
                "{mass:?} var y {}",
                cov(&y, &y)
            );
            assert!(
                (cov(&x, &y) - 1.8).abs() < 0.25,
                "{mass:?} cov {}",
                cov(&x, &y)
            );
            assert_eq!(
                chains
                    .iter()
                    .flat_map(|c| &c.divergent)
                    .filter(|d| **d)
                    .count(),
                0
            );
            // Per-draw statistics come through: energies finite, a well-behaved E-BFMI,
            // depths consistent with the step counts.
            for c in &chains {
                assert!(c.energy.iter().all(|e| e.is_finite()));
                let b = crate::mcmc::diagnostics::bfmi(&c.energy);
                assert!(b > 0.5, "{mass:?} E-BFMI {b}");
                for (d, s) in c.depth.iter().zip(&c.steps) {
                    assert!(*s < 2 << d, "{s} steps at depth {d}");
                }
            }
        }
    }

    #[test]
    fn banana_moments_match_and_threads_change_nothing() {
        // (nuts-rs needs a non-zero gradient at the start to size the mass matrix.)
        let inits = vec![
            vec![0.3, 0.2],
            vec![1.0, 1.0],
            vec![-1.0, 0.1],
            vec![0.5, 2.0],
        ];
        let settings = NutsSettings {
            seed: 11,
            ..NutsSettings::default()
        };
        let chains = sample(|| Banana, &inits, &settings, Par::Seq).expect("sample");
        let (x, y) = (pooled(&chains, 0), pooled(&chains, 1));
        assert!(mean(&x).abs() < 0.12, "mean x {}", mean(&x));
        assert!((mean(&y) - 0.5).abs() < 0.15, "mean y {}", mean(&y));
        assert!((cov(&y, &y) - 1.5).abs() < 0.3, "var y {}", cov(&y, &y));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("pool");
        let par = pool
            .install(|| sample(|| Banana, &inits, &settings, Par::threads(2)))
            .expect("sample");
        assert_eq!(chains, par);
    }

    #[test]
    fn bad_settings_are_named() {
        let s = NutsSettings {
            target_accept: 1.0,
            ..NutsSettings::default()
        };
        assert!(
            matches!(sample(|| Gauss, &[vec![0.0, 0.0]], &s, Par::Seq), Err(Error::InvalidValue { name, .. }) if name == "target_accept_prob")
        );
        assert!(sample(|| Gauss, &[], &NutsSettings::default(), Par::Seq).is_err());
    }
}

//! From a config to the solver and sampler settings of one fit problem: the NLSQ settings
//! (multistart count resolved against the problem) and the CMC settings (noise model,
//! explicit priors, shards). One place, so the CLI, the node, Slurm shard tasks and the
//! browser sample the same posterior from the same config.

use super::{CmcOptions, Config, NoiseKind};
use crate::mcmc::cmc::CmcSettings;
use crate::mcmc::nuts::NutsSettings;
use crate::mcmc::posterior::{Noise, PosteriorOptions};
use crate::nlsq::{FitProblem, NlsqReport, NlsqSettings, Strategy};

/// The NLSQ settings of `config` for `problem`. `multistart` overrides the config's
/// multistart (`Some(0)`: off); `strategy` its memory strategy; `memory_budget_bytes` is
/// what the caller can spare (the core cannot ask the machine).
pub fn nlsq_settings(
    config: &Config,
    problem: &FitProblem,
    multistart: Option<usize>,
    strategy: Option<Strategy>,
    memory_budget_bytes: usize,
) -> NlsqSettings {
    let o = &config.fit.nlsq;
    // The reference's default count moves every free parameter down and up once.
    let default_starts = 2 * problem.n_params() + 1;
    let multistart_n = match multistart {
        Some(n) => n,
        None if o.multistart => o.multistart_n.unwrap_or(default_starts),
        None => 0,
    };
    NlsqSettings {
        tolerances: o.tolerances,
        strategy: strategy.unwrap_or(o.strategy),
        chunk_size: o.chunk_size,
        memory_budget_bytes,
        multistart_n,
        seed: o.seed,
        multistart_width: 1.0,
    }
}

impl CmcOptions {
    /// The per-chain NUTS settings.
    pub fn nuts(&self) -> NutsSettings {
        NutsSettings {
            num_warmup: self.num_warmup,
            num_samples: self.num_samples,
            target_accept: self.target_accept_prob,
            max_tree_depth: self.max_tree_depth,
            seed: self.seed,
            mass: self.mass,
        }
    }

    /// Checks the sampler settings, naming the offending one (before any fitting starts).
    pub fn check(&self) -> crate::Result<()> {
        self.nuts().validate(self.num_chains)
    }

    /// The CMC settings for `problem` of `config`, with σ from the NLSQ fit
    /// (`sigma_nlsq`, used when the noise is fixed).
    pub fn settings(&self, config: &Config, problem: &FitProblem, sigma_nlsq: f64) -> CmcSettings {
        let noise = match self.noise {
            // The reference's HalfNormal(1.5 × MAD of the data); shards temper it by 1/K,
            // which is its ×√K.
            NoiseKind::Sampled => Noise::Sampled {
                scale: 1.5 * problem.data_scale(),
            },
            NoiseKind::Fixed => Noise::Fixed(sigma_nlsq),
        };
        let mut priors = Vec::new();
        for p in &config.parameters.physics {
            if let Some(prior) = p.prior
                && p.vary
            {
                priors.push((p.name.to_string(), prior));
            }
        }
        for (setting, name) in [
            (&config.parameters.contrast, "contrast"),
            (&config.parameters.offset, "offset"),
        ] {
            if let Some(prior) = setting.prior
                && problem.param_names().iter().any(|n| n == name)
            {
                priors.push((name.to_string(), prior));
            }
        }
        CmcSettings {
            nuts: self.nuts(),
            num_chains: self.num_chains,
            shards: self.shards,
            strategy: self.strategy,
            posterior: PosteriorOptions {
                noise,
                priors,
                reparam: self.reparam,
            },
            robust: self.robust,
            validation: self.validation,
        }
    }

    /// Draws (warm-up included) that sampling `problem` takes over every shard and chain.
    pub fn total_draws(&self, problem: &FitProblem) -> u64 {
        let k = self
            .shards
            .resolve(problem.n_residuals(), problem.n_rows())
            .unwrap_or(1) as u64;
        k * self.num_chains as u64 * (self.num_warmup + self.num_samples)
    }
}

/// RMS of the NLSQ residuals per independent cell: the σ a fixed-noise likelihood uses and
/// a sampled σ starts from.
pub fn sigma_from_nlsq(report: &NlsqReport) -> f64 {
    (report.chi2 / report.n_points.max(1) as f64)
        .sqrt()
        .max(1e-12)
}

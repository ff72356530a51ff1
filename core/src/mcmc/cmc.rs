//! The Consensus Monte Carlo driver: shard a fit problem, run NUTS chains on every shard
//! from the NLSQ optimum, judge each shard, combine the sound ones, and summarise the
//! combined posterior with its diagnostics. Shards run one after another, or in parallel
//! on the caller's pool (chains inside a shard then run sequentially); the draws are the
//! same either way, since every stream comes from (seed, shard, chain).

use serde::{Deserialize, Serialize};

use super::consensus::combine;
use super::diagnostics::{ess_bulk, ess_tail, rhat};
use super::nuts::{ChainDraws, NutsSettings, sample};
use super::posterior::{Noise, Posterior};
use super::shard::{ShardStrategy, shard_problems};
use crate::error::{Error, Result};
use crate::exec::{Event, Flow, Observer, Par};
use crate::nlsq::FitProblem;

/// Settings of a CMC run.
#[derive(Debug, Clone, PartialEq)]
pub struct CmcSettings {
    /// Per-chain sampler settings (the seed is combined with the shard index).
    pub nuts: NutsSettings,
    /// Chains per shard.
    pub num_chains: usize,
    /// Number of shards K (1: plain NUTS on all cells).
    pub num_shards: usize,
    /// How rows go to shards.
    pub strategy: ShardStrategy,
    /// Noise model of the likelihood.
    pub noise: Noise,
    /// Drop outlier shards before combining.
    pub robust: bool,
    /// A shard whose largest R̂ exceeds this is excluded.
    pub max_rhat: f64,
}

impl Default for CmcSettings {
    fn default() -> Self {
        Self {
            nuts: NutsSettings::default(),
            num_chains: 4,
            num_shards: 1,
            strategy: ShardStrategy::Stride,
            noise: Noise::Sampled { scale: 0.01 },
            robust: true,
            max_rhat: 1.1,
        }
    }
}

/// What happened on one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardSummary {
    /// Shard index.
    pub shard: usize,
    /// Independent cells in it.
    pub n_cells: usize,
    /// Largest R̂ over its parameters (NaN if it failed).
    pub max_rhat: f64,
    /// Smallest bulk ESS over its parameters.
    pub min_ess_bulk: f64,
    /// Divergent kept draws.
    pub divergences: usize,
    /// Whether it entered the combination.
    pub used: bool,
    /// Why not, when not.
    pub reason: Option<String>,
}

/// Posterior summary of one quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSummary {
    /// Name (as in the fit's optimiser vector, or `sigma`).
    pub name: String,
    /// Posterior mean.
    pub mean: f64,
    /// Posterior standard deviation.
    pub std: f64,
    /// Median.
    pub median: f64,
    /// 2.5 % quantile.
    pub q2_5: f64,
    /// 97.5 % quantile.
    pub q97_5: f64,
    /// Lower end of the shortest 94 % interval.
    pub hdi94_low: f64,
    /// Upper end of the shortest 94 % interval.
    pub hdi94_high: f64,
    /// Rank-normalised split R̂.
    pub r_hat: f64,
    /// Bulk effective sample size.
    pub ess_bulk: f64,
    /// Tail effective sample size.
    pub ess_tail: f64,
}

/// The result of a CMC run.
#[derive(Debug, Clone, PartialEq)]
pub struct CmcReport {
    /// Per-quantity summaries (the fit's parameters, then σ when sampled).
    pub params: Vec<ParamSummary>,
    /// Combined draws in the fit's coordinates, `[chain][draw][quantity]`.
    pub draws: Vec<Vec<Vec<f64>>>,
    /// Per-shard outcomes.
    pub shards: Vec<ShardSummary>,
    /// Divergent draws over all used shards.
    pub divergences: usize,
}

fn quantile(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Summary of one quantity from per-chain draws.
pub fn summarise(name: &str, chains: &[Vec<f64>]) -> ParamSummary {
    let mut all: Vec<f64> = chains.iter().flatten().copied().collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let std = (all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    all.sort_by(f64::total_cmp);
    let width = ((0.94 * n).ceil() as usize).clamp(1, all.len());
    let (lo, _) = (0..=all.len() - width)
        .map(|i| (i, all[i + width - 1] - all[i]))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, 0.0));
    ParamSummary {
        name: name.to_string(),
        mean,
        std,
        median: quantile(&all, 0.5),
        q2_5: quantile(&all, 0.025),
        q97_5: quantile(&all, 0.975),
        hdi94_low: all[lo],
        hdi94_high: all[lo + width - 1],
        r_hat: rhat(chains),
        ess_bulk: ess_bulk(chains),
        ess_tail: ess_tail(chains),
    }
}

/// Per-quantity chains (`[quantity][chain][draw]`) of draws in unconstrained coordinates.
fn by_quantity(post: &Posterior<'_>, chains: &[Vec<Vec<f64>>]) -> Vec<Vec<Vec<f64>>> {
    let converted: Vec<Vec<Vec<f64>>> = chains
        .iter()
        .map(|c| {
            c.iter()
                .map(|u| {
                    let (mut x, s) = post.from_unconstrained(u);
                    x.extend(s);
                    x
                })
                .collect()
        })
        .collect();
    let dim = converted
        .first()
        .and_then(|c| c.first())
        .map_or(0, Vec::len);
    (0..dim)
        .map(|k| {
            converted
                .iter()
                .map(|c| c.iter().map(|d| d[k]).collect())
                .collect()
        })
        .collect()
}

/// Runs CMC on `problem` from the optimiser vector `x0` (the NLSQ optimum) with noise
/// level `sigma0` as the sampled σ's start.
pub fn run_cmc(
    problem: &FitProblem,
    x0: &[f64],
    sigma0: f64,
    settings: &CmcSettings,
    par: Par,
    observer: &dyn Observer,
) -> Result<CmcReport> {
    settings.nuts.validate(settings.num_chains)?;
    let k = settings.num_shards;
    let shards = shard_problems(problem, k, settings.strategy, settings.nuts.seed)?;
    let names: Vec<String> = problem
        .param_names()
        .into_iter()
        .chain(matches!(settings.noise, Noise::Sampled { .. }).then(|| "sigma".to_string()))
        .collect();
    let run_shard = |(s, sp): (usize, &FitProblem)| -> Result<Vec<ChainDraws>> {
        let post = Posterior::new(sp, settings.noise).with_prior_weight(1.0 / k as f64);
        let init = post.to_unconstrained(x0, Some(sigma0));
        let inits = vec![init; settings.num_chains];
        let nuts = NutsSettings {
            seed: settings.nuts.seed.wrapping_add(1_000_003 * s as u64),
            ..settings.nuts.clone()
        };
        let inner = if par.is_parallel() && k == 1 {
            par
        } else {
            Par::Seq
        };
        let out = sample(|| post.clone(), &inits, &nuts, inner);
        if observer.on(&Event::Note(format!("shard {s} of {k} sampled"))) == Flow::Stop {
            return Err(Error::Cancelled);
        }
        out
    };
    observer.on(&Event::PhaseStarted("cmc"));
    let results: Vec<Result<Vec<ChainDraws>>> = if par.is_parallel() && k > 1 {
        use rayon::prelude::*;
        shards.par_iter().enumerate().map(run_shard).collect()
    } else {
        shards.iter().enumerate().map(run_shard).collect()
    };
    let full = Posterior::new(problem, settings.noise);
    let mut summaries = Vec::new();
    let mut good: Vec<Vec<ChainDraws>> = Vec::new();
    let mut good_index = Vec::new();
    for (s, (res, sp)) in results.into_iter().zip(&shards).enumerate() {
        let n_cells = sp.n_cells();
        match res {
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) => summaries.push(ShardSummary {
                shard: s,
                n_cells,
                max_rhat: f64::NAN,
                min_ess_bulk: f64::NAN,
                divergences: 0,
                used: false,
                reason: Some(format!("sampling failed: {e}")),
            }),
            Ok(chains) => {
                let raw: Vec<Vec<Vec<f64>>> = chains.iter().map(|c| c.draws.clone()).collect();
                let q = by_quantity(&full, &raw);
                let max_rhat = q.iter().map(|c| rhat(c)).fold(0.0, f64::max);
                let min_ess = q.iter().map(|c| ess_bulk(c)).fold(f64::INFINITY, f64::min);
                let divergences = chains
                    .iter()
                    .flat_map(|c| &c.divergent)
                    .filter(|d| **d)
                    .count();
                let reason = (max_rhat > settings.max_rhat || !max_rhat.is_finite())
                    .then(|| format!("not converged: max R̂ {max_rhat:.3} > {}", settings.max_rhat));
                summaries.push(ShardSummary {
                    shard: s,
                    n_cells,
                    max_rhat,
                    min_ess_bulk: min_ess,
                    divergences,
                    used: reason.is_none(),
                    reason: reason.clone(),
                });
                if reason.is_none() {
                    good_index.push(s);
                    good.push(chains);
                }
            }
        }
    }
    if good.is_empty() {
        let reasons: Vec<String> = summaries
            .iter()
            .map(|s| format!("shard {}: {}", s.shard, s.reason.as_deref().unwrap_or("?")))
            .collect();
        return Err(Error::invalid(
            "cmc",
            format!("no shard converged ({})", reasons.join("; ")),
        ));
    }
    let consensus = combine(&good, settings.robust)?;
    for (pos, reason) in &consensus.excluded {
        let s = good_index[*pos];
        summaries[s].used = false;
        summaries[s].reason = Some(reason.clone());
    }
    let divergences = summaries
        .iter()
        .filter(|s| s.used)
        .map(|s| s.divergences)
        .sum();
    let per_quantity = by_quantity(&full, &consensus.chains);
    let params = names
        .iter()
        .zip(&per_quantity)
        .map(|(n, c)| summarise(n, c))
        .collect();
    let draws = (0..consensus.chains.len())
        .map(|c| {
            (0..consensus.chains[c].len())
                .map(|t| per_quantity.iter().map(|q| q[c][t]).collect())
                .collect()
        })
        .collect();
    observer.on(&Event::PhaseFinished("cmc"));
    Ok(CmcReport {
        params,
        draws,
        shards: summaries,
        divergences,
    })
}

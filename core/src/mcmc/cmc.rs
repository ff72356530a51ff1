//! The Consensus Monte Carlo driver: shard a fit problem, run NUTS chains on every shard
//! from the NLSQ optimum, judge each shard, combine the sound ones, and summarise the
//! combined posterior with its diagnostics and a verdict.
//!
//! Shards run one after another ([`Backend::Sequential`]) or on worker pools handed in by
//! the caller ([`Backend::Parallel`]; natively each pool is pinned to a NUMA node). Every
//! random stream comes from (seed, shard, chain) alone, so the draws are bit-identical
//! whatever the backend and the number of workers or threads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use super::consensus::combine;
use super::diagnostics::{bfmi, ess_bulk, ess_tail, rhat};
use super::nuts::{ChainDraws, NutsSettings, sample_with};
use super::posterior::{Centre, Posterior, PosteriorOptions, Reparam};
use super::shard::{ShardStrategy, shard_problems};
use super::transform::{RidgePair, Slope};
use crate::error::{Error, Result};
use crate::exec::{Event, Flow, Observer, Par};
use crate::nlsq::FitProblem;

/// How many shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardCount {
    /// The reference's rule (fitting.md §2.6): one shard up to 100 000 data points (both
    /// triangles), else ⌈points / max_points_per_shard⌉ (10 000 when `None`), at most 500
    /// and at most one per matrix row.
    Auto {
        /// Largest shard, in data points; `Some` also forces sharding below 100 000.
        max_points_per_shard: Option<usize>,
    },
    /// Exactly this many (1: plain NUTS on all cells).
    Fixed(usize),
}

impl ShardCount {
    /// The shard count for a problem with `n_points` data points (both triangles) in
    /// `n_rows` rows.
    pub fn resolve(self, n_points: usize, n_rows: usize) -> Result<usize> {
        match self {
            ShardCount::Fixed(k) => Ok(k),
            ShardCount::Auto {
                max_points_per_shard: Some(0),
            } => Err(Error::invalid("max_points_per_shard", "must be ≥ 1")),
            ShardCount::Auto {
                max_points_per_shard,
            } => {
                if max_points_per_shard.is_none() && n_points <= 100_000 {
                    return Ok(1);
                }
                let m = max_points_per_shard.unwrap_or(10_000);
                Ok(n_points.div_ceil(m).clamp(1, 500).min(n_rows.max(1)))
            }
        }
    }
}

/// Thresholds of the verdict (the reference's `validation` section).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Largest acceptable R̂ (the reference's 1.1; 1.01 is what we recommend).
    pub max_r_hat: f64,
    /// Smallest acceptable bulk ESS.
    pub min_ess: f64,
    /// Smallest acceptable E-BFMI of a chain.
    pub min_bfmi: f64,
    /// Largest acceptable fraction of divergent draws (a shard above it is excluded).
    pub max_divergence_rate: f64,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            max_r_hat: 1.1,
            min_ess: 400.0,
            min_bfmi: 0.3,
            max_divergence_rate: 0.10,
        }
    }
}

/// Settings of a CMC run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CmcSettings {
    /// Per-chain sampler settings (the seed is combined with the shard index).
    pub nuts: NutsSettings,
    /// Chains per shard.
    pub num_chains: usize,
    /// Number of shards.
    pub shards: ShardCount,
    /// How rows go to shards.
    pub strategy: ShardStrategy,
    /// Noise, priors and coordinates.
    pub posterior: PosteriorOptions,
    /// Drop outlier shards before combining.
    pub robust: bool,
    /// Verdict thresholds.
    pub validation: Validation,
}

impl Default for CmcSettings {
    fn default() -> Self {
        Self {
            nuts: NutsSettings::default(),
            num_chains: 4,
            shards: ShardCount::Auto {
                max_points_per_shard: None,
            },
            strategy: ShardStrategy::Stride,
            posterior: PosteriorOptions::new(super::posterior::Noise::Sampled { scale: 0.01 }),
            robust: true,
            validation: Validation::default(),
        }
    }
}

/// Where shards run.
#[derive(Debug, Clone, Copy)]
pub enum Backend<'p> {
    /// One shard after another; a shard's chains run with this parallelism (on the pool
    /// the caller entered).
    Sequential(Par),
    /// Shards dealt to these worker pools as they free up; a shard's chains run in
    /// parallel on its worker's threads.
    Parallel(&'p [rayon::ThreadPool]),
    /// Shards run by an outside executor (other processes, a cluster scheduler), each
    /// through [`run_shard`] with the same inputs, so the draws are the same as here.
    External(&'p dyn ShardExecutor),
}

/// Runs the shards of a CMC run somewhere else. Each shard `s` of `k` must be the result of
/// [`run_shard`] with the run's problem, start, settings and `s`.
pub trait ShardExecutor: Sync + std::fmt::Debug {
    /// Runs shards `0..k`; one outcome per shard, in order. `Err` fails the whole run
    /// (e.g. retries exhausted); a shard's own `Err` only excludes that shard. The
    /// executor reports with [`Event::Shard`] and stops when the observer says so.
    fn run(&self, k: usize, observer: &dyn Observer) -> Result<Vec<Result<Vec<ChainDraws>>>>;
}

/// Samples shard `s` of the CMC run of `problem` (from `x0`, σ start `sigma0`): what every
/// backend runs for one shard, exposed so that another process can run it and produce
/// the same draws.
pub fn run_shard(
    problem: &FitProblem,
    x0: &[f64],
    sigma0: f64,
    settings: &CmcSettings,
    s: usize,
    par: Par,
    observer: &dyn Observer,
) -> Result<Vec<ChainDraws>> {
    settings.nuts.validate(settings.num_chains)?;
    let k = settings
        .shards
        .resolve(problem.n_residuals(), problem.n_rows())?;
    if s >= k {
        return Err(Error::invalid(
            "shard",
            format!("shard {s} does not exist (the run has {k})"),
        ));
    }
    let shards = shard_problems(problem, k, settings.strategy, settings.nuts.seed)?;
    let centre = Centre::laplace(problem, &settings.posterior, x0, Some(sigma0))?;
    sample_shard(&shards[s], k, s, &centre, sigma0, settings, par, observer)
}

/// The sampler seed of shard `s` in a run seeded `seed`.
pub fn shard_seed(seed: u64, s: usize) -> u64 {
    seed.wrapping_add(1_000_003 * s as u64)
}

/// The sampling of one shard problem (shard `s` of `k`), in the run's coordinates
/// `centre`.
#[allow(clippy::too_many_arguments)]
fn sample_shard(
    shard: &FitProblem,
    k: usize,
    s: usize,
    centre: &Centre,
    sigma0: f64,
    settings: &CmcSettings,
    par: Par,
    observer: &dyn Observer,
) -> Result<Vec<ChainDraws>> {
    let post =
        Posterior::anchored(shard, &settings.posterior, centre)?.with_prior_weight(1.0 / k as f64);
    // Chains start at the centre (the posterior's mode), not at the NLSQ optimum, which
    // can lie far out on a ridge the priors close.
    let init = post.to_unconstrained(&centre.x, Some(sigma0));
    let inits = vec![init; settings.num_chains];
    let nuts = NutsSettings {
        seed: shard_seed(settings.nuts.seed, s),
        ..settings.nuts.clone()
    };
    let total = nuts.num_warmup + nuts.num_samples;
    let progress = |chain: usize, draw: u64| {
        observer.on(&Event::Draw {
            shard: s,
            chain,
            draw,
            total,
        })
    };
    sample_with(|| post.clone(), &inits, &nuts, par, &progress)
}

/// What happened on one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardSummary {
    /// Shard index.
    pub shard: usize,
    /// Independent cells in it.
    pub n_cells: usize,
    /// Largest R̂ over its parameters (`None` if it failed).
    pub max_rhat: Option<f64>,
    /// Smallest bulk ESS over its parameters.
    pub min_ess_bulk: Option<f64>,
    /// Divergent kept draws (after warm-up).
    pub divergences: usize,
    /// Divergent kept draws of each chain.
    pub divergences_per_chain: Vec<usize>,
    /// Gradient evaluations (leapfrog steps) in warm-up, over its chains.
    pub gradients_warmup: u64,
    /// Gradient evaluations while drawing the kept draws, over its chains.
    pub gradients_sampling: u64,
    /// E-BFMI of each chain.
    pub bfmi: Vec<f64>,
    /// Step size of each chain after warm-up.
    pub step_size: Vec<f64>,
    /// Mean tree depth over its kept draws.
    pub mean_tree_depth: Option<f64>,
    /// Whether it entered the combination.
    pub used: bool,
    /// Why not, when not.
    pub reason: Option<String>,
}

/// Posterior summary of one quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSummary {
    /// Name (as in the fit's optimiser vector, `sigma`, or an identified combination).
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
    /// Posterior contraction `1 − var_post/var_prior` (near 1: the data decide; near 0:
    /// the prior does).
    pub contraction: Option<f64>,
}

/// Sample statistics of one shard's kept draws, `[chain][draw]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampleStats {
    /// Whether the draw diverged.
    pub divergent: Vec<Vec<bool>>,
    /// Tree depth.
    pub tree_depth: Vec<Vec<u64>>,
    /// Hamiltonian at the draw.
    pub energy: Vec<Vec<f64>>,
    /// Log density at the draw (sampler coordinates, up to a constant).
    pub lp: Vec<Vec<f64>>,
    /// Step size of each chain.
    pub step_size: Vec<f64>,
}

/// The overall judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Every check passed.
    pub converged: bool,
    /// One line per failed check, naming the parameter or shard.
    pub warnings: Vec<String>,
}

/// The result of a CMC run.
#[derive(Debug, Clone, PartialEq)]
pub struct CmcReport {
    /// Per-quantity summaries (the fit's parameters, then `sigma` when sampled).
    pub params: Vec<ParamSummary>,
    /// Identified combinations on exact or near ridges (e.g. `ln(f0·exp(−f1·f2))`).
    pub combinations: Vec<ParamSummary>,
    /// Combined draws in the fit's coordinates, `[chain][draw][quantity]`.
    pub draws: Vec<Vec<Vec<f64>>>,
    /// Draws of each identified combination, `[combination][chain][draw]`.
    pub combination_draws: Vec<Vec<Vec<f64>>>,
    /// Per-shard outcomes.
    pub shards: Vec<ShardSummary>,
    /// Per-shard sample statistics (empty for a failed shard).
    pub stats: Vec<SampleStats>,
    /// Divergent draws over all used shards.
    pub divergences: usize,
    /// Kept draws over all used shards.
    pub n_draws_total: usize,
    /// The verdict.
    pub verdict: Verdict,
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
        contraction: None,
    }
}

/// Draws in the fit's coordinates, `[chain][draw][quantity]` (σ last when sampled).
fn to_quantities(post: &Posterior<'_>, chains: &[Vec<Vec<f64>>]) -> Vec<Vec<Vec<f64>>> {
    chains
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
        .collect()
}

/// `[quantity][chain][draw]` of `[chain][draw][quantity]`.
fn by_quantity(draws: &[Vec<Vec<f64>>]) -> Vec<Vec<Vec<f64>>> {
    let dim = draws.first().and_then(|c| c.first()).map_or(0, Vec::len);
    (0..dim)
        .map(|k| {
            draws
                .iter()
                .map(|c| c.iter().map(|d| d[k]).collect())
                .collect()
        })
        .collect()
}

/// The identified combination of a pair at `x`.
fn combination(pair: &RidgePair, x: &[f64]) -> f64 {
    let k = match pair.slope {
        Slope::Quantity { index, sign } => sign * x[index],
        Slope::Const(c) => c,
    };
    x[pair.target].ln() + k * x[pair.partner]
}

/// What one shard's sampling produced.
type ShardOutcome = Result<Vec<ChainDraws>>;

/// Runs CMC on `problem` from the optimiser vector `x0` (the NLSQ optimum) with noise
/// level `sigma0` as the sampled σ's start.
pub fn run_cmc(
    problem: &FitProblem,
    x0: &[f64],
    sigma0: f64,
    settings: &CmcSettings,
    backend: Backend<'_>,
    observer: &dyn Observer,
) -> Result<CmcReport> {
    settings.nuts.validate(settings.num_chains)?;
    let v = &settings.validation;
    if v.max_r_hat.is_nan() || v.max_r_hat <= 1.0 {
        return Err(Error::invalid(
            "max_r_hat",
            format!("must be > 1, got {}", v.max_r_hat),
        ));
    }
    if !(v.max_divergence_rate >= 0.0 && v.max_divergence_rate <= 1.0) {
        return Err(Error::invalid(
            "max_divergence_rate",
            format!("must lie in [0, 1], got {}", v.max_divergence_rate),
        ));
    }
    if let Backend::Parallel([]) = backend {
        return Err(Error::invalid(
            "workers",
            "the parallel backend needs ≥ 1 worker",
        ));
    }
    let k = settings
        .shards
        .resolve(problem.n_residuals(), problem.n_rows())?;
    let shards = shard_problems(problem, k, settings.strategy, settings.nuts.seed)?;
    // Validate the posterior once, on the full problem, before any work.
    // One coordinate system for every shard, centred and sized on the whole problem.
    let centre = Centre::laplace(problem, &settings.posterior, x0, Some(sigma0))?;
    let full = Posterior::anchored(problem, &settings.posterior, &centre)?;
    let names: Vec<String> = problem
        .param_names()
        .into_iter()
        .chain(full.samples_sigma().then(|| "sigma".to_string()))
        .collect();

    let run_shard = |s: usize, par: Par| -> ShardOutcome {
        sample_shard(&shards[s], k, s, &centre, sigma0, settings, par, observer)
    };
    observer.on(&Event::PhaseStarted("cmc"));
    let results: Vec<ShardOutcome> = match backend {
        Backend::Sequential(par) => (0..k).map(|s| run_shard(s, par)).collect(),
        Backend::External(executor) => {
            let results = executor.run(k, observer)?;
            if results.len() != k {
                return Err(Error::Executor(format!(
                    "the shard executor returned {} results for {k} shards",
                    results.len()
                )));
            }
            results
        }
        Backend::Parallel(pools) => {
            let next = AtomicUsize::new(0);
            let slots: Vec<Mutex<Option<ShardOutcome>>> =
                (0..k).map(|_| Mutex::new(None)).collect();
            let work = |pool: &rayon::ThreadPool| {
                let par = Par::threads(pool.current_num_threads());
                pool.install(|| {
                    loop {
                        let s = next.fetch_add(1, Ordering::Relaxed);
                        if s >= k {
                            break;
                        }
                        let out = run_shard(s, par);
                        if let Ok(mut slot) = slots[s].lock() {
                            *slot = Some(out);
                        }
                    }
                });
            };
            // The first pool's threads drive the others (a cross-pool install lets the
            // waiting thread keep working), so no thread is created here.
            pools[0].scope(|scope| {
                for pool in pools.iter().skip(1) {
                    scope.spawn(move |_| work(pool));
                }
                work(&pools[0]);
            });
            slots
                .into_iter()
                .map(|m| {
                    m.into_inner()
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| Err(Error::invalid("shard", "worker panicked")))
                })
                .collect()
        }
    };
    if results.iter().any(|r| matches!(r, Err(Error::Cancelled))) {
        return Err(Error::Cancelled);
    }

    let mut summaries = Vec::new();
    let mut stats = Vec::new();
    let mut good: Vec<Vec<ChainDraws>> = Vec::new();
    let mut good_index = Vec::new();
    for (s, (res, sp)) in results.into_iter().zip(&shards).enumerate() {
        let n_cells = sp.n_cells();
        let chains = match res {
            Ok(chains) => chains,
            Err(e) => {
                summaries.push(ShardSummary {
                    shard: s,
                    n_cells,
                    max_rhat: None,
                    min_ess_bulk: None,
                    divergences: 0,
                    divergences_per_chain: Vec::new(),
                    gradients_warmup: 0,
                    gradients_sampling: 0,
                    bfmi: Vec::new(),
                    step_size: Vec::new(),
                    mean_tree_depth: None,
                    used: false,
                    reason: Some(format!("sampling failed: {e}")),
                });
                stats.push(SampleStats::default());
                continue;
            }
        };
        let raw: Vec<Vec<Vec<f64>>> = chains.iter().map(|c| c.draws.clone()).collect();
        let q = by_quantity(&to_quantities(&full, &raw));
        let max_rhat = q.iter().map(|c| rhat(c)).fold(0.0, f64::max);
        let min_ess = q.iter().map(|c| ess_bulk(c)).fold(f64::INFINITY, f64::min);
        let divergences = chains
            .iter()
            .flat_map(|c| &c.divergent)
            .filter(|d| **d)
            .count();
        let n_kept = chains.iter().map(|c| c.draws.len()).sum::<usize>();
        let rate = divergences as f64 / n_kept.max(1) as f64;
        let depth_sum: u64 = chains.iter().flat_map(|c| &c.depth).sum();
        // With one shard there is nothing to exclude it from: the verdict speaks instead.
        let reason = if k == 1 {
            None
        } else if !max_rhat.is_finite() || max_rhat > v.max_r_hat {
            Some(format!(
                "not converged: max R̂ {max_rhat:.3} > {}",
                v.max_r_hat
            ))
        } else if rate > v.max_divergence_rate {
            Some(format!(
                "divergence rate {:.1} % > {:.1} %",
                100.0 * rate,
                100.0 * v.max_divergence_rate
            ))
        } else {
            None
        };
        summaries.push(ShardSummary {
            shard: s,
            n_cells,
            max_rhat: Some(max_rhat),
            min_ess_bulk: Some(min_ess),
            divergences,
            divergences_per_chain: chains
                .iter()
                .map(|c| c.divergent.iter().filter(|d| **d).count())
                .collect(),
            gradients_warmup: chains.iter().map(|c| c.warmup_steps).sum(),
            gradients_sampling: chains.iter().flat_map(|c| &c.steps).sum(),
            bfmi: chains.iter().map(|c| bfmi(&c.energy)).collect(),
            step_size: chains.iter().map(|c| c.step_size).collect(),
            mean_tree_depth: Some(depth_sum as f64 / n_kept.max(1) as f64),
            used: reason.is_none(),
            reason: reason.clone(),
        });
        stats.push(SampleStats {
            divergent: chains.iter().map(|c| c.divergent.clone()).collect(),
            tree_depth: chains.iter().map(|c| c.depth.clone()).collect(),
            energy: chains.iter().map(|c| c.energy.clone()).collect(),
            lp: chains.iter().map(|c| c.lp.clone()).collect(),
            step_size: chains.iter().map(|c| c.step_size).collect(),
        });
        if reason.is_none() {
            good_index.push(s);
            good.push(chains);
        }
    }
    if good.is_empty() {
        // One line per distinct reason, with the shards that gave it.
        let mut by_reason: Vec<(String, Vec<usize>)> = Vec::new();
        for s in &summaries {
            let reason = s.reason.clone().unwrap_or_else(|| "?".into());
            match by_reason.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, shards)) => shards.push(s.shard),
                None => by_reason.push((reason, vec![s.shard])),
            }
        }
        let text: Vec<String> = by_reason
            .iter()
            .map(|(reason, shards)| {
                let list: Vec<String> = shards.iter().take(5).map(|s| s.to_string()).collect();
                let more = if shards.len() > 5 {
                    format!(" and {} more", shards.len() - 5)
                } else {
                    String::new()
                };
                format!("shard {}{more}: {reason}", list.join(", "))
            })
            .collect();
        return Err(Error::invalid(
            "cmc",
            format!("no shard usable ({})", text.join("; ")),
        ));
    }
    let consensus = combine(&good, settings.robust)?;
    for (pos, reason) in &consensus.excluded {
        let s = good_index[*pos];
        summaries[s].used = false;
        summaries[s].reason = Some(reason.clone());
    }
    let used: Vec<&ShardSummary> = summaries.iter().filter(|s| s.used).collect();
    let divergences = used.iter().map(|s| s.divergences).sum();
    let n_draws_total = used.len() * settings.num_chains * settings.nuts.num_samples as usize;

    let draws = to_quantities(&full, &consensus.chains);
    let per_quantity = by_quantity(&draws);
    let (lo, hi) = full.bounds();
    let mut params: Vec<ParamSummary> = names
        .iter()
        .zip(&per_quantity)
        .map(|(n, c)| summarise(n, c))
        .collect();
    for (k, p) in params.iter_mut().enumerate().take(full.n_params()) {
        let var_prior = full.priors()[k].variance(lo[k], hi[k]);
        if var_prior > 0.0 {
            p.contraction = Some(1.0 - p.std * p.std / var_prior);
        }
    }
    // Identified combinations, whatever coordinates were sampled.
    let all_pairs = super::posterior::ridge_pairs(
        problem,
        &problem.param_names(),
        Reparam {
            fraction_ridge: true,
            power_law: true,
            rate_triples: false,
        },
    );
    let combination_draws: Vec<Vec<Vec<f64>>> = all_pairs
        .iter()
        .map(|pair| {
            draws
                .iter()
                .map(|c| c.iter().map(|x| combination(pair, x)).collect())
                .collect()
        })
        .collect();
    let combinations: Vec<ParamSummary> = all_pairs
        .iter()
        .zip(&combination_draws)
        .map(|(pair, chains)| summarise(&pair.label, chains))
        .collect();

    let verdict = judge(
        &params,
        &combinations,
        &all_pairs,
        &summaries,
        divergences,
        n_draws_total,
        v,
    );
    observer.on(&Event::PhaseFinished("cmc"));
    if observer.on(&Event::Note("cmc done".into())) == Flow::Stop {
        return Err(Error::Cancelled);
    }
    Ok(CmcReport {
        params,
        combinations,
        draws,
        combination_draws,
        shards: summaries,
        stats,
        divergences,
        n_draws_total,
        verdict,
    })
}

/// The verdict. Quantities that are individually unidentified on an exact ridge (`f0`,
/// `f2`: only `f0·exp(−f1·f2)` enters the model) are judged through their combination.
fn judge(
    params: &[ParamSummary],
    combinations: &[ParamSummary],
    pairs: &[RidgePair],
    shards: &[ShardSummary],
    divergences: usize,
    n_draws: usize,
    v: &Validation,
) -> Verdict {
    let mut warnings = Vec::new();
    let on_exact_ridge = |name: &str| {
        pairs
            .iter()
            .any(|p| p.label.starts_with("ln(f0") && (name == "f0" || name == "f2"))
    };
    let judged = params
        .iter()
        .filter(|p| !on_exact_ridge(&p.name))
        .chain(combinations.iter().filter(|c| c.name.starts_with("ln(f0")));
    for p in judged {
        if p.r_hat.is_nan() || p.r_hat >= v.max_r_hat {
            warnings.push(format!(
                "{}: R̂ {:.3} ≥ {} (chains disagree; run longer)",
                p.name, p.r_hat, v.max_r_hat
            ));
        }
        if p.ess_bulk.is_nan() || p.ess_bulk < v.min_ess {
            warnings.push(format!(
                "{}: bulk ESS {:.0} < {} (too few effective draws)",
                p.name, p.ess_bulk, v.min_ess
            ));
        }
    }
    for s in shards.iter().filter(|s| s.used) {
        for (c, b) in s.bfmi.iter().enumerate() {
            if b.is_nan() || *b < v.min_bfmi {
                warnings.push(format!(
                    "shard {} chain {c}: E-BFMI {b:.2} < {} (poor energy exploration)",
                    s.shard, v.min_bfmi
                ));
            }
        }
    }
    for s in shards.iter().filter(|s| !s.used) {
        warnings.push(format!(
            "shard {} excluded: {}",
            s.shard,
            s.reason.as_deref().unwrap_or("?")
        ));
    }
    let rate = divergences as f64 / n_draws.max(1) as f64;
    if rate > v.max_divergence_rate {
        warnings.push(format!(
            "{divergences} divergent draws ({:.1} % > {:.1} %)",
            100.0 * rate,
            100.0 * v.max_divergence_rate
        ));
    }
    Verdict {
        converged: warnings.is_empty(),
        warnings,
    }
}

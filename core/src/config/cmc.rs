//! `optimization.cmc`: the reference's nested sections (`per_shard_mcmc`, `sharding`,
//! `backend_config`, `validation`, `combination`, `reparameterization`) or flat keys (flat
//! wins), plus our additions (`noise`, `mass_matrix`, `max_workers`, `power_law`).

use crate::mcmc::cmc::{ShardCount, Validation};
use crate::mcmc::nuts::MassMatrix;
use crate::mcmc::posterior::Reparam;
use crate::mcmc::shard::ShardStrategy;

use super::Warnings;
use super::error::ConfigError;
use super::node::Node;

/// Where CMC shards run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// One after another.
    Sequential,
    /// On parallel workers (one per NUMA node, or `max_workers`).
    Parallel,
    /// As a Slurm job array (`optimization.cmc.slurm`).
    Slurm,
}

/// How σ enters the likelihood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseKind {
    /// Sampled with a half-normal prior of 1.5 × the data's robust spread (the reference).
    Sampled,
    /// Held at the NLSQ residuals' RMS.
    Fixed,
}

/// CMC options.
#[derive(Debug, Clone, PartialEq)]
pub struct CmcOptions {
    /// Warm-up draws per chain.
    pub num_warmup: u64,
    /// Kept draws per chain.
    pub num_samples: u64,
    /// Chains per shard.
    pub num_chains: usize,
    /// Target acceptance, in (0, 1).
    pub target_accept_prob: f64,
    /// Largest tree depth.
    pub max_tree_depth: u64,
    /// Seed.
    pub seed: u64,
    /// Mass matrix adaptation.
    pub mass: MassMatrix,
    /// Shard count rule.
    pub shards: ShardCount,
    /// Sharding strategy.
    pub strategy: ShardStrategy,
    /// Backend.
    pub backend: BackendKind,
    /// Parallel workers (0: one per NUMA node / as the machine suggests).
    pub max_workers: usize,
    /// The Slurm backend's settings.
    pub slurm: super::SlurmOptions,
    /// Verdict thresholds.
    pub validation: Validation,
    /// Robust combination (drop outlier shards).
    pub robust: bool,
    /// Ridge-straightening coordinates.
    pub reparam: Reparam,
    /// σ sampled or fixed.
    pub noise: NoiseKind,
}

impl Default for CmcOptions {
    fn default() -> Self {
        Self {
            num_warmup: 1000,
            num_samples: 1000,
            num_chains: 4,
            target_accept_prob: 0.9,
            max_tree_depth: 10,
            seed: 42,
            mass: MassMatrix::LowRank,
            shards: ShardCount::Auto {
                max_points_per_shard: None,
            },
            strategy: ShardStrategy::Stride,
            backend: BackendKind::Sequential,
            max_workers: 0,
            slurm: super::SlurmOptions::default(),
            validation: Validation::default(),
            robust: true,
            reparam: Reparam::default(),
            noise: NoiseKind::Sampled,
        }
    }
}

const SECTIONS: &[&str] = &[
    "per_shard_mcmc",
    "sharding",
    "backend_config",
    "validation",
    "combination",
    "reparameterization",
];

/// Keys we read (flat or in a section).
const USED: &[&str] = &[
    "num_warmup",
    "slurm",
    "num_samples",
    "num_chains",
    "target_accept_prob",
    "target_accept",
    "max_tree_depth",
    "seed",
    "dense_mass",
    "mass_matrix",
    "num_shards",
    "max_points_per_shard",
    "sharding_strategy",
    "backend_name",
    "backend",
    "max_workers",
    "max_r_hat",
    "r_hat_threshold",
    "min_ess",
    "min_bfmi",
    "max_divergence_rate",
    "combination_method",
    "use_reparam",
    "fraction_ridge",
    "power_law",
    "rate_triples",
    "noise",
];

/// Keys of the reference that change nothing here (its engine's internals).
const IGNORED: &[&str] = &[
    "enable",
    "min_points_for_cmc",
    "run_id",
    "prior_tempering",
    "per_angle",
    "nlsq",
    "timeout",
    "enable_jax_profiling",
    "jax_profile_dir",
    "init_strategy",
    "adaptive_sampling",
    "min_warmup",
    "min_samples",
    "fast_warmup",
    "chain_method",
    "enable_checkpoints",
    "checkpoint_dir",
    "min_points_per_shard",
    "min_points_per_param",
    "require_nlsq_warmstart",
    "allow_degenerate_warmstart",
    "max_parameter_cv",
    "heterogeneity_abort",
    "min_success_rate",
    "min_success_rate_warning",
    "reparameterization_d_total",
    "reparameterization_log_gamma",
    "bimodal_min_weight",
    "bimodal_min_separation",
    "per_shard_timeout",
    "heartbeat_timeout",
    "per_angle_mode",
    "constant_scaling_threshold",
];

fn positive_u64(n: &Node<'_>) -> Result<u64, ConfigError> {
    let v = n.usize()?;
    if v == 0 {
        return Err(n.error("must be ≥ 1"));
    }
    Ok(v as u64)
}

/// `"auto"` or a positive integer.
fn auto_or_count(n: &Node<'_>) -> Result<Option<usize>, ConfigError> {
    if n.value.as_str() == Some("auto") || n.is_null() {
        return Ok(None);
    }
    let v = n.usize()?;
    if v == 0 {
        return Err(n.error("must be ≥ 1 or \"auto\""));
    }
    Ok(Some(v))
}

impl CmcOptions {
    /// Reads `optimization.cmc` (absent: defaults).
    pub fn read(root: &Node<'_>, warnings: &mut Warnings) -> Result<Self, ConfigError> {
        let mut o = Self::default();
        let Some(cmc) = root.get("optimization").and_then(|op| op.get("cmc")) else {
            return Ok(o);
        };
        if cmc.is_null() {
            return Ok(o);
        }
        let mut check = |node: &Node<'_>| -> Result<(), ConfigError> {
            for (key, child) in node.children()? {
                if !USED.contains(&key) && !IGNORED.contains(&key) && !SECTIONS.contains(&key) {
                    warnings.push(format!("unknown key '{}' ignored", child.key));
                }
            }
            Ok(())
        };
        check(&cmc)?;
        let sections: Vec<Node<'_>> = SECTIONS.iter().filter_map(|s| cmc.get(s)).collect();
        for s in &sections {
            check(s)?;
        }
        // Flat keys win over the sections.
        let pick = |names: &[&str]| -> Option<Node<'_>> {
            names.iter().find_map(|n| {
                cmc.get(n)
                    .or_else(|| sections.iter().find_map(|s| s.get(n)))
            })
        };
        if let Some(n) = pick(&["num_warmup"]) {
            o.num_warmup = n.usize()? as u64;
        }
        if let Some(n) = pick(&["num_samples"]) {
            o.num_samples = positive_u64(&n)?;
        }
        if let Some(n) = pick(&["num_chains"]) {
            o.num_chains = positive_u64(&n)? as usize;
        }
        if let Some(n) = pick(&["target_accept_prob", "target_accept"]) {
            let v = n.f64()?;
            if !(v > 0.0 && v < 1.0) {
                return Err(n.error(format!("must lie in (0, 1), got {v}")));
            }
            o.target_accept_prob = v;
        }
        if let Some(n) = pick(&["max_tree_depth"]) {
            o.max_tree_depth = positive_u64(&n)?;
        }
        if let Some(n) = pick(&["seed"])
            && !n.is_null()
        {
            o.seed = n.usize()? as u64;
        }
        if let Some(n) = pick(&["dense_mass"]) {
            o.mass = if n.bool()? {
                MassMatrix::LowRank
            } else {
                MassMatrix::Diag
            };
        }
        if let Some(n) = pick(&["mass_matrix"]) {
            o.mass = match n.str()? {
                "diag" | "diagonal" => MassMatrix::Diag,
                "low_rank" | "dense" => MassMatrix::LowRank,
                other => {
                    return Err(n.error(format!("expected 'diag' or 'low_rank', found {other:?}")));
                }
            };
        }
        let num_shards = pick(&["num_shards"])
            .map(|n| auto_or_count(&n))
            .transpose()?;
        let max_points = pick(&["max_points_per_shard"])
            .map(|n| auto_or_count(&n))
            .transpose()?;
        o.shards = match num_shards.flatten() {
            Some(k) => ShardCount::Fixed(k),
            None => ShardCount::Auto {
                max_points_per_shard: max_points.flatten(),
            },
        };
        if let Some(n) = pick(&["sharding_strategy"]) {
            o.strategy = match n.str()? {
                "random" => ShardStrategy::Random,
                "stratified" | "angle_balanced" | "stride" => ShardStrategy::Stride,
                "contiguous" => ShardStrategy::Contiguous,
                other => {
                    return Err(n.error(format!(
                        "unknown sharding_strategy {other:?} (random, stratified, angle_balanced, contiguous)"
                    )));
                }
            };
        }
        if let Some(n) = pick(&["backend", "backend_name"]) {
            o.backend = match n.str()? {
                "sequential" | "cpu" => BackendKind::Sequential,
                "parallel" | "auto" | "multiprocessing" | "pjit" | "jit" | "jax" => {
                    BackendKind::Parallel
                }
                "slurm" => BackendKind::Slurm,
                "pbs" => {
                    return Err(n.error(
                        "the PBS backend is not supported (use slurm, sequential or parallel)",
                    ));
                }
                other => {
                    return Err(n.error(format!(
                        "unknown backend {other:?} (sequential, parallel, slurm)"
                    )));
                }
            };
        }
        if let Some(n) = pick(&["slurm"]) {
            o.slurm = super::SlurmOptions::read(&n)?;
        }
        if let Some(n) = pick(&["max_workers"]) {
            o.max_workers = n.usize()?;
        }
        if let Some(n) = pick(&["max_r_hat", "r_hat_threshold"]) {
            let v = n.f64()?;
            if v.is_nan() || v <= 1.0 {
                return Err(n.error(format!("must be > 1, got {v}")));
            }
            o.validation.max_r_hat = v;
        }
        if let Some(n) = pick(&["min_ess"]) {
            o.validation.min_ess = n.f64()?.max(0.0);
        }
        if let Some(n) = pick(&["min_bfmi"]) {
            let v = n.f64()?;
            if !(v > 0.0 && v <= 1.0) {
                return Err(n.error(format!("must lie in (0, 1], got {v}")));
            }
            o.validation.min_bfmi = v;
        }
        if let Some(n) = pick(&["max_divergence_rate"]) {
            let v = n.f64()?;
            if !(0.0..=1.0).contains(&v) {
                return Err(n.error(format!("must lie in [0, 1], got {v}")));
            }
            o.validation.max_divergence_rate = v;
        }
        if let Some(n) = pick(&["combination_method"]) {
            o.robust = match n.str()? {
                "robust_consensus_mc" => true,
                "consensus_mc" | "weighted_gaussian" | "auto" => false,
                "simple_average" => {
                    warnings.push(format!(
                        "{}: simple_average is not offered: shards are combined by full-covariance precision weighting",
                        n.key
                    ));
                    false
                }
                other => {
                    return Err(n.error(format!(
                        "unknown combination_method {other:?} (robust_consensus_mc, consensus_mc)"
                    )));
                }
            };
        }
        if let Some(n) = pick(&["use_reparam", "fraction_ridge"]) {
            o.reparam.fraction_ridge = n.bool()?;
        }
        if let Some(n) = pick(&["power_law"]) {
            o.reparam.power_law = n.bool()?;
        }
        if let Some(n) = pick(&["rate_triples"]) {
            o.reparam.rate_triples = n.bool()?;
        }
        if let Some(n) = pick(&["noise"]) {
            o.noise = match n.str()? {
                "sampled" => NoiseKind::Sampled,
                "fixed" => NoiseKind::Fixed,
                other => {
                    return Err(n.error(format!("expected 'sampled' or 'fixed', found {other:?}")));
                }
            };
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn read(yaml: &str) -> Result<(CmcOptions, Warnings), ConfigError> {
        let doc: serde_json::Value = serde_saphyr::from_str(yaml).expect("yaml");
        let root = Node::root(Path::new("c.yaml"), &doc);
        let mut w = Warnings::new();
        CmcOptions::read(&root, &mut w).map(|o| (o, w))
    }

    #[test]
    fn nested_and_flat_keys() {
        let (o, w) = read(
            "optimization:\n  cmc:\n    num_chains: 2\n    per_shard_mcmc:\n      num_warmup: 300\n      num_chains: 8\n      target_accept: 0.85\n      dense_mass: false\n    sharding:\n      num_shards: 4\n    validation:\n      max_r_hat: 1.01\n    bogus: 1\n",
        )
        .expect("read");
        assert_eq!(o.num_warmup, 300);
        assert_eq!(o.num_chains, 2, "flat wins");
        assert_eq!(o.target_accept_prob, 0.85);
        assert_eq!(o.mass, MassMatrix::Diag);
        assert_eq!(o.shards, ShardCount::Fixed(4));
        assert_eq!(o.validation.max_r_hat, 1.01);
        assert_eq!(
            w,
            vec!["unknown key 'optimization.cmc.bogus' ignored".to_string()]
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = read("optimization:\n  cmc:\n    per_shard_mcmc:\n      num_chains: 0\n")
            .expect_err("zero chains");
        assert_eq!(e.key, "optimization.cmc.per_shard_mcmc.num_chains");
        let e = read("optimization:\n  cmc:\n    target_accept_prob: 1.2\n").expect_err("accept");
        assert!(e.reason.contains("(0, 1)"), "{e}");
        let e = read("optimization:\n  cmc:\n    sharding: {num_shards: 0}\n").expect_err("shards");
        assert_eq!(e.key, "optimization.cmc.sharding.num_shards");
    }

    #[test]
    fn slurm_settings_are_read_and_checked() {
        let (o, w) = read(
            "optimization:\n  cmc:\n    backend_config:\n      backend_name: slurm\n      slurm:\n        partition: short\n        time_limit: '00:30:00'\n        cpus_per_task: 4\n        extra_args: [--qos=debug]\n        max_retries: 1\n        poll_interval: 0.5\n",
        )
        .expect("read");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(o.backend, BackendKind::Slurm);
        assert_eq!(o.slurm.partition.as_deref(), Some("short"));
        assert_eq!(o.slurm.time_limit.as_deref(), Some("00:30:00"));
        assert_eq!(o.slurm.cpus_per_task, 4);
        assert_eq!(o.slurm.extra_args, vec!["--qos=debug".to_string()]);
        assert_eq!((o.slurm.max_retries, o.slurm.poll_interval), (1, 0.5));
        for (yaml, key) in [
            (
                "slurm: {extra_args: [--array=0-3]}",
                "optimization.cmc.slurm.extra_args[0]",
            ),
            (
                "slurm: {partition: \"a\\nb\"}",
                "optimization.cmc.slurm.partition",
            ),
            (
                "slurm: {cpus_per_task: 0}",
                "optimization.cmc.slurm.cpus_per_task",
            ),
            (
                "slurm: {poll_interval: -1}",
                "optimization.cmc.slurm.poll_interval",
            ),
            ("slurm: {queue: x}", "optimization.cmc.slurm.queue"),
            ("backend: pbs", "optimization.cmc.backend"),
        ] {
            let e = read(&format!("optimization:\n  cmc:\n    {yaml}\n")).expect_err(yaml);
            assert_eq!(e.key, key, "{yaml}: {e}");
        }
    }
}

//! `heterodyne fit`: read a data file and a config, fit all selected angles jointly (or
//! one by one) by NLSQ, and write `result.json`, `fit.npz` and plots into the output
//! directory — all of them or none.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use heterodyne_core::model::HeterodyneModel;
use heterodyne_core::model::params::{N_PHYSICS, PHYSICS};
use heterodyne_core::nlsq::{
    self, FitProblem, NlsqReport, NlsqSettings, PhysicsStart, ScalingInputs, ScalingLayout,
    Strategy,
};
use serde_json::{Value, json};

use super::cmc::{CmcArgs, DrawBars, Method};
use super::progress::Progress;
use crate::config::CmcOptions;
use crate::config::{Config, FitAngles};
use crate::io::{self, Staging, plots, posterior, posterior_plots, results};
use crate::prepare::{Prepared, prepare};

/// Memory strategy on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// By size against available memory.
    Auto,
    /// Whole Jacobian in memory.
    Dense,
    /// Blocks of chunk_size cells.
    Chunked,
    /// One row at a time.
    Streaming,
}

/// What to read and where to write: shared by `fit` and `plot`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// YAML config (the reference's schema).
    #[arg(long)]
    pub config: PathBuf,
    /// Data file (default: experimental_data.file_path).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output directory (default: output.output_dir, else ./output).
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// Angles, degrees (default: config, else every angle in the file).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub phi: Option<Vec<f64>>,
}

impl DataArgs {
    /// The output directory: flag, else config, else `./output`.
    pub fn output_dir(&self, config: &Config) -> PathBuf {
        self.output_dir
            .clone()
            .or_else(|| config.fit.output_dir.clone())
            .unwrap_or_else(|| PathBuf::from("output"))
    }
}

/// Arguments of `heterodyne fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Config, data, output, angles.
    #[command(flatten)]
    pub input: DataArgs,
    /// Memory strategy (default: optimization.nlsq.strategy, else auto).
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Worker threads (0: all cores; default: optimization.nlsq.threads).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Latin-hypercube multistart with N starts (overrides the config).
    #[arg(long, value_name = "N")]
    pub multistart: Option<usize>,
    /// Per-cell weights (.npy or .npz array `weights`): shape [φ, N, N] for the selected
    /// angles and frame window, or [N, N] for all angles; ≥ 0 (e.g. 1/σ²).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// No progress bar and no table.
    #[arg(long)]
    pub quiet: bool,
    /// Skip the PNG plots.
    #[arg(long)]
    pub no_plots: bool,
    /// Thread pinning: none, cores (one thread per physical core) or numa (CMC workers
    /// per NUMA node); default HETERODYNE_PIN, else cores.
    #[arg(long, value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<crate::hw::pool::Pin>()))]
    pub pin: Option<crate::hw::pool::Pin>,
    /// Estimates to produce (default: optimization.method, else nlsq).
    #[arg(long, value_enum)]
    pub method: Option<Method>,
    /// CMC settings.
    #[command(flatten)]
    pub cmc: CmcArgs,
}

/// Exit status of a fit that ran but did not converge (results are still written).
pub const NOT_CONVERGED: u8 = 3;

/// Resolves a data path: as given when it exists relative to the working directory,
/// else relative to the config's directory.
pub(crate) fn resolve_data_path(given: &Path, config: &Path) -> PathBuf {
    if given.is_absolute() || given.exists() {
        return given.to_path_buf();
    }
    match config.parent() {
        Some(dir) if dir.join(given).exists() => dir.join(given),
        _ => given.to_path_buf(),
    }
}

/// Reads the config and the data and applies the selection.
pub(crate) fn load(
    config_path: &Path,
    data: Option<&Path>,
    phi: Option<&[f64]>,
    quiet: bool,
) -> anyhow::Result<(Config, PathBuf, io::RawStack, Prepared)> {
    let config = Config::load(config_path)?;
    if !quiet {
        for w in &config.warnings {
            eprintln!("warning: {}: {w}", config.path.display());
        }
    }
    let data_path = match data
        .map(Path::to_path_buf)
        .or_else(|| config.fit.data_file.clone())
    {
        Some(p) => resolve_data_path(&p, config_path),
        None => bail!(
            "{}: experimental_data.file_path: no data file (give it in the config or with --data)",
            config_path.display()
        ),
    };
    let raw = io::read_data(&data_path)?;
    let prepared = prepare(&data_path, &raw, &config.analyzer, &config.fit, phi)?;
    if !quiet {
        for note in &prepared.notes {
            eprintln!("note: {}: {note}", data_path.display());
        }
    }
    Ok((config, data_path, raw, prepared))
}

/// Reads per-cell weights for `n_phi` matrices of `n×n` (a single `n×n` array applies to
/// every angle).
fn read_weights(path: &Path, n_phi: usize, n: usize) -> anyhow::Result<Vec<f64>> {
    let raw = io::read_weights(path)?;
    let nn = n * n;
    let w = match raw.len() {
        l if l == n_phi * nn => raw,
        l if l == nn => (0..n_phi).flat_map(|_| raw.iter().copied()).collect(),
        l => bail!(
            "{}: weights hold {l} values; expected [{n_phi}, {n}, {n}] or [{n}, {n}] (the selected angles and frame window)",
            path.display()
        ),
    };
    if let Some(bad) = w.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
        bail!(
            "{}: weights must be finite and ≥ 0, found {bad}",
            path.display()
        );
    }
    Ok(w)
}

/// Memory the fit may plan for: half of what the OS reports available.
fn memory_budget() -> usize {
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<usize>().ok())
            .map(|kb| kb * 1024)
    });
    available.unwrap_or(4 << 30) / 2
}

fn physics_start(config: &Config) -> PhysicsStart {
    let ps = &config.parameters.physics;
    let mut vary = [true; N_PHYSICS];
    let mut lo = [0.0; N_PHYSICS];
    let mut hi = [0.0; N_PHYSICS];
    for k in 0..N_PHYSICS {
        vary[k] = ps[k].vary;
        lo[k] = ps[k].min;
        hi[k] = ps[k].max;
    }
    PhysicsStart {
        values: config.parameters.values(),
        vary,
        lo,
        hi,
    }
}

/// One fit of `c2` (angles `phi`) with the config's settings.
#[allow(clippy::too_many_arguments)]
fn fit_one(
    config: &Config,
    c2: &[f64],
    weights: Option<&[f64]>,
    n: usize,
    phi: &[f64],
    settings: &NlsqSettings,
    pool: &rayon::ThreadPool,
    par: heterodyne_core::exec::Par,
    progress: &Progress,
) -> anyhow::Result<(HeterodyneModel, FitProblem, NlsqReport)> {
    let mut grid = config.analyzer.grid()?;
    grid.n = n;
    let model = HeterodyneModel::new(grid, config.analyzer.wavevector_q, phi.to_vec())?;
    let t = grid.times();
    let o = &config.fit.nlsq;
    let layout = ScalingLayout::new(
        o.per_angle_mode,
        &ScalingInputs {
            phi,
            c2,
            n,
            t: &t,
            contrast: config.parameters.contrast.value,
            offset: config.parameters.offset.value,
            fourier_order: o.fourier_order,
            constant_scaling_threshold: o.constant_scaling_threshold,
        },
    );
    let problem = FitProblem::new(
        model.clone(),
        c2,
        weights,
        o.support,
        physics_start(config),
        layout,
    )
    .with_context(|| format!("{}", config.path.display()))?;
    let mut settings = settings.clone();
    if settings.multistart_n == usize::MAX {
        settings.multistart_n = 2 * problem.n_params() + 1;
    }
    let report = pool.install(|| nlsq::fit(&problem, &settings, par, progress))?;
    Ok((model, problem, report))
}

fn print_table(report: &NlsqReport, phi: &[f64]) {
    let v = report.physics.to_array();
    println!("{:<16} {:>14} {:>12}", "parameter", "value", "std_error");
    for (k, spec) in PHYSICS.iter().enumerate() {
        let se = match report.physics_std[k] {
            Some(s) => format!("{s:.4e}"),
            None => "—".to_string(),
        };
        println!("{:<16} {:>14.6} {:>12}", spec.name, v[k], se);
    }
    for (a, p) in phi.iter().enumerate() {
        println!(
            "φ = {p:>7.2}°   contrast {:.5}  offset {:.5}",
            report.scaling.contrast[a], report.scaling.offset[a]
        );
    }
    println!(
        "χ² = {:.6e}  reduced χ² = {:.4e}  (far-lag {:.4})  iterations {}  {}",
        report.chi2,
        report.reduced_chi2,
        report.reduced_chi2_far_lag,
        report.iterations,
        report.message
    );
}

/// Runs the command; `Ok(true)` when every fit converged.
pub fn run(args: FitArgs) -> anyhow::Result<bool> {
    let start = Instant::now();
    let input = &args.input;
    let (config, data_path, raw, data) = load(
        &input.config,
        input.data.as_deref(),
        input.phi.as_deref(),
        args.quiet,
    )?;
    let t_loaded = start.elapsed().as_secs_f64();
    let wants_cmc = !matches!(
        (args.method, config.method.as_deref()),
        (Some(Method::Nlsq), _) | (None, None | Some("nlsq"))
    );
    if wants_cmc {
        // Refuse bad sampler settings before spending time on the NLSQ fit.
        let o = super::cmc::options(&config, &args.cmc);
        heterodyne_core::mcmc::nuts::NutsSettings {
            num_warmup: o.num_warmup,
            num_samples: o.num_samples,
            target_accept: o.target_accept_prob,
            max_tree_depth: o.max_tree_depth,
            seed: o.seed,
            mass: o.mass,
        }
        .validate(o.num_chains)?;
    }
    let o = &config.fit.nlsq;
    let strategy = match args.strategy {
        Some(StrategyArg::Auto) => Strategy::Auto,
        Some(StrategyArg::Dense) => Strategy::Dense,
        Some(StrategyArg::Chunked) => Strategy::Chunked,
        Some(StrategyArg::Streaming) => Strategy::Streaming,
        None => o.strategy,
    };
    // 0: off; usize::MAX: on with the default count (set per problem in fit_one).
    let multistart_n = match args.multistart {
        Some(n) => n,
        None if o.multistart => o.multistart_n.unwrap_or(usize::MAX),
        None => 0,
    };
    let settings = NlsqSettings {
        tolerances: o.tolerances,
        strategy,
        chunk_size: o.chunk_size,
        memory_budget_bytes: memory_budget(),
        multistart_n,
        seed: o.seed,
        multistart_width: 1.0,
    };
    let (pool, par) = super::thread_pool(args.threads.unwrap_or(o.threads), args.pin)?;
    let n = data.n;
    let nn = n * n;
    let weights = match &args.weights {
        Some(path) => Some(read_weights(path, data.phi.len(), n)?),
        None => None,
    };
    let progress = Progress::new("fit", args.quiet);
    let groups: Vec<Vec<usize>> = match o.fit_angles {
        FitAngles::Joint => vec![(0..data.phi.len()).collect()],
        FitAngles::Separate => (0..data.phi.len()).map(|a| vec![a]).collect(),
    };
    let mut fits = Vec::new();
    let mut problems = Vec::new();
    let mut cmc_settings = None;
    for group in &groups {
        let c2: Vec<f64> = group
            .iter()
            .flat_map(|&a| data.c2[a * nn..(a + 1) * nn].iter().copied())
            .collect();
        let phi: Vec<f64> = group.iter().map(|&a| data.phi[a]).collect();
        let w: Option<Vec<f64>> = weights.as_ref().map(|w| {
            group
                .iter()
                .flat_map(|&a| w[a * nn..(a + 1) * nn].iter().copied())
                .collect()
        });
        let (model, problem, report) = fit_one(
            &config,
            &c2,
            w.as_deref(),
            n,
            &phi,
            &settings,
            &pool,
            par,
            &progress,
        )?;
        fits.push((phi, model, report));
        problems.push(problem);
    }
    progress.finish();
    let t_fitted = start.elapsed().as_secs_f64();

    let method = match (args.method, config.method.as_deref()) {
        (Some(m), _) => m,
        (None, Some("cmc")) => Method::Cmc,
        (None, Some("both")) => Method::Both,
        _ => Method::Nlsq,
    };
    let mut posteriors = Vec::new();
    if method != Method::Nlsq {
        let o = super::cmc::options(&config, &args.cmc);
        let threads = pool.current_num_threads();
        let total: u64 = problems
            .iter()
            .map(|p| {
                let k = o.shards.resolve(p.n_residuals(), p.n_rows()).unwrap_or(1) as u64;
                k * o.num_chains as u64 * (o.num_warmup + o.num_samples)
            })
            .sum();
        let bars = DrawBars::new(total, args.quiet);
        for (problem, (_, _, report)) in problems.iter().zip(&fits) {
            let cmc = super::cmc::sample(&o, &config, problem, report, threads, args.pin, &bars);
            match cmc {
                Ok(c) => posteriors.push(c),
                Err(e) => {
                    bars.finish();
                    return Err(e);
                }
            }
        }
        bars.finish();
        cmc_settings = Some(o);
    }
    let t_sampled = start.elapsed().as_secs_f64();

    // Fitted matrices in data order.
    let mut c2_fit = vec![0.0; data.c2.len()];
    for (group, (_, model, report)) in groups.iter().zip(&fits) {
        let m = pool.install(|| model.c2(&report.physics, &report.scaling, par))?;
        for (k, &a) in group.iter().enumerate() {
            c2_fit[a * nn..(a + 1) * nn].copy_from_slice(&m[k * nn..(k + 1) * nn]);
        }
    }
    let grid = fits[0].1.grid().to_owned();
    let t = grid.times();
    let output_dir = input.output_dir(&config);
    let staging = Staging::new(&output_dir)?;
    let bounds: Vec<(f64, f64, bool)> = config
        .parameters
        .physics
        .iter()
        .map(|p| (p.min, p.max, p.vary))
        .collect();
    let converged =
        fits.iter().all(|f| f.2.converged) && posteriors.iter().all(|p| p.verdict.converged);
    let chi2: f64 = fits.iter().map(|f| f.2.chi2).sum();
    let settings_json = cmc_settings.as_ref().map_or(Value::Null, cmc_settings_json);
    let fit_json: Value = match o.fit_angles {
        FitAngles::Joint => {
            let mut j = results::report_json(&fits[0].2, &fits[0].0, &bounds);
            if let Some(p) = posteriors.first() {
                let (post, cmc) = posterior::posterior_json(p, settings_json.clone());
                j["posterior"] = post;
                j["divergences"] = json!(p.divergences);
                j["cmc"] = cmc;
                j["converged"] = json!(fits[0].2.converged && p.verdict.converged);
                j["nlsq_converged"] = json!(fits[0].2.converged);
            }
            j
        }
        FitAngles::Separate => {
            // One full report per angle; at the top level only what is common to all.
            let angles: Vec<Value> = fits
                .iter()
                .enumerate()
                .map(|(a, (phi, _, r))| {
                    let mut j = results::report_json(r, phi, &bounds);
                    j["phi"] = json!(phi[0]);
                    if let Some(p) = posteriors.get(a) {
                        let (post, cmc) = posterior::posterior_json(p, settings_json.clone());
                        j["posterior"] = post;
                        j["divergences"] = json!(p.divergences);
                        j["cmc"] = cmc;
                    }
                    j
                })
                .collect();
            json!({
                "angles": angles,
                "chi2": chi2,
                "dof": fits.iter().map(|f| f.2.dof).sum::<usize>(),
                "n_points": fits.iter().map(|f| f.2.n_points).sum::<usize>(),
                "iterations": fits.iter().map(|f| f.2.iterations).max(),
                "converged": converged,
                "divergences": posteriors.iter().map(|p| p.divergences).sum::<usize>(),
                "warnings": fits.iter().flat_map(|f| f.2.warnings.iter().cloned()).collect::<Vec<_>>(),
            })
        }
    };
    let mut result = json!({
        "software": {"name": "heterodyne-rs", "version": env!("CARGO_PKG_VERSION")},
        "method": match method { Method::Nlsq => "nlsq", Method::Cmc => "cmc", Method::Both => "both" },
        "fit_angles": match o.fit_angles { FitAngles::Joint => "joint", FitAngles::Separate => "separate" },
        "data_file": data_path.display().to_string(),
        "layout": raw.layout,
        "q": config.analyzer.wavevector_q,
        "dt": config.analyzer.dt,
        "frames": [config.analyzer.start_frame, config.analyzer.end_frame],
        "time_origin": match config.analyzer.time_origin {
            heterodyne_core::model::TimeOrigin::Window => "window",
            heterodyne_core::model::TimeOrigin::Absolute => "absolute",
        },
        "phi": data.phi,
        "notes": data.notes,
        "config": config.document,
    });
    if let (Value::Object(r), Value::Object(f)) = (&mut result, fit_json) {
        r.extend(f);
    }
    results::write_fit_npz(
        &staging.path("fit.npz"),
        n,
        &data.c2,
        &c2_fit,
        &t,
        &data.phi,
        config.analyzer.wavevector_q,
    )?;
    let tag_of = |a: usize| {
        if posteriors.len() > 1 {
            format!("_phi_{:+07.2}", fits[a].0[0])
        } else {
            String::new()
        }
    };
    for (a, p) in posteriors.iter().enumerate() {
        posterior::write_posterior_npz(&staging.path(&format!("posterior{}.npz", tag_of(a))), p)?;
    }
    let mut plot_warning = None;
    if !args.no_plots {
        for (a, p) in posteriors.iter().enumerate() {
            // A plotting library's panic must not cost the user the numbers.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                plot_posterior(&staging, &tag_of(a), p, &fits[a].2)
            }))
            .unwrap_or_else(|_| Err("the plotting library panicked".to_string()));
            if let Err(e) = outcome {
                plot_warning = Some(format!("posterior plots skipped: {e}"));
            }
        }
        for (a, phi) in data.phi.iter().enumerate() {
            let (d, f) = (
                &data.c2[a * nn..(a + 1) * nn],
                &c2_fit[a * nn..(a + 1) * nn],
            );
            let tag = format!("phi_{phi:+07.2}");
            let outcome = plots::plot_fit_heatmaps(
                &staging.path(&format!("c2_{tag}.png")),
                *phi,
                n,
                &t,
                d,
                f,
            )
            .and_then(|_| {
                plots::plot_cuts(&staging.path(&format!("cuts_{tag}.png")), *phi, n, &t, d, f)
            });
            if let Err(e) = outcome {
                plot_warning = Some(format!("plots skipped: {e}"));
                break;
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    result["wall_time_seconds"] = json!(wall);
    result["timings"] = json!({
        "load_seconds": t_loaded,
        "fit_seconds": t_fitted - t_loaded,
        "cmc_seconds": t_sampled - t_fitted,
        "write_seconds": wall - t_sampled,
    });
    if let (Some(w), Some(list)) = (&plot_warning, result["warnings"].as_array_mut()) {
        list.push(json!(w));
    }
    results::write_json(&staging.path("result.json"), &result)?;
    staging.commit()?;
    if !args.quiet {
        if let Some(w) = plot_warning {
            eprintln!("warning: {w}");
        }
        for w in fits.iter().flat_map(|f| f.2.warnings.iter()) {
            eprintln!("warning: {w}");
        }
        for (a, (phi, _, report)) in fits.iter().enumerate() {
            if fits.len() > 1 {
                println!("--- φ = {}°", phi[0]);
            }
            print_table(report, phi);
            if let Some(p) = posteriors.get(a) {
                print_posterior(p);
            }
        }
        println!("results in {} ({wall:.2} s)", output_dir.display());
    }
    Ok(converged)
}

fn cmc_settings_json(o: &CmcOptions) -> Value {
    json!({
        "num_warmup": o.num_warmup,
        "num_samples": o.num_samples,
        "num_chains": o.num_chains,
        "target_accept_prob": o.target_accept_prob,
        "max_tree_depth": o.max_tree_depth,
        "seed": o.seed,
        "mass_matrix": format!("{:?}", o.mass).to_lowercase(),
        "backend": format!("{:?}", o.backend).to_lowercase(),
        "max_workers": o.max_workers,
        "sharding_strategy": format!("{:?}", o.strategy).to_lowercase(),
        "robust_combination": o.robust,
        "reparameterization": o.reparam,
        "noise": format!("{:?}", o.noise).to_lowercase(),
        "validation": o.validation,
    })
}

fn print_posterior(p: &heterodyne_core::mcmc::cmc::CmcReport) {
    println!(
        "{:<22} {:>13} {:>11} {:>13} {:>13} {:>7} {:>7}",
        "posterior", "mean", "std", "hdi94_low", "hdi94_high", "r_hat", "ess"
    );
    for s in p.params.iter().chain(&p.combinations) {
        println!(
            "{:<22} {:>13.6} {:>11.3e} {:>13.6} {:>13.6} {:>7.3} {:>7.0}",
            s.name, s.mean, s.std, s.hdi94_low, s.hdi94_high, s.r_hat, s.ess_bulk
        );
    }
    println!(
        "shards {} (used {}), divergences {}, verdict: {}",
        p.shards.len(),
        p.shards.iter().filter(|s| s.used).count(),
        p.divergences,
        if p.verdict.converged {
            "converged".to_string()
        } else {
            format!("NOT converged — {}", p.verdict.warnings.join("; "))
        }
    );
}

/// Trace, rank, corner and posterior-vs-NLSQ plots of one posterior.
fn plot_posterior(
    staging: &Staging,
    tag: &str,
    p: &heterodyne_core::mcmc::cmc::CmcReport,
    nlsq: &NlsqReport,
) -> Result<(), String> {
    use posterior_plots::{Comparison, Series};
    let series_of = |k: usize| Series {
        name: &p.params[k].name,
        chains: p
            .draws
            .iter()
            .map(|c| c.iter().map(|d| d[k]).collect())
            .collect(),
    };
    let mut all: Vec<Series<'_>> = (0..p.params.len()).map(series_of).collect();
    for (s, draws) in p.combinations.iter().zip(&p.combination_draws) {
        all.push(Series {
            name: &s.name,
            chains: draws.clone(),
        });
    }
    posterior_plots::plot_traces(&staging.path(&format!("cmc_trace{tag}.png")), &all)?;
    posterior_plots::plot_ranks(&staging.path(&format!("cmc_rank{tag}.png")), &all)?;
    // Corner: the physics quantities (scaling and σ are nuisance here).
    let physics: Vec<Series<'_>> = (0..p.params.len())
        .filter(|&k| PHYSICS.iter().any(|s| s.name == p.params[k].name))
        .map(series_of)
        .collect();
    posterior_plots::plot_corner(&staging.path(&format!("cmc_corner{tag}.png")), &physics)?;
    let rows: Vec<Comparison<'_>> = p
        .params
        .iter()
        .filter_map(|s| {
            let k = nlsq.names.iter().position(|n| *n == s.name)?;
            Some(Comparison {
                name: &s.name,
                post: (s.mean, s.std, s.hdi94_low, s.hdi94_high),
                nlsq: (nlsq.x[k], nlsq.std_error[k]),
            })
        })
        .collect();
    posterior_plots::plot_versus_nlsq(&staging.path(&format!("cmc_vs_nlsq{tag}.png")), &rows)
}

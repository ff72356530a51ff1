//! The job pipeline: load → NLSQ per fit group → CMC per group (when asked) → outputs.

use std::time::Instant;

use anyhow::Context;
use heterodyne_core::mcmc::cmc::CmcReport;

use super::output::{self, Fitted};
use super::{JobOutcome, JobSink, JobSpec, Method, Stage, cmc, input, nlsq};
use crate::config::FitAngles;
use crate::io::Staging;

/// The data of one fit group: borrowed when the group is every angle in order (a joint
/// fit: no copy of the data), else gathered.
struct Cells<'a> {
    c2: std::borrow::Cow<'a, [f64]>,
    weights: Option<Vec<f64>>,
    phi: Vec<f64>,
}

impl Cells<'_> {
    fn group(&self, n: usize) -> nlsq::Group<'_> {
        nlsq::Group {
            c2: &self.c2,
            weights: self.weights.as_deref(),
            n,
            phi: &self.phi,
        }
    }
}

/// Runs `spec`, reporting to `sink`. The output directory gets every file or none; a job
/// stopped through the sink returns the core's `Cancelled` error (wrapped).
pub fn run(spec: &JobSpec, sink: &dyn JobSink) -> anyhow::Result<JobOutcome> {
    let start = Instant::now();
    let config = &spec.config;
    if spec.method != Method::Nlsq {
        // Refuse bad sampler settings before spending time on the NLSQ fit.
        spec.cmc.check()?;
        if spec.cmc.backend == crate::config::BackendKind::Slurm {
            crate::cluster::slurm::preflight()?;
        }
    }
    sink.stage(Stage::Load);
    let (layout, data) = input::load(config, &spec.data_path, spec.phi.as_deref())?;
    for note in &data.notes {
        sink.remark(&format!("{}: {note}", spec.data_path.display()));
    }
    let t_loaded = start.elapsed().as_secs_f64();

    let memory_budget = nlsq::memory_budget();
    let (pool, par, warning) = spec.placement.pool()?;
    if let Some(w) = warning {
        sink.remark(&w);
    }
    let n = data.n;
    let nn = n * n;
    let weights = match &spec.weights {
        Some(path) => Some(input::read_weights(path, data.phi.len(), n)?),
        None => None,
    };
    let groups: Vec<Vec<usize>> = match config.fit.nlsq.fit_angles {
        FitAngles::Joint => vec![(0..data.phi.len()).collect()],
        FitAngles::Separate => (0..data.phi.len()).map(|a| vec![a]).collect(),
    };
    let stack = |m: &[f64], group: &[usize]| -> Vec<f64> {
        group
            .iter()
            .flat_map(|&a| m[a * nn..(a + 1) * nn].iter().copied())
            .collect()
    };
    sink.stage(Stage::Nlsq);
    let mut fits = Vec::new();
    let mut problems = Vec::new();
    // Each group's cells stay until CMC: a shard in another process gets a copy.
    let cells: Vec<Cells> = groups
        .iter()
        .map(|group| Cells {
            c2: if group.iter().copied().eq(0..data.phi.len()) {
                std::borrow::Cow::Borrowed(&data.c2[..])
            } else {
                std::borrow::Cow::Owned(stack(&data.c2, group))
            },
            weights: weights.as_ref().map(|w| stack(w, group)),
            phi: group.iter().map(|&a| data.phi[a]).collect(),
        })
        .collect();
    for c in &cells {
        let (model, problem, report) =
            nlsq::fit_group(spec, &c.group(n), memory_budget, &pool, par, sink)?;
        fits.push(Fitted {
            phi: c.phi.clone(),
            model,
            report,
        });
        problems.push(problem);
    }
    let t_fitted = start.elapsed().as_secs_f64();

    let mut posteriors: Vec<CmcReport> = Vec::new();
    let clock = CmcClock::new(sink, spec.cmc.num_warmup);
    let mut gradient_seconds = f64::NAN;
    if spec.method != Method::Nlsq {
        let total_draws = problems.iter().map(|p| spec.cmc.total_draws(p)).sum();
        sink.stage(Stage::Cmc { total_draws });
        let near = spec
            .output_dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        for ((problem, fit), c) in problems.iter().zip(&fits).zip(&cells) {
            let group = c.group(n);
            posteriors.push(cmc::sample(
                &spec.cmc,
                config,
                problem,
                &fit.report,
                &spec.placement,
                &cmc::ShardSource {
                    group: &group,
                    near,
                },
                &clock,
                &|w| sink.remark(w),
            )?);
        }
        // One log-posterior gradient as the sampler pays it (sequential, at the optimum),
        // so that the time split can say how much of the run was gradients.
        if let (Some(problem), Some(fit)) = (problems.first(), fits.first()) {
            // Up to 20 evaluations or 50 ms, whichever comes first: a statistic for the
            // time split must not cost a large job a second.
            let t = Instant::now();
            let mut reps = 0u32;
            while reps < 20 && (reps == 0 || t.elapsed().as_secs_f64() < 0.05) {
                std::hint::black_box(heterodyne_core::nlsq::gradient::chi2_and_gradient(
                    problem,
                    &fit.report.x,
                    heterodyne_core::exec::Par::Seq,
                ));
                reps += 1;
            }
            gradient_seconds = t.elapsed().as_secs_f64() / f64::from(reps);
        }
    }
    let t_sampled = start.elapsed().as_secs_f64();

    sink.stage(Stage::Write);
    // The packed problems and gathered cells are done with: free them before the
    // writers evaluate fitted matrices.
    drop(problems);
    drop(cells);
    let fitted = output::FitMatrices {
        groups: &groups,
        fits: &fits,
        pool: &pool,
        par,
    };
    let staging = Staging::new(&spec.output_dir)?;
    let mut result = output::result_json(spec, layout, &data, &fits, &posteriors);
    output::write_arrays(&staging, spec, &data, &fitted, &posteriors)?;
    if spec.plots {
        for warning in output::write_plots(&staging, &data, &fitted, &posteriors) {
            if let Some(list) = result["warnings"].as_array_mut() {
                list.push(serde_json::json!(warning));
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    result["wall_time_seconds"] = serde_json::json!(wall);
    result["timings"] = serde_json::json!({
        "load_seconds": t_loaded,
        "fit_seconds": t_fitted - t_loaded,
        "cmc_seconds": t_sampled - t_fitted,
        "write_seconds": wall - t_sampled,
    });
    if !posteriors.is_empty() {
        let shards = posteriors.iter().flat_map(|p| &p.shards);
        let (warm, kept) = shards.fold((0, 0), |(w, k), s| {
            (w + s.gradients_warmup, k + s.gradients_sampling)
        });
        result["timings"]["cmc_warmup_seconds"] = serde_json::json!(clock.warmup_seconds());
        result["timings"]["cmc_gradients_warmup"] = serde_json::json!(warm);
        result["timings"]["cmc_gradients_sampling"] = serde_json::json!(kept);
        result["timings"]["cmc_gradient_seconds"] = serde_json::json!(gradient_seconds);
    }
    // Peak resident memory so far (everything but this small file is written): a
    // figure for sizing jobs, and what the streaming test checks. For a node job it is
    // the node process's peak.
    result["resources"] = serde_json::json!({ "peak_rss_bytes": peak_rss_bytes() });
    crate::io::results::write_json(&staging.path("result.json"), &result)?;
    staging
        .commit()
        .with_context(|| format!("{}", spec.output_dir.display()))?;
    let converged =
        fits.iter().all(|f| f.report.converged) && posteriors.iter().all(|p| p.verdict.converged);
    Ok(JobOutcome {
        converged,
        fits: fits.into_iter().map(|f| (f.phi, f.report)).collect(),
        posteriors,
        result,
        wall_seconds: wall,
    })
}

/// Forwards the sampler's events and notes when the last chain left warm-up (the edge
/// keeps the clock: core has none).
struct CmcClock<'a> {
    inner: &'a dyn heterodyne_core::exec::Observer,
    num_warmup: u64,
    start: Instant,
    warmup_done: std::sync::Mutex<Option<f64>>,
}

impl<'a> CmcClock<'a> {
    fn new(inner: &'a dyn heterodyne_core::exec::Observer, num_warmup: u64) -> Self {
        Self {
            inner,
            num_warmup,
            start: Instant::now(),
            warmup_done: std::sync::Mutex::new(None),
        }
    }

    /// Seconds from the start of CMC until the last chain's warm-up ended (`None` where
    /// no chain reported one, e.g. shards on a cluster).
    fn warmup_seconds(&self) -> Option<f64> {
        self.warmup_done.lock().ok().and_then(|t| *t)
    }
}

impl heterodyne_core::exec::Observer for CmcClock<'_> {
    fn on(&self, event: &heterodyne_core::exec::Event) -> heterodyne_core::exec::Flow {
        match event {
            heterodyne_core::exec::Event::Draw { draw, .. } if *draw == self.num_warmup => {
                let now = self.start.elapsed().as_secs_f64();
                if let Ok(mut t) = self.warmup_done.lock() {
                    *t = Some(t.map_or(now, |t: f64| t.max(now)));
                }
            }
            _ => {}
        }
        self.inner.on(event)
    }
}

/// `VmHWM` of `/proc/self/status` in bytes (Linux); `None` elsewhere.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

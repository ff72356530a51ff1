//! The posterior of a fit problem: its gradient, and NUTS recovering a reduced model's
//! truth on synthetic data.

// Shared with the NLSQ tests; not every item is used here.
#[allow(dead_code)]
#[path = "../nlsq/synthetic.rs"]
mod synthetic;

use heterodyne_core::exec::{Par, Silent};
use heterodyne_core::mcmc::diagnostics::{ess_bulk, rhat};
use heterodyne_core::mcmc::nuts::{LogDensity, NutsSettings, sample};
use heterodyne_core::mcmc::posterior::{Noise, Posterior, PosteriorOptions, Reparam};
use heterodyne_core::model::PhysicsParams;
use heterodyne_core::nlsq::{
    self, FitProblem, NlsqSettings, PerAngleMode, PhysicsStart, ResidualSupport, ScalingInputs,
    ScalingLayout,
};

/// A problem on `data` where only `free` physics parameters (and the averaged scaling
/// pair) vary, starting at the truth.
fn problem(data: &synthetic::Data, free: &[usize]) -> FitProblem {
    problem_with(data, free, PerAngleMode::Averaged, synthetic::TRUTH)
}

/// As [`problem`], with scaling `mode` and physics values `start` (the fixed parameters
/// keep these values).
fn problem_with(
    data: &synthetic::Data,
    free: &[usize],
    mode: PerAngleMode,
    start: [f64; 14],
) -> FitProblem {
    let t = data.model.grid().times();
    let layout = ScalingLayout::new(
        mode,
        &ScalingInputs {
            phi: data.model.phi(),
            c2: &data.c2,
            n: t.len(),
            t: &t,
            contrast: 0.1,
            offset: 1.0,
            fourier_order: 1,
            constant_scaling_threshold: 3,
        },
    );
    let mut physics = PhysicsStart::registry(PhysicsParams::from_array(start));
    physics.vary = [false; 14];
    for &k in free {
        physics.vary[k] = true;
    }
    FitProblem::new(
        data.model.clone(),
        &data.c2,
        None,
        ResidualSupport::default(),
        physics,
        layout,
    )
    .expect("problem")
}

#[test]
fn log_density_gradient_matches_finite_differences() {
    let data = synthetic::small(30, &[0.0, 45.0, 90.0], 4);
    let p = problem(&data, &[0, 1, 2, 6, 7, 8, 9, 10, 11, 12, 13]);
    let reparams = [
        Reparam {
            fraction_ridge: false,
            power_law: false,
            rate_triples: false,
        },
        Reparam {
            fraction_ridge: true,
            power_law: true,
            rate_triples: false,
        },
        Reparam {
            fraction_ridge: true,
            power_law: false,
            rate_triples: true,
        },
    ];
    for (noise, reparam) in [Noise::Fixed(3e-3), Noise::Sampled { scale: 0.01 }]
        .into_iter()
        .flat_map(|n| reparams.map(|r| (n, r)))
    {
        let options = PosteriorOptions {
            reparam,
            ..PosteriorOptions::new(noise)
        };
        let mut post = Posterior::new(&p, &options).expect("posterior");
        let (x, _, _) = p.start();
        let mut u = post.to_unconstrained(&x, Some(3.1e-3));
        for (k, v) in u.iter_mut().enumerate() {
            // A small step off the start, so that every coordinate system stays inside
            // its box (V and S of the rate blocks are in the quantities' own units).
            *v += 0.003 * (k as f64 - 3.0);
        }
        let mut grad = vec![0.0; post.dim()];
        post.logp(&u, &mut grad).expect("logp");
        let mut scratch = vec![0.0; post.dim()];
        for k in 0..u.len() {
            // Fourth-order central differences: the logit coordinates near a bound curve
            // strongly, and second order leaves a truncation error near the tolerance.
            let h = 1e-5;
            let mut at = |d: f64| {
                let mut v = u.clone();
                v[k] += d;
                post.logp(&v, &mut scratch).expect("logp")
            };
            let fd = (-at(2.0 * h) + 8.0 * at(h) - 8.0 * at(-h) + at(-2.0 * h)) / (12.0 * h);
            let tol = 1e-5 * fd.abs().max(1.0);
            assert!(
                (grad[k] - fd).abs() <= tol,
                "{noise:?} {reparam:?} u[{k}]: {} vs FD {fd}",
                grad[k]
            );
        }
    }
}

#[test]
fn nuts_recovers_a_reduced_model() {
    // v0, beta, phi0 and f3 free (plus the averaged contrast/offset), the rest at truth.
    let free = [6, 7, 12, 13];
    let data = synthetic::small(30, &[0.0, 45.0, 90.0], 8);
    let p = problem(&data, &free);
    let fit = nlsq::fit(&p, &NlsqSettings::default(), Par::Seq, &Silent).expect("fit");
    let post = Posterior::new(&p, &PosteriorOptions::new(Noise::Sampled { scale: 0.01 }))
        .expect("posterior");
    let init = post.to_unconstrained(&fit.x, Some(3e-3));
    let inits = vec![init.clone(), init.clone(), init.clone(), init];
    let settings = NutsSettings {
        num_warmup: 400,
        num_samples: 400,
        seed: 5,
        ..NutsSettings::default()
    };
    let chains = sample(|| post.clone(), &inits, &settings, Par::Seq).expect("sample");
    let divergences = chains
        .iter()
        .flat_map(|c| &c.divergent)
        .filter(|d| **d)
        .count();
    let truth = synthetic::TRUTH;
    for (pos, &k) in free.iter().enumerate() {
        let draws: Vec<Vec<f64>> = chains
            .iter()
            .map(|c| {
                c.draws
                    .iter()
                    .map(|u| post.from_unconstrained(u).0[pos])
                    .collect()
            })
            .collect();
        let all: Vec<f64> = draws.iter().flatten().copied().collect();
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        let sd =
            (all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (all.len() as f64 - 1.0)).sqrt();
        let (r, ess) = (rhat(&draws), ess_bulk(&draws));
        println!(
            "param {k}: {mean:.5} ± {sd:.2e} (truth {}), R̂ {r:.4}, ESS {ess:.0}",
            truth[k]
        );
        assert!(
            ((mean - truth[k]) / sd).abs() <= 3.0,
            "param {k}: {mean} ± {sd} vs {}",
            truth[k]
        );
        assert!(r < 1.05, "param {k}: R̂ {r}");
        assert!(ess > 100.0, "param {k}: ESS {ess}");
    }
    // The sampled noise level finds the true 0.3 % (of c2 ≈ 1.05).
    let sigma: Vec<f64> = chains
        .iter()
        .flat_map(|c| {
            c.draws
                .iter()
                .map(|u| post.from_unconstrained(u).1.expect("σ"))
        })
        .collect();
    let s_mean = sigma.iter().sum::<f64>() / sigma.len() as f64;
    println!("σ {s_mean:.3e}, divergences {divergences}");
    assert!((s_mean / 3.15e-3 - 1.0).abs() < 0.1, "σ {s_mean}");
    assert_eq!(divergences, 0);
}

#[test]
fn consensus_of_one_shard_is_nuts_and_four_shards_agree() {
    use heterodyne_core::mcmc::consensus::combine;
    use heterodyne_core::mcmc::shard::{ShardStrategy, shard_problems};
    let free = [6, 7, 12, 13];
    let data = synthetic::small(30, &[0.0, 45.0, 90.0], 8);
    let p = problem(&data, &free);
    let fit = nlsq::fit(&p, &NlsqSettings::default(), Par::Seq, &Silent).expect("fit");
    let settings = NutsSettings {
        num_warmup: 300,
        num_samples: 300,
        seed: 21,
        ..NutsSettings::default()
    };
    let run = |k: usize| {
        let shards = shard_problems(&p, k, ShardStrategy::Stride, 0).expect("shards");
        let draws: Vec<_> = shards
            .iter()
            .map(|sp| {
                let post = Posterior::new(sp, &PosteriorOptions::new(Noise::Fixed(3.15e-3)))
                    .expect("posterior")
                    .with_prior_weight(1.0);
                let init = post.to_unconstrained(&fit.x, None);
                sample(|| post.clone(), &[init.clone(), init], &settings, Par::Seq).expect("sample")
            })
            .collect();
        (draws.clone(), combine(&draws, true).expect("combine"))
    };
    let (single, one) = run(1);
    assert!(one.excluded.is_empty());
    for (c, chain) in one.chains.iter().enumerate() {
        for (t, d) in chain.iter().enumerate() {
            for (a, b) in d.iter().zip(&single[0][c].draws[t]) {
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    "K = 1 changed a draw"
                );
            }
        }
    }
    let (_, four) = run(4);
    assert_eq!(four.used.len(), 4, "excluded: {:?}", four.excluded);
    let post =
        Posterior::new(&p, &PosteriorOptions::new(Noise::Fixed(3.15e-3))).expect("posterior");
    let stats = |chains: &[Vec<Vec<f64>>], k: usize| {
        let v: Vec<f64> = chains
            .iter()
            .flatten()
            .map(|u| post.from_unconstrained(u).0[k])
            .collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt();
        (m, sd)
    };
    for k in 0..p.n_params() {
        let (m1, sd1) = stats(&one.chains, k);
        let (m4, sd4) = stats(&four.chains, k);
        println!("param {k}: K=1 {m1:.5} ± {sd1:.2e}, K=4 {m4:.5} ± {sd4:.2e}");
        assert!(
            (m4 - m1).abs() <= sd1,
            "param {k}: K = 4 mean {m4} vs K = 1 {m1} ± {sd1}"
        );
    }
}

#[test]
fn cmc_driver_reports_converged_shards_and_refuses_bad_settings() {
    use heterodyne_core::mcmc::cmc::{Backend, CmcSettings, ShardCount, run_cmc};
    let free = [6, 7, 12, 13];
    let data = synthetic::small(30, &[0.0, 45.0, 90.0], 8);
    let p = problem(&data, &free);
    let fit = nlsq::fit(&p, &NlsqSettings::default(), Par::Seq, &Silent).expect("fit");
    let settings = CmcSettings {
        nuts: NutsSettings {
            num_warmup: 300,
            num_samples: 300,
            seed: 2,
            ..NutsSettings::default()
        },
        num_chains: 2,
        shards: ShardCount::Fixed(3),
        posterior: PosteriorOptions::new(Noise::Sampled { scale: 0.01 }),
        ..CmcSettings::default()
    };
    // Two single-thread workers vs sequential vs one two-thread worker: same draws.
    let pools: Vec<rayon::ThreadPool> = (0..2)
        .map(|_| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .expect("pool")
        })
        .collect();
    let report = run_cmc(
        &p,
        &fit.x,
        3e-3,
        &settings,
        Backend::Parallel(&pools),
        &Silent,
    )
    .expect("cmc");
    let seq = run_cmc(
        &p,
        &fit.x,
        3e-3,
        &settings,
        Backend::Sequential(Par::Seq),
        &Silent,
    )
    .expect("cmc");
    assert_eq!(report.draws, seq.draws, "parallel shards changed the draws");
    let wide = [rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool")];
    let one = run_cmc(
        &p,
        &fit.x,
        3e-3,
        &settings,
        Backend::Parallel(&wide),
        &Silent,
    )
    .expect("cmc");
    assert_eq!(one.draws, seq.draws, "threads per worker changed the draws");
    assert_eq!(report.shards.len(), 3);
    assert!(report.shards.iter().all(|s| s.used), "{:?}", report.shards);
    for (pos, &k) in free.iter().enumerate() {
        let s = &report.params[pos];
        let truth = synthetic::TRUTH[k];
        println!(
            "{}: {:.5} ± {:.2e}, R̂ {:.4}, ESS {:.0}/{:.0}",
            s.name, s.mean, s.std, s.r_hat, s.ess_bulk, s.ess_tail
        );
        assert!(
            ((s.mean - truth) / s.std).abs() <= 3.0,
            "{}: {} vs {truth}",
            s.name,
            s.mean
        );
        assert!(s.r_hat < 1.05 && s.ess_bulk > 100.0, "{s:?}");
        assert!(s.hdi94_low < s.median && s.median < s.hdi94_high);
    }
    assert_eq!(report.params.last().map(|s| s.name.as_str()), Some("sigma"));

    let bad = |f: &dyn Fn(&mut CmcSettings)| {
        let mut s = settings.clone();
        f(&mut s);
        run_cmc(&p, &fit.x, 3e-3, &s, Backend::Sequential(Par::Seq), &Silent)
            .expect_err("bad settings")
    };
    let e = bad(&|s| s.num_chains = 0);
    assert!(e.to_string().contains("num_chains"), "{e}");
    let e = bad(&|s| s.nuts.target_accept = 1.5);
    assert!(e.to_string().contains("target_accept_prob"), "{e}");
    let e = bad(&|s| s.shards = ShardCount::Fixed(10_000));
    assert!(e.to_string().contains("num_shards"), "{e}");

    // A shard that fails its check is excluded and reported, never merged: with the R̂
    // limit between the shards' own values (same seed → the same draws), exactly the
    // shards above it are left out, each with its reason, and the verdict says so.
    let mut rhats: Vec<(f64, usize)> = report
        .shards
        .iter()
        .map(|s| (s.max_rhat.expect("sampled"), s.shard))
        .collect();
    rhats.sort_by(|a, b| a.0.total_cmp(&b.0));
    let limit = 0.5 * (rhats[0].0 + rhats[2].0);
    let mut strict = settings.clone();
    strict.validation.max_r_hat = limit;
    let partial = run_cmc(
        &p,
        &fit.x,
        3e-3,
        &strict,
        Backend::Sequential(Par::Seq),
        &Silent,
    )
    .expect("cmc with some shards left out");
    for s in &partial.shards {
        let above = s.max_rhat.expect("sampled") > limit;
        assert_eq!(s.used, !above, "{s:?}");
        if above {
            let reason = s.reason.as_deref().unwrap_or_default();
            assert!(reason.contains("not converged"), "{reason}");
            assert!(
                partial
                    .verdict
                    .warnings
                    .iter()
                    .any(|w| w.contains(&format!("shard {} excluded", s.shard))),
                "{:?}",
                partial.verdict.warnings
            );
        }
    }
    assert!(!partial.verdict.converged);
    // All shards failing: a clear error naming each one, not an empty posterior.
    let mut none = settings.clone();
    none.validation.max_r_hat = 1.0 + 1e-9;
    let e = run_cmc(
        &p,
        &fit.x,
        3e-3,
        &none,
        Backend::Sequential(Par::Seq),
        &Silent,
    )
    .expect_err("no shard left");
    let text = e.to_string();
    assert!(
        text.contains("shard 0") && text.contains("shard 2") && text.contains("not converged"),
        "{text}"
    );
}

/// Simulation-based calibration on a reduced model: 20 truths drawn from the priors of
/// v0, beta, f3 and phi0 (the rest fixed, scaling fixed, σ known), data simulated from
/// each, NUTS from the prior mean; the 90 % central intervals must cover the truth in
/// 80–97.5 % of the 80 cases — inside the 75–100 %, and narrow enough to catch a
/// likelihood that counts both triangles (intervals √2 too narrow: ≈ 75 %) or half of
/// them twice over (√2 too wide: ≈ 98 %); a calibrated sampler gives 72 ± 2.7 of 80.
#[test]
fn simulation_based_calibration_of_a_reduced_model() {
    use heterodyne_core::mcmc::prior::Prior;
    use heterodyne_core::model::Scaling;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    let free = [6usize, 7, 12, 13];
    let priors = [
        ("v0", 50.0, 5.0),
        ("beta", 0.2, 0.02),
        ("f3", 0.1, 0.02),
        ("phi0", 3.0, 1.0),
    ];
    let sigma = 3e-3;
    let scaling = Scaling::uniform(3, 0.1, 1.0);
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let replicates = 20;
    let mut covered = 0;
    let mut total = 0;
    for r in 0..replicates {
        let mut truth = synthetic::TRUTH;
        for (&k, (_, m, s)) in free.iter().zip(&priors) {
            truth[k] = m + s * synthetic::standard_normal(&mut rng);
        }
        let data = synthetic::simulate(24, &[0.0, 45.0, 90.0], truth, &scaling, sigma, 100 + r);
        let mut start = synthetic::TRUTH;
        for (&k, (_, m, _)) in free.iter().zip(&priors) {
            start[k] = *m;
        }
        // The fixed parameters sit at the truth's values (they were never drawn).
        let p = problem_with(&data, &free, PerAngleMode::Fixed, start);
        let options = PosteriorOptions {
            priors: priors
                .iter()
                .map(|(n, m, s)| (n.to_string(), Prior::Normal { mean: *m, std: *s }))
                .collect(),
            ..PosteriorOptions::new(Noise::Fixed(sigma))
        };
        let post = Posterior::new(&p, &options).expect("posterior");
        let (x0, _, _) = p.start();
        let init = post.to_unconstrained(&x0, None);
        let settings = NutsSettings {
            num_warmup: 300,
            num_samples: 400,
            seed: 7 + r,
            ..NutsSettings::default()
        };
        let chains =
            sample(|| post.clone(), &[init.clone(), init], &settings, Par::Seq).expect("sample");
        for (pos, &k) in free.iter().enumerate() {
            let mut v: Vec<f64> = chains
                .iter()
                .flat_map(|c| c.draws.iter().map(|u| post.from_unconstrained(u).0[pos]))
                .collect();
            v.sort_by(f64::total_cmp);
            let (lo, hi) = (v[v.len() / 20], v[v.len() - 1 - v.len() / 20]);
            total += 1;
            if (lo..=hi).contains(&truth[k]) {
                covered += 1;
            }
        }
    }
    let rate = covered as f64 / total as f64;
    println!("SBC: 90 % intervals covered the truth in {covered}/{total} = {rate:.3}");
    assert!(
        (0.8..=0.975).contains(&rate),
        "coverage {covered}/{total} outside 80–97.5 %"
    );
}

/// The reverse-mode χ² gradient the sampler uses equals JᵀWr of the normal equations
/// (forward mode, per-cell Jacobian rows) with every parameter free.
#[test]
fn reverse_mode_gradient_equals_the_normal_equations() {
    use heterodyne_core::nlsq::Strategy;
    use heterodyne_core::nlsq::gradient::chi2_and_gradient;
    use heterodyne_core::nlsq::normal::normal_equations;
    let data = synthetic::small(40, &[0.0, 45.0, 90.0], 3);
    let p = problem(&data, &(0..14).collect::<Vec<_>>());
    let (mut x, _, _) = p.start();
    for (k, v) in x.iter_mut().enumerate() {
        *v *= 1.0 + 0.01 * (k as f64 - 7.0) / 7.0;
    }
    let (chi2, g) = chi2_and_gradient(&p, &x, Par::Seq);
    let ne = normal_equations(&p, &x, Strategy::Dense, 1024, Par::Seq);
    let chi2_ne: f64 = ne.chi2_per_angle.iter().sum();
    assert!(
        (chi2 - chi2_ne).abs() <= 1e-10 * chi2_ne,
        "{chi2} vs {chi2_ne}"
    );
    let scale = ne.jtr.iter().fold(0.0_f64, |a, b| a.max(b.abs()));
    for (k, (a, b)) in g.iter().zip(&ne.jtr).enumerate() {
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1e-6 * scale),
            "{}: {a} vs {b}",
            p.param_names()[k]
        );
    }
}

/// Prior handling per shard: each of K shards carries the prior (and the Jacobian) to the
/// power 1/K, so Σ_k log p_k(u) − log p_full(u) is one constant for every u — the product
/// of the shard posteriors is the full posterior, with the prior counted once (the
/// reference counts it K times). Checked at several points, with sampled σ.
#[test]
fn shard_densities_multiply_to_the_full_posterior() {
    use heterodyne_core::mcmc::shard::{ShardStrategy, shard_problems};
    let data = synthetic::small(30, &[0.0, 45.0, 90.0], 5);
    let p = problem(&data, &[0, 1, 2, 6, 7, 8, 9, 10, 11, 12, 13]);
    let k = 3;
    let shards = shard_problems(&p, k, ShardStrategy::Random, 4).expect("shards");
    let options = PosteriorOptions::new(Noise::Sampled { scale: 0.01 });
    let mut full = Posterior::new(&p, &options).expect("posterior");
    let mut parts: Vec<Posterior<'_>> = shards
        .iter()
        .map(|s| {
            Posterior::new(s, &options)
                .expect("posterior")
                .with_prior_weight(1.0 / k as f64)
        })
        .collect();
    let (x, _, _) = p.start();
    let u0 = full.to_unconstrained(&x, Some(3.1e-3));
    let mut g = vec![0.0; full.dim()];
    let mut gap = |u: &[f64]| {
        let whole = full.logp(u, &mut g).expect("logp");
        let sum: f64 = parts
            .iter_mut()
            .map(|q| q.logp(u, &mut g).expect("logp"))
            .sum();
        sum - whole
    };
    let c0 = gap(&u0);
    for step in 1..5 {
        let u: Vec<f64> = u0
            .iter()
            .enumerate()
            .map(|(i, v)| v + 0.0003 * step as f64 * ((i * 7 + step) % 5) as f64)
            .collect();
        let c = gap(&u);
        assert!(
            (c - c0).abs() <= 1e-6 * c0.abs().max(1.0),
            "Σ shards − full moved from {c0} to {c}"
        );
    }
}

/// An NLSQ optimum on a bound (here v_offset at its upper bound, D0_ref at its lower one)
/// still starts the sampler: the start is pulled just inside, the density is finite there.
#[test]
fn a_start_on_a_bound_is_pulled_inside() {
    let data = synthetic::small(30, &[0.0, 45.0, 90.0], 6);
    let p = problem(&data, &[0, 1, 2, 6, 7, 8, 9, 10, 11, 12, 13]);
    let (mut x, lo, hi) = p.start();
    x[0] = lo[0];
    x[5] = hi[5];
    for reparam in [
        Reparam::default(),
        Reparam {
            rate_triples: false,
            ..Reparam::default()
        },
    ] {
        let options = PosteriorOptions {
            reparam,
            ..PosteriorOptions::new(Noise::Sampled { scale: 0.01 })
        };
        let mut post = Posterior::new(&p, &options).expect("posterior");
        let u = post.to_unconstrained(&x, Some(3e-3));
        let mut g = vec![0.0; post.dim()];
        let v = post
            .logp(&u, &mut g)
            .expect("finite at the pulled-in start");
        assert!(
            v.is_finite() && g.iter().all(|d| d.is_finite()),
            "{reparam:?}"
        );
        let (back, _) = post.from_unconstrained(&u);
        assert!(
            (back[5] - hi[5]).abs() <= 1e-5 * (hi[5] - lo[5]),
            "{}",
            back[5]
        );
    }
}

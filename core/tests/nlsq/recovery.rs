//! A joint fit recovers the truth of noisy synthetic data within its honest errors, every
//! strategy gives the same answer, and the exact f0–f2 ridge is reported.

use heterodyne_core::exec::{Par, Silent};
use heterodyne_core::model::PhysicsParams;
use heterodyne_core::model::params::PHYSICS;
use heterodyne_core::nlsq::{
    self, FitProblem, NlsqReport, NlsqSettings, PerAngleMode, PhysicsStart, ResidualSupport,
    ScalingInputs, ScalingLayout, Strategy,
};

use crate::synthetic::{self, START};

fn problem(data: &synthetic::Data, mode: PerAngleMode, start: [f64; 14]) -> FitProblem {
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
    physics.hi[0] = 5e4;
    physics.hi[3] = 5e4;
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

/// χ² with the known noise: Σ over upper cells of (r/σ)², σ = σ_rel·c2_true, both
/// triangles counted as the residual does, over dof.
fn reduced_chi2_known_noise(data: &synthetic::Data, report: &NlsqReport) -> f64 {
    let n = data.model.grid().n;
    let fitted = data
        .model
        .c2(&report.physics, &report.scaling, Par::Seq)
        .expect("c2");
    let mut s = 0.0;
    for a in 0..data.model.phi().len() {
        for i in 1..n {
            for j in i + 1..n {
                let e = (a * n + i) * n + j;
                let sigma = synthetic::SIGMA_REL * data.c2_true[e];
                s += 2.0 * ((fitted[e] - data.c2[e]) / sigma).powi(2);
            }
        }
    }
    s / report.dof as f64
}

#[test]
fn averaged_fit_recovers_truth_within_three_sigma() {
    let data = synthetic::small(100, &[0.0, 45.0, 90.0], 11);
    let p = problem(&data, PerAngleMode::Auto, START);
    let r = nlsq::fit(&p, &NlsqSettings::default(), Par::Seq, &Silent).expect("fit");
    println!(
        "{} iterations, {} ({:?})",
        r.iterations, r.message, r.strategy
    );
    assert!(r.converged, "{}", r.message);
    assert_eq!(r.scaling_mode, PerAngleMode::Averaged);
    let chi2 = reduced_chi2_known_noise(&data, &r);
    println!("reduced χ² (known noise) {chi2:.4}");
    assert!((0.9..=1.1).contains(&chi2), "{chi2}");
    let truth = data.truth.to_array();
    let fitted = r.physics.to_array();
    for k in 0..14 {
        let name = PHYSICS[k].name;
        match r.physics_std[k] {
            Some(se) => {
                let z = (fitted[k] - truth[k]) / se;
                println!(
                    "{name:>16} {:>12.5} ± {se:<10.3e} truth {:>10} z {z:+.2}",
                    fitted[k], truth[k]
                );
                assert!(
                    z.abs() <= 3.0,
                    "{name}: {} vs {} (se {se})",
                    fitted[k],
                    truth[k]
                );
            }
            None => {
                println!("{name:>16} {:>12.5} ± (undetermined)", fitted[k]);
                assert!(name == "f0" || name == "f2", "{name} has no standard error");
            }
        }
    }
    // f0 and f2 lie on the exact ridge f0·exp(−f1·f2): reported, with its combination.
    let ridge = r
        .degeneracies
        .iter()
        .find(|d| d.combination.is_some())
        .expect("the f0–f2 ridge is reported");
    let (value, se) = (ridge.value.expect("value"), ridge.std_error.expect("se"));
    let t = data.truth;
    let truth_combo = t.f0 * (-t.f1 * t.f2).exp();
    println!("{}", ridge.message);
    assert!(
        ((value - truth_combo) / se).abs() <= 3.0,
        "{value} ± {se} vs {truth_combo}"
    );
}

#[test]
fn strategies_and_threads_agree() {
    let data = synthetic::small(60, &[0.0, 45.0, 90.0], 5);
    let p = problem(&data, PerAngleMode::Averaged, START);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .expect("pool");
    let mut results = Vec::new();
    for strategy in [Strategy::Dense, Strategy::Chunked, Strategy::Streaming] {
        let settings = NlsqSettings {
            strategy,
            chunk_size: 500,
            ..NlsqSettings::default()
        };
        let seq = nlsq::fit(&p, &settings, Par::Seq, &Silent).expect("fit");
        let par = pool
            .install(|| nlsq::fit(&p, &settings, Par::threads(3), &Silent))
            .expect("fit");
        assert_eq!(seq.x, par.x, "{strategy:?}: threads changed the result");
        results.push(seq);
    }
    for r in &results[1..] {
        for (a, b) in r.x.iter().zip(&results[0].x) {
            assert!((a - b).abs() <= 1e-8 * b.abs().max(1e-12), "{a} vs {b}");
        }
    }
}

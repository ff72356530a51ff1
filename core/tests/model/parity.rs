//! Must show 1: every model fixture reproduced to 1e-9 relative, by the fast and the
//! naive evaluator, serially and in parallel.

use heterodyne_core::exec::Par;
use heterodyne_core::model::TimeFactors;

use crate::fixture;

/// max |ours − ref| / max(|ref|, 1e-300) over all elements.
const MODEL_PARITY_RTOL: f64 = 1e-9;

fn max_rel_err(ours: &[f64], reference: &[f64]) -> f64 {
    ours.iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1e-300))
        .fold(0.0, f64::max)
}

#[test]
fn grids_match_the_fixture_definitions() {
    for fx in fixture::all() {
        let grid = fx.model.grid();
        let tg = &fx.json["time_grid"];
        let first = tg["t_first"].as_f64().expect("t_first");
        let last = tg["t_last"].as_f64().expect("t_last");
        assert!(
            (grid.t(0) - first).abs() <= 1e-15 * first,
            "{}: t_first",
            fx.name
        );
        assert!(
            (grid.t(grid.n - 1) - last).abs() <= 1e-14 * last,
            "{}: t_last",
            fx.name
        );
    }
}

#[test]
fn sample_fraction_matches_the_fixture() {
    for fx in fixture::all() {
        let f = TimeFactors::new(fx.model.grid(), &fx.params, false);
        let expected = fx.json["fraction_f_sample_of_t"].as_array().expect("f_s");
        // The git-snapshot fixture used a hard clip; the soft clip departs from it by
        // e^(−50·d)/50 at distance d from the nearer bound (spec physics.md §3.3).
        let hard_clip = fx.json.get("heterodyne_source").is_some();
        for (k, (ours, e)) in f.f_s.iter().zip(expected).enumerate() {
            let e = e.as_f64().expect("number");
            let clip_gap = if hard_clip {
                (-50.0 * e.min(1.0 - e)).exp() / 50.0
            } else {
                0.0
            };
            let tol = 1e-12 + clip_gap;
            assert!(
                (ours - e).abs() <= tol,
                "{} f_s[{k}]: {ours} vs {e}",
                fx.name
            );
        }
    }
}

#[test]
fn fast_evaluator_matches_reference() {
    for fx in fixture::all() {
        let ours = fx.model.c2(&fx.params, &fx.scaling, Par::Seq).expect("c2");
        let err = max_rel_err(&ours, &fx.c2);
        println!("{}: fast max rel err {err:.3e}", fx.name);
        assert!(err <= MODEL_PARITY_RTOL, "{}: {err:e}", fx.name);
    }
}

#[test]
fn naive_evaluator_matches_reference() {
    for fx in fixture::all() {
        let mut ours = vec![0.0; fx.model.len()];
        fx.model
            .c2_naive_into(&fx.params, &fx.scaling, Par::Seq, &mut ours)
            .expect("c2");
        let err = max_rel_err(&ours, &fx.c2);
        println!("{}: naive max rel err {err:.3e}", fx.name);
        assert!(err <= MODEL_PARITY_RTOL, "{}: {err:e}", fx.name);
    }
}

#[test]
fn parallel_results_are_bitwise_serial_results() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .expect("pool");
    for fx in fixture::all() {
        let seq = fx.model.c2(&fx.params, &fx.scaling, Par::Seq).expect("c2");
        let par = pool
            .install(|| fx.model.c2(&fx.params, &fx.scaling, Par::threads(3)))
            .expect("c2");
        assert!(
            seq.iter()
                .zip(&par)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{}",
            fx.name
        );
    }
}

/// The fast evaluator's two exact fallbacks (tiles whose decay would overflow the split
/// exponentials, and the smooth_abs band where rates are tiny) and edge tiles, checked
/// against the direct form in regimes the fixtures do not reach.
#[test]
fn fast_matches_naive_in_extreme_regimes() {
    use heterodyne_core::model::{HeterodyneModel, PhysicsParams, Scaling, TimeGrid};
    let cases: [(&str, f64, f64, [f64; 14]); 4] = [
        // q²·J·dt = 100 e-folds per frame: every tile is evaluated directly.
        (
            "fast decay",
            0.1,
            0.01,
            [
                1e6, 0.0, 0.0, 5e5, 0.5, 0.0, 1e3, 0.0, 0.0, 0.3, 0.0, 0.0, 0.2, 3.0,
            ],
        ),
        // Rates of 1e-6 Å²/s: the smooth_abs band covers many frames.
        (
            "tiny rates",
            0.05,
            0.1,
            [
                100.0, 0.0, -99.999999, 100.0, 0.0, -99.99999, 1.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0,
                0.0,
            ],
        ),
        // Decay of a few e-folds per tile, large phases, fraction crossing both bounds.
        (
            "mixed",
            0.02,
            0.05,
            [
                2e3, 0.7, -50.0, 8e3, -0.4, 30.0, 9e3, 1.5, 90.0, 0.9, -3.0, 1.0, 0.05, -9.0,
            ],
        ),
        // Reference rate floored to 0 (C_r constant), sample decaying.
        (
            "floored reference",
            0.0054,
            0.5,
            [
                100.0, -2.0, -500.0, 5e4, 0.0, 0.0, 1e-6, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0,
            ],
        ),
    ];
    for (name, q, dt, p) in cases {
        let grid = TimeGrid::window(dt, 130).expect("grid");
        let model = HeterodyneModel::new(grid, q, vec![-170.0, 10.0, 90.0]).expect("model");
        let params = PhysicsParams::from_array(p);
        let scaling = Scaling {
            contrast: vec![0.2, 0.5, 1.0],
            offset: vec![1.0, 0.5, 1.5],
        };
        let fast = model.c2(&params, &scaling, Par::Seq).expect("fast");
        let mut naive = vec![0.0; model.len()];
        model
            .c2_naive_into(&params, &scaling, Par::Seq, &mut naive)
            .expect("naive");
        let err = max_rel_err(&fast, &naive);
        println!("{name}: fast vs naive {err:.3e}");
        assert!(err <= 1e-12, "{name}: {err:e}");
    }
}

//! The unit tests' small problem: three angles of `n` frames at the medium fixture's truth,
//! with asymmetric deterministic "noise", per-angle scaling by `mode`, optional cell
//! weights, and a point 1 % off the optimum (so every residual and partial matters).

use crate::exec::Par;
use crate::model::{HeterodyneModel, PhysicsParams, Scaling, TimeGrid};
use crate::nlsq::{
    FitProblem, PerAngleMode, PhysicsStart, ResidualSupport, ScalingInputs, ScalingLayout,
};

pub(crate) fn test_problem(
    n: usize,
    support: ResidualSupport,
    mode: PerAngleMode,
    weights: bool,
) -> (FitProblem, Vec<f64>) {
    let grid = TimeGrid::window(50.0 / n as f64, n).expect("grid");
    let phi = vec![0.0, 45.0, 90.0];
    let model = HeterodyneModel::new(grid, 0.0054, phi).expect("model");
    let truth = PhysicsParams::from_array([
        500.0, 0.1, 10.0, 1000.0, 0.2, 50.0, 50.0, 0.2, 5.0, 0.4, 0.02, 25.0, 0.1, 3.0,
    ]);
    let mut c2 = model
        .c2(&truth, &Scaling::uniform(3, 0.1, 1.0), Par::Seq)
        .expect("c2");
    for (k, v) in c2.iter_mut().enumerate() {
        *v *= 1.0 + 3e-3 * (((k * 7919) % 1000) as f64 / 500.0 - 1.0);
    }
    let w: Vec<f64> = (0..c2.len()).map(|k| 0.5 + (k % 7) as f64 / 7.0).collect();
    let t = model.grid().times();
    let layout = ScalingLayout::new(
        mode,
        &ScalingInputs {
            phi: model.phi(),
            c2: &c2,
            n,
            t: &t,
            contrast: 0.1,
            offset: 1.0,
            fourier_order: 1,
            constant_scaling_threshold: 3,
        },
    );
    let p = FitProblem::new(
        model,
        &c2,
        weights.then_some(&w[..]),
        support,
        PhysicsStart::registry(truth),
        layout,
    )
    .expect("problem");
    let (mut x, _, _) = p.start();
    for (k, v) in x.iter_mut().enumerate() {
        *v *= 1.0 + 0.01 * ((k % 3) as f64 - 1.0);
    }
    (p, x)
}

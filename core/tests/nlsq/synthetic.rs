//! Noisy synthetic data shaped like the shared `small` fixture.

use heterodyne_core::data::diagonal::correct_diagonal_stack;
use heterodyne_core::exec::Par;
use heterodyne_core::model::{HeterodyneModel, PhysicsParams, Scaling, TimeGrid};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// The `small` fixture's truth (N 100, dt 0.5 s, q 0.0054, φ 0/45/90, contrast 0.1).
pub const TRUTH: [f64; 14] = [
    500.0, 0.1, 10.0, 1000.0, 0.2, 50.0, 50.0, 0.2, 5.0, 0.4, 0.02, 25.0, 0.1, 3.0,
];
/// Its `suggested_start`.
pub const START: [f64; 14] = [
    550.0, 0.15, 12.0, 900.0, 0.25, 40.0, 52.0, 0.19, 4.0, 0.45, 0.018, 27.0, 0.12, 2.0,
];
/// Relative noise.
pub const SIGMA_REL: f64 = 3e-3;

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u = |rng: &mut ChaCha8Rng| ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let (a, b) = (u(rng), u(rng));
    (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
}

pub struct Data {
    pub model: HeterodyneModel,
    pub truth: PhysicsParams,
    pub c2_true: Vec<f64>,
    pub c2: Vec<f64>,
}

/// `n_phi` angles out of 0/45/90 (then 135, …), N frames over 50 s, symmetric noise.
pub fn small(n: usize, phi: &[f64], seed: u64) -> Data {
    let grid = TimeGrid::window(50.0 / n as f64, n).expect("grid");
    let model = HeterodyneModel::new(grid, 0.0054, phi.to_vec()).expect("model");
    let truth = PhysicsParams::from_array(TRUTH);
    let c2_true = model
        .c2(&truth, &Scaling::uniform(phi.len(), 0.1, 1.0), Par::Seq)
        .expect("c2");
    let mut c2 = c2_true.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for m in c2.chunks_exact_mut(n * n) {
        for i in 0..n {
            for j in i..n {
                m[i * n + j] *= 1.0 + SIGMA_REL * normal(&mut rng);
                m[j * n + i] = m[i * n + j];
            }
        }
    }
    correct_diagonal_stack(&mut c2, n);
    Data {
        model,
        truth,
        c2_true,
        c2,
    }
}

/// N frames over 50 s at angles `phi`, for physics `truth` and `scaling`, with additive
/// symmetric Gaussian noise of standard deviation `sigma` (same units as c2).
pub fn simulate(
    n: usize,
    phi: &[f64],
    truth: [f64; 14],
    scaling: &Scaling,
    sigma: f64,
    seed: u64,
) -> Data {
    let grid = TimeGrid::window(50.0 / n as f64, n).expect("grid");
    let model = HeterodyneModel::new(grid, 0.0054, phi.to_vec()).expect("model");
    let truth = PhysicsParams::from_array(truth);
    let c2_true = model.c2(&truth, scaling, Par::Seq).expect("c2");
    let mut c2 = c2_true.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for m in c2.chunks_exact_mut(n * n) {
        for i in 0..n {
            for j in i..n {
                m[i * n + j] += sigma * normal(&mut rng);
                m[j * n + i] = m[i * n + j];
            }
        }
    }
    correct_diagonal_stack(&mut c2, n);
    Data {
        model,
        truth,
        c2_true,
        c2,
    }
}

/// A standard normal draw (for tests that draw truths from a prior).
pub fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    normal(rng)
}

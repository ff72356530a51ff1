//! Must show 3: the exact gradient of every element with respect to all 14 physics
//! parameters plus contrast and offset agrees with central finite differences.

use heterodyne_core::exec::Par;
use heterodyne_core::model::params::{CONTRAST, GRAD_LEN, N_PHYSICS, OFFSET, grad_name};
use heterodyne_core::model::{PhysicsParams, Scaling};

use crate::fixture::{self, Fixture};

/// Per parameter: max over elements |exact − FD| / max over elements |exact|.
const DERIVATIVE_RTOL: f64 = 1e-6;

/// Resolution scale per gradient entry: the step is 1e-4·max(|θ|, scale).
const SCALE: [f64; GRAD_LEN] = [
    1e3, 1.0, 1e2, 1e3, 1.0, 1e2, 1e2, 1.0, 1.0, 0.1, 1.0, 0.1, 0.1, 1.0, 0.1, 0.1,
];

fn evaluate(fx: &Fixture, p: usize, value: f64) -> Vec<f64> {
    let mut params = fx.params.to_array();
    let mut scaling: Scaling = fx.scaling.clone();
    match p {
        p if p < N_PHYSICS => params[p] = value,
        CONTRAST => scaling.contrast.iter_mut().for_each(|c| *c = value),
        _ => scaling.offset.iter_mut().for_each(|o| *o = value),
    }
    let params = PhysicsParams::from_array(params);
    let mut out = vec![0.0; fx.model.len()];
    fx.model
        .c2_naive_into(&params, &scaling, Par::Seq, &mut out)
        .expect("c2");
    out
}

#[test]
fn gradient_matches_central_differences() {
    for fx in fixture::all() {
        // contrast/offset are perturbed for all angles at once: use a common base value.
        let mut fx = fx;
        let n_phi = fx.model.phi().len();
        fx.scaling = Scaling::uniform(n_phi, fx.scaling.contrast[0], fx.scaling.offset[0]);
        let (c2, jac) = fx
            .model
            .jacobian(&fx.params, &fx.scaling, Par::Seq)
            .expect("jac");
        let direct = evaluate(&fx, OFFSET, fx.scaling.offset[0]);
        assert!(
            c2.iter()
                .zip(&direct)
                .all(|(a, b)| (a - b).abs() <= 1e-14 * b.abs())
        );

        let base = fx.params.to_array();
        for p in 0..GRAD_LEN {
            let theta = match p {
                p if p < N_PHYSICS => base[p],
                CONTRAST => fx.scaling.contrast[0],
                _ => fx.scaling.offset[0],
            };
            let h = 1e-4 * theta.abs().max(SCALE[p]);
            // Fourth-order central difference.
            let fp1 = evaluate(&fx, p, theta + h);
            let fm1 = evaluate(&fx, p, theta - h);
            let fp2 = evaluate(&fx, p, theta + 2.0 * h);
            let fm2 = evaluate(&fx, p, theta - 2.0 * h);
            let mut max_exact: f64 = 0.0;
            let mut max_diff: f64 = 0.0;
            for e in 0..c2.len() {
                let fd = (8.0 * (fp1[e] - fm1[e]) - (fp2[e] - fm2[e])) / (12.0 * h);
                let exact = jac[e * GRAD_LEN + p];
                max_exact = max_exact.max(exact.abs());
                max_diff = max_diff.max((exact - fd).abs());
            }
            let name = grad_name(p);
            if max_exact == 0.0 {
                // Nothing to be relative to: FD rounding noise is ~ε·c2/h ≈ 1e-12.
                assert!(
                    max_diff < 1e-9,
                    "{} {name}: exact 0, FD {max_diff:e}",
                    fx.name
                );
                continue;
            }
            let rel = max_diff / max_exact;
            println!(
                "{} {name}: rel {rel:.2e} (max |∂c2| {max_exact:.3e})",
                fx.name
            );
            assert!(
                rel <= DERIVATIVE_RTOL,
                "{} {name}: rel err {rel:e}",
                fx.name
            );
        }
    }
}

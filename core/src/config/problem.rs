//! From a config and the selected data to the fit problem: the model on the config's time
//! grid, the start and bounds of the physics parameters, the per-angle scaling layout.
//! Deterministic, so a CMC shard in another process (or the browser) builds the same
//! problem from the same inputs.

use super::Config;
use crate::model::HeterodyneModel;
use crate::model::params::N_PHYSICS;
use crate::nlsq::{FitProblem, PhysicsStart, ScalingInputs, ScalingLayout};

/// The data of one fit group: `c2` of the angles `phi` (each `n×n`) and optional weights.
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    /// Stacked matrices `[φ][t1][t2]`.
    pub c2: &'a [f64],
    /// Per-cell weights, same layout.
    pub weights: Option<&'a [f64]>,
    /// Frames per side.
    pub n: usize,
    /// Angles, degrees.
    pub phi: &'a [f64],
}

/// Start, bounds and free flags of the physics parameters as the config gives them.
pub fn physics_start(config: &Config) -> PhysicsStart {
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

/// The model and the fit problem of `group` as `config` defines them.
pub fn build_problem(
    config: &Config,
    group: &Group<'_>,
) -> crate::Result<(HeterodyneModel, FitProblem)> {
    let Group {
        c2,
        weights,
        n,
        phi,
    } = *group;
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
    )?;
    Ok((model, problem))
}

//! Per-time factors of one parameter vector: the cumulative transport integrals C_r, C_s,
//! the velocity integral C_v and the sample fraction f_s on the model grid, optionally with
//! their derivatives. Everything the c2 of an element (i, j) needs is a difference or a
//! product of these vectors, which is what makes the model separable.

use super::grid::TimeGrid;
use super::integrals::trapezoid_cumsum_into;
use super::params::PhysicsParams;
use super::rates::{
    TimePoint, sample_fraction, sample_fraction_value, transport_rate, velocity_rate,
};

/// Per-time vectors of length `grid.n`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeFactors {
    /// ∫J_r dt from the first grid time, Å².
    pub c_r: Vec<f64>,
    /// ∫J_s dt from the first grid time, Å².
    pub c_s: Vec<f64>,
    /// ∫v dt from the first grid time, Å.
    pub c_v: Vec<f64>,
    /// Sample fraction f_s(t) ∈ [0, 1].
    pub f_s: Vec<f64>,
    /// `1/n(t)` with `n = f_s² + (1 − f_s)²` (≥ ½): the normalisation of a cell (i, j) is
    /// `n(t_i)·n(t_j)`, so per-time reciprocals spare every cell a division.
    pub inv_norm: Vec<f64>,
    /// `∂ ln n/∂f_s = (2f_s − 2(1 − f_s))/n` at each time.
    pub dlog_norm: Vec<f64>,
    /// Derivatives, when requested.
    pub derivs: Option<FactorDerivs>,
}

/// Derivatives of the per-time vectors with respect to the parameters that enter them.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorDerivs {
    /// ∂C_r/∂(D0_ref, alpha_ref, D_offset_ref).
    pub dc_r: [Vec<f64>; 3],
    /// ∂C_s/∂(D0_sample, alpha_sample, D_offset_sample).
    pub dc_s: [Vec<f64>; 3],
    /// ∂C_v/∂(v0, beta, v_offset).
    pub dc_v: [Vec<f64>; 3],
    /// ∂f_s/∂(f0, f1, f2, f3).
    pub df_s: [Vec<f64>; 4],
}

impl TimeFactors {
    /// Evaluates the factors of `params` on `grid`; with `derivatives`, also their
    /// parameter derivatives (the integrals of the rate derivatives, same trapezoid).
    pub fn new(grid: &TimeGrid, params: &PhysicsParams, derivatives: bool) -> Self {
        let n = grid.n;
        let p = params;
        let mut rate = vec![0.0; n];
        let mut d_rate = [vec![0.0; n], vec![0.0; n], vec![0.0; n]];
        let points: Vec<TimePoint> = (0..n).map(|k| TimePoint::new(grid.t(k))).collect();
        let mut integrate = |f: &dyn Fn(TimePoint) -> (f64, [f64; 3])| {
            for (k, &point) in points.iter().enumerate() {
                let (value, d) = f(point);
                rate[k] = value;
                for (dr, dv) in d_rate.iter_mut().zip(d) {
                    dr[k] = dv;
                }
            }
            let mut c = vec![0.0; n];
            trapezoid_cumsum_into(&rate, grid.dt, &mut c);
            let dc = if derivatives {
                d_rate.each_ref().map(|dr| {
                    let mut dc = vec![0.0; n];
                    trapezoid_cumsum_into(dr, grid.dt, &mut dc);
                    dc
                })
            } else {
                Default::default()
            };
            (c, dc)
        };
        let (c_r, dc_r) = integrate(&|t| transport_rate(t, p.d0_ref, p.alpha_ref, p.d_offset_ref));
        let (c_s, dc_s) =
            integrate(&|t| transport_rate(t, p.d0_sample, p.alpha_sample, p.d_offset_sample));
        let (c_v, dc_v) = integrate(&|t| velocity_rate(t, p.v0, p.beta, p.v_offset));

        let mut f_s = vec![0.0; n];
        let mut df_s: [Vec<f64>; 4] = Default::default();
        if derivatives {
            df_s = [vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]];
        }
        for k in 0..n {
            let t = grid.t(k);
            if derivatives {
                let (f, d) = sample_fraction(t, p.f0, p.f1, p.f2, p.f3);
                f_s[k] = f;
                for (dv, dk) in df_s.iter_mut().zip(d) {
                    dv[k] = dk;
                }
            } else {
                f_s[k] = sample_fraction_value(t, p.f0, p.f1, p.f2, p.f3);
            }
        }
        let norm = |fs: f64| fs * fs + (1.0 - fs) * (1.0 - fs);
        let inv_norm = f_s.iter().map(|&fs| 1.0 / norm(fs)).collect();
        let dlog_norm = f_s
            .iter()
            .map(|&fs| (2.0 * fs - 2.0 * (1.0 - fs)) / norm(fs))
            .collect();
        Self {
            c_r,
            c_s,
            c_v,
            f_s,
            inv_norm,
            dlog_norm,
            derivs: derivatives.then_some(FactorDerivs {
                dc_r,
                dc_s,
                dc_v,
                df_s,
            }),
        }
    }

    /// Number of grid times.
    pub fn len(&self) -> usize {
        self.f_s.len()
    }

    /// Whether the grid is empty (never, for a validated grid).
    pub fn is_empty(&self) -> bool {
        self.f_s.is_empty()
    }
}

//! The heterodyne two-time correlation model (spec physics.md).
//!
//! - [`params`]: the 14 physics parameters and per-angle scaling, registry values.
//! - [`grid`]: the model time grid and its origin convention.
//! - [`rates`]: J(t), v(t), f_s(t) and their derivatives.
//! - [`integrals`]: cumulative trapezoid.
//! - [`factors`]: per-time vectors for one parameter set.
//! - [`element`]: one c2 element and its gradient, directly (where the cross term lives).
//! - `separable`: the fast evaluator behind [`HeterodyneModel::c2_into`] (outer products,
//!   no transcendental call per element).

pub mod element;
pub mod factors;
pub mod grid;
pub mod integrals;
pub mod params;
pub mod rates;
pub(crate) mod separable;

use rayon::prelude::*;

pub use element::AngleTerms;
pub use factors::TimeFactors;
pub use grid::{TimeGrid, TimeOrigin};
pub use params::{GRAD_LEN, N_PHYSICS, PhysicsParams, Scaling};

use crate::error::{Error, Result};
use crate::exec::Par;

/// The model for one experiment: time grid, wavevector and detector angles.
#[derive(Debug, Clone, PartialEq)]
pub struct HeterodyneModel {
    grid: TimeGrid,
    q: f64,
    phi: Vec<f64>,
}

impl HeterodyneModel {
    /// A model on `grid` for wavevector `q` (1/Å, > 0) and detector angles `phi` (degrees).
    pub fn new(grid: TimeGrid, q: f64, phi: Vec<f64>) -> Result<Self> {
        if !(q.is_finite() && q > 0.0) {
            return Err(Error::invalid(
                "wavevector_q",
                format!("must be > 0 1/Å, got {q}"),
            ));
        }
        if phi.is_empty() {
            return Err(Error::invalid("phi_angles", "no angle given"));
        }
        if let Some(bad) = phi.iter().find(|p| !p.is_finite()) {
            return Err(Error::invalid(
                "phi_angles",
                format!("angle {bad} is not finite"),
            ));
        }
        Ok(Self { grid, q, phi })
    }

    /// The time grid.
    pub fn grid(&self) -> &TimeGrid {
        &self.grid
    }

    /// Wavevector, 1/Å.
    pub fn q(&self) -> f64 {
        self.q
    }

    /// Detector angles, degrees.
    pub fn phi(&self) -> &[f64] {
        &self.phi
    }

    /// Number of values of one c2 stack: n_phi · N · N.
    pub fn len(&self) -> usize {
        self.phi.len() * self.grid.n * self.grid.n
    }

    /// Never true for a constructed model.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Per-angle constants for `params` and `scaling`.
    pub fn angle_terms(
        &self,
        params: &PhysicsParams,
        scaling: &Scaling,
    ) -> Result<Vec<AngleTerms>> {
        let n_phi = self.phi.len();
        if scaling.contrast.len() != n_phi || scaling.offset.len() != n_phi {
            return Err(Error::Shape {
                what: "contrast/offset per angle".into(),
                expected: n_phi,
                actual: scaling.contrast.len().min(scaling.offset.len()),
            });
        }
        for (spec, v) in params::PHYSICS.iter().zip(params.to_array()) {
            if !v.is_finite() {
                return Err(Error::invalid(
                    spec.name,
                    format!("value {v} is not finite"),
                ));
            }
        }
        Ok(self
            .phi
            .iter()
            .zip(scaling.contrast.iter().zip(&scaling.offset))
            .map(|(&phi, (&c, &o))| AngleTerms::new(self.q, phi, params.phi0, c, o))
            .collect())
    }

    fn check_out(&self, what: &str, len: usize, per_element: usize) -> Result<()> {
        let expected = self.len() * per_element;
        if len != expected {
            return Err(Error::Shape {
                what: what.into(),
                expected,
                actual: len,
            });
        }
        Ok(())
    }

    /// Writes c2 `[phi][t1][t2]` into `out` with the fast separable evaluator.
    pub fn c2_into(
        &self,
        params: &PhysicsParams,
        scaling: &Scaling,
        par: Par,
        out: &mut [f64],
    ) -> Result<()> {
        self.check_out("c2 output", out.len(), 1)?;
        let angles = self.angle_terms(params, scaling)?;
        let factors = TimeFactors::new(&self.grid, params, false);
        separable::c2_fast_into(&factors, self.q * self.q, &angles, par, out);
        Ok(())
    }

    /// c2 `[phi][t1][t2]` with the fast evaluator.
    pub fn c2(&self, params: &PhysicsParams, scaling: &Scaling, par: Par) -> Result<Vec<f64>> {
        let mut out = vec![0.0; self.len()];
        self.c2_into(params, scaling, par, &mut out)?;
        Ok(out)
    }

    /// Writes c2 with the direct per-element formula (every element, both triangles):
    /// the reference form, for checks and benchmarks.
    pub fn c2_naive_into(
        &self,
        params: &PhysicsParams,
        scaling: &Scaling,
        par: Par,
        out: &mut [f64],
    ) -> Result<()> {
        self.check_out("c2 output", out.len(), 1)?;
        let angles = self.angle_terms(params, scaling)?;
        let f = TimeFactors::new(&self.grid, params, false);
        let (n, q2) = (self.grid.n, self.q * self.q);
        let fill_row = |(r, row): (usize, &mut [f64])| {
            let (a, i) = (&angles[r / n], r % n);
            for (j, v) in row.iter_mut().enumerate() {
                *v = element::c2_element(&f, q2, a, i, j);
            }
        };
        if par.is_parallel() {
            out.par_chunks_mut(n).enumerate().for_each(fill_row);
        } else {
            out.chunks_mut(n).enumerate().for_each(fill_row);
        }
        Ok(())
    }

    /// The full Jacobian `[phi][t1][t2][p]` with p over [`GRAD_LEN`] entries (14 physics,
    /// then this angle's `contrast` and `offset`), and c2 `[phi][t1][t2]`.
    pub fn jacobian(
        &self,
        params: &PhysicsParams,
        scaling: &Scaling,
        par: Par,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let angles = self.angle_terms(params, scaling)?;
        let f = TimeFactors::new(&self.grid, params, true);
        let d = f
            .derivs
            .as_ref()
            .ok_or_else(|| Error::invalid("derivatives", "missing"))?;
        let (n, q2) = (self.grid.n, self.q * self.q);
        let mut c2 = vec![0.0; self.len()];
        let mut jac = vec![0.0; self.len() * GRAD_LEN];
        let fill_row = |(r, (row, jrow)): (usize, (&mut [f64], &mut [f64]))| {
            let (a, i) = (&angles[r / n], r % n);
            for (j, (v, g)) in row
                .iter_mut()
                .zip(jrow.chunks_exact_mut(GRAD_LEN))
                .enumerate()
            {
                let mut grad = [0.0; GRAD_LEN];
                *v = element::c2_element_grad(&f, d, q2, a, i, j, &mut grad);
                g.copy_from_slice(&grad);
            }
        };
        if par.is_parallel() {
            c2.par_chunks_mut(n)
                .zip(jac.par_chunks_mut(n * GRAD_LEN))
                .enumerate()
                .for_each(fill_row);
        } else {
            c2.chunks_mut(n)
                .zip(jac.chunks_mut(n * GRAD_LEN))
                .enumerate()
                .for_each(fill_row);
        }
        Ok((c2, jac))
    }
}

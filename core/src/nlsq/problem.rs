//! A least-squares problem: the measured c2 packed on the residual support, the
//! parameter layout of the optimiser vector, and the map from that vector to model
//! parameters.
//!
//! c2 is symmetric, so each off-diagonal pair (i, j), (j, i) is stored once: with cell
//! weights w, `w_ij (m − d_ij)² + w_ji (m − d_ji)² = W (m − d̃)² + const`, where
//! `W = w_ij + w_ji` and `d̃` is the weighted mean. The optimiser sees the upper triangle
//! with weights W; χ² still counts both triangles, as the reference does.

use crate::error::{Error, Result};
use crate::model::params::{N_PHYSICS, PHYSICS};
use crate::model::{HeterodyneModel, PhysicsParams, Scaling};

use super::scaling::ScalingLayout;

/// Which cells enter the residual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResidualSupport {
    /// Drop the first frame of the window (row and column 0), as the reference 2.0.1.
    pub skip_first_frame: bool,
    /// Keep the diagonal (the reference drops it).
    pub include_diagonal: bool,
}

impl Default for ResidualSupport {
    fn default() -> Self {
        Self {
            skip_first_frame: true,
            include_diagonal: false,
        }
    }
}

/// The physics part of a fit's start: values, which vary, bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct PhysicsStart {
    /// Initial values (fixed parameters keep them).
    pub values: PhysicsParams,
    /// Whether each of the 14 parameters varies.
    pub vary: [bool; N_PHYSICS],
    /// Lower bounds.
    pub lo: [f64; N_PHYSICS],
    /// Upper bounds.
    pub hi: [f64; N_PHYSICS],
}

impl PhysicsStart {
    /// Registry bounds, all varying.
    pub fn registry(values: PhysicsParams) -> Self {
        Self {
            values,
            vary: [true; N_PHYSICS],
            lo: PHYSICS.map(|s| s.min),
            hi: PHYSICS.map(|s| s.max),
        }
    }
}

/// One row of packed cells: angle, row index, column range, offset into the packed data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowSpan {
    pub angle: usize,
    pub i: usize,
    pub j_start: usize,
    pub j_end: usize,
    pub offset: usize,
}

/// Everything a fit evaluates, fixed for its duration.
#[derive(Debug, Clone)]
pub struct FitProblem {
    pub(crate) model: HeterodyneModel,
    pub(crate) rows: Vec<RowSpan>,
    /// Packed weighted-mean data d̃.
    pub(crate) data: Vec<f64>,
    /// Packed weights W; `None` for unit cell weights (W = 2 off the diagonal, 1 on it).
    pub(crate) weight: Option<Vec<f64>>,
    /// Σ of the asymmetry constants per angle.
    pub(crate) constant: Vec<f64>,
    /// Residual count per angle, both triangles (the reference's n).
    pub(crate) n_residuals: Vec<usize>,
    /// Far-lag variance of each angle's data (the reference's χ² normalisation).
    pub(crate) far_lag_var: Vec<f64>,
    pub(crate) physics: PhysicsStart,
    pub(crate) vary_idx: Vec<usize>,
    pub(crate) scaling: ScalingLayout,
}

impl FitProblem {
    /// Packs `c2` (`[phi][n][n]`, diagonal-corrected) with optional cell `weights` (same
    /// shape, ≥ 0) on `support`.
    pub fn new(
        model: HeterodyneModel,
        c2: &[f64],
        weights: Option<&[f64]>,
        support: ResidualSupport,
        physics: PhysicsStart,
        scaling: ScalingLayout,
    ) -> Result<Self> {
        let n = model.grid().n;
        let n_phi = model.phi().len();
        if c2.len() != n_phi * n * n {
            return Err(Error::Shape {
                what: "c2 data".into(),
                expected: n_phi * n * n,
                actual: c2.len(),
            });
        }
        if let Some(w) = weights {
            if w.len() != c2.len() {
                return Err(Error::Shape {
                    what: "weights".into(),
                    expected: c2.len(),
                    actual: w.len(),
                });
            }
            if let Some(bad) = w.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
                return Err(Error::invalid(
                    "weights",
                    format!("must be finite and ≥ 0, found {bad}"),
                ));
            }
        }
        if let Some(pos) = c2.iter().position(|v| !v.is_finite()) {
            let (a, rest) = (pos / (n * n), pos % (n * n));
            return Err(Error::invalid(
                "c2",
                format!(
                    "non-finite value {} at angle {a}, ({}, {})",
                    c2[pos],
                    rest / n,
                    rest % n
                ),
            ));
        }
        for (k, spec) in PHYSICS.iter().enumerate() {
            let (lo, hi, v) = (physics.lo[k], physics.hi[k], physics.values.to_array()[k]);
            if lo.is_nan() || hi.is_nan() || lo >= hi {
                return Err(Error::invalid(
                    spec.name,
                    format!("bounds [{lo}, {hi}] are inverted"),
                ));
            }
            if physics.vary[k] && !(lo..=hi).contains(&v) {
                return Err(Error::invalid(
                    spec.name,
                    format!("initial value {v} is outside its bounds [{lo}, {hi}]"),
                ));
            }
        }
        let first = usize::from(support.skip_first_frame);
        let mut rows = Vec::new();
        let mut data = Vec::new();
        let mut weight = weights.map(|_| Vec::new());
        let mut constant = vec![0.0; n_phi];
        let mut n_residuals = vec![0; n_phi];
        for a in 0..n_phi {
            let m = &c2[a * n * n..(a + 1) * n * n];
            let w = weights.map(|w| &w[a * n * n..(a + 1) * n * n]);
            for i in first..n {
                let j_start = if support.include_diagonal { i } else { i + 1 };
                if j_start >= n {
                    continue;
                }
                rows.push(RowSpan {
                    angle: a,
                    i,
                    j_start,
                    j_end: n,
                    offset: data.len(),
                });
                for j in j_start..n {
                    let (dij, dji) = (m[i * n + j], m[j * n + i]);
                    n_residuals[a] += if i == j { 1 } else { 2 };
                    match (w, weight.as_mut()) {
                        (Some(w), Some(ws)) if i != j => {
                            let (wij, wji) = (w[i * n + j], w[j * n + i]);
                            let big_w = wij + wji;
                            if big_w > 0.0 {
                                data.push((wij * dij + wji * dji) / big_w);
                                constant[a] += wij * wji * (dij - dji).powi(2) / big_w;
                            } else {
                                data.push(0.5 * (dij + dji));
                            }
                            ws.push(big_w);
                        }
                        (Some(w), Some(ws)) => {
                            data.push(dij);
                            ws.push(w[i * n + i]);
                        }
                        _ => {
                            data.push(0.5 * (dij + dji));
                            constant[a] += 0.5 * (dij - dji).powi(2);
                        }
                    }
                }
            }
        }
        if data.is_empty() {
            return Err(Error::invalid(
                "c2",
                format!("{n} frames leave no cell on the residual support"),
            ));
        }
        let far_lag_var = (0..n_phi)
            .map(|a| far_lag_variance(&c2[a * n * n..(a + 1) * n * n], n))
            .collect();
        let vary_idx = (0..N_PHYSICS).filter(|&k| physics.vary[k]).collect();
        Ok(Self {
            model,
            rows,
            data,
            weight,
            constant,
            n_residuals,
            far_lag_var,
            physics,
            vary_idx,
            scaling,
        })
    }

    /// Length of the optimiser vector.
    pub fn n_params(&self) -> usize {
        self.vary_idx.len() + self.scaling.len()
    }

    /// Number of packed (independent) cells on this problem's rows.
    pub fn n_cells(&self) -> usize {
        self.rows.iter().map(|r| r.j_end - r.j_start).sum()
    }

    /// Number of matrix rows (the unit of sharding).
    pub fn n_rows(&self) -> usize {
        self.rows.len()
    }

    /// The same problem on a subset of its rows (indices into the row list, in order),
    /// for a shard of Consensus Monte Carlo.
    pub fn with_rows(&self, keep: &[usize]) -> Result<Self> {
        let rows: Vec<RowSpan> = keep
            .iter()
            .map(|&k| {
                self.rows.get(k).copied().ok_or_else(|| {
                    Error::invalid(
                        "shard",
                        format!("row {k} of {} does not exist", self.rows.len()),
                    )
                })
            })
            .collect::<Result<_>>()?;
        if rows.is_empty() {
            return Err(Error::invalid("shard", "holds no cell"));
        }
        let n_phi = self.model.phi().len();
        let mut n_residuals = vec![0; n_phi];
        for r in &rows {
            let diag = usize::from(r.j_start == r.i);
            n_residuals[r.angle] += 2 * (r.j_end - r.j_start) - diag;
        }
        Ok(Self {
            rows,
            n_residuals,
            // The asymmetry constant only shifts χ²; a shard carries none.
            constant: vec![0.0; n_phi],
            ..self.clone()
        })
    }

    /// Robust spread of the data on this problem's cells: 1.4826 × their median absolute
    /// deviation, at least 1e-6 (the reference's `noise_scale`, which sets the scale of the
    /// half-normal prior on a sampled σ).
    pub fn data_scale(&self) -> f64 {
        let mut v: Vec<f64> = self
            .rows
            .iter()
            .flat_map(|r| &self.data[r.offset..r.offset + (r.j_end - r.j_start)])
            .copied()
            .collect();
        if v.is_empty() {
            return 1e-6;
        }
        let median = |v: &mut [f64]| {
            v.sort_by(f64::total_cmp);
            let m = v.len() / 2;
            if v.len().is_multiple_of(2) {
                0.5 * (v[m - 1] + v[m])
            } else {
                v[m]
            }
        };
        let m = median(&mut v);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
        (1.4826 * median(&mut dev)).max(1e-6)
    }

    /// Residual count, both triangles, all angles.
    pub fn n_residuals(&self) -> usize {
        self.n_residuals.iter().sum()
    }

    /// The model.
    pub fn model(&self) -> &HeterodyneModel {
        &self.model
    }

    /// Weight of packed cell `c` in row `row` at column `j`.
    #[inline]
    pub(crate) fn weight_of(&self, row: &RowSpan, j: usize, c: usize) -> f64 {
        match &self.weight {
            Some(w) => w[c],
            None if j == row.i => 1.0,
            None => 2.0,
        }
    }

    /// Initial optimiser vector and bounds.
    pub fn start(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let v = self.physics.values.to_array();
        let mut x: Vec<f64> = self.vary_idx.iter().map(|&k| v[k]).collect();
        let mut lo: Vec<f64> = self.vary_idx.iter().map(|&k| self.physics.lo[k]).collect();
        let mut hi: Vec<f64> = self.vary_idx.iter().map(|&k| self.physics.hi[k]).collect();
        x.extend(&self.scaling.init);
        lo.extend(&self.scaling.lo);
        hi.extend(&self.scaling.hi);
        (x, lo, hi)
    }

    /// Names of the optimiser vector's entries.
    pub fn param_names(&self) -> Vec<String> {
        self.vary_idx
            .iter()
            .map(|&k| PHYSICS[k].name.to_string())
            .chain(self.scaling.names.iter().cloned())
            .collect()
    }

    /// Model parameters for optimiser vector `x`.
    pub fn unpack(&self, x: &[f64]) -> (PhysicsParams, Scaling) {
        let mut v = self.physics.values.to_array();
        for (p, &k) in self.vary_idx.iter().enumerate() {
            v[k] = x[p];
        }
        let (contrast, offset) = self.scaling.values(&x[self.vary_idx.len()..]);
        (PhysicsParams::from_array(v), Scaling { contrast, offset })
    }
}

/// The reference's far-lag variance: numpy `var` (ddof 0) of all cells with
/// |i − j| ≥ n/2 (integer division), both triangles.
fn far_lag_variance(m: &[f64], n: usize) -> f64 {
    let half = n / 2;
    let vals: Vec<f64> = (0..n * n)
        .filter(|&e| (e / n).abs_diff(e % n) >= half)
        .map(|e| m[e])
        .collect();
    if vals.is_empty() {
        return 0.0;
    }
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64
}

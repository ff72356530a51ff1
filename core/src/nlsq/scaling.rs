//! Per-angle contrast and offset in a fit (spec fitting.md §1.3). Every mode is a linear
//! map from free coefficients θ to per-angle values,
//! `contrast_a = fixed_a + Σ_m B[a][m]·θ_m` (and the same for offset), so the Jacobian
//! of a scaling coefficient is the element's ∂c2/∂contrast times `B[a][m]`.

use serde::{Deserialize, Serialize};

use crate::data::quantile::{contrast_offset_5_95, contrast_offset_from_quantiles};
use crate::model::params::SCALING;

/// How contrast and offset vary across angles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PerAngleMode {
    /// The reference's rule: `averaged` for n_φ ≥ `constant_scaling_threshold`, else
    /// `individual`.
    #[default]
    Auto,
    /// One shared (contrast, offset) pair, fitted, started from the mean of per-angle
    /// quantile estimates.
    Averaged,
    /// Per-angle pairs held at their 5 %/95 % quantile estimates (the reference's
    /// "constant" mode).
    Constant,
    /// Each angle's pair fitted, started from its quantile estimate.
    Individual,
    /// Contrast and offset as Fourier series in φ of order `fourier_order`.
    Fourier,
    /// Held at the config values (`parameters.scaling`).
    Fixed,
}

impl PerAngleMode {
    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            PerAngleMode::Auto => "auto",
            PerAngleMode::Averaged => "averaged",
            PerAngleMode::Constant => "constant",
            PerAngleMode::Individual => "individual",
            PerAngleMode::Fourier => "fourier",
            PerAngleMode::Fixed => "fixed",
        }
    }
}

/// The free scaling coefficients of a fit and their map to per-angle values.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingLayout {
    /// The mode actually used (never `Auto`).
    pub mode: PerAngleMode,
    /// Fixed part of each angle's contrast.
    pub contrast_fixed: Vec<f64>,
    /// Fixed part of each angle's offset.
    pub offset_fixed: Vec<f64>,
    /// Contrast map, `[angle][coefficient]`.
    pub b_contrast: Vec<Vec<f64>>,
    /// Offset map, `[angle][coefficient]`.
    pub b_offset: Vec<Vec<f64>>,
    /// Names of the coefficients, contrast ones first.
    pub names: Vec<String>,
    /// Initial values.
    pub init: Vec<f64>,
    /// Lower bounds.
    pub lo: Vec<f64>,
    /// Upper bounds.
    pub hi: Vec<f64>,
    /// Remarks (e.g. a Fourier order too high for the angle count).
    pub notes: Vec<String>,
}

/// What the layout needs to know about the data and the config.
#[derive(Debug, Clone)]
pub struct ScalingInputs<'a> {
    /// Detector angles, degrees.
    pub phi: &'a [f64],
    /// Data `[phi][n][n]` after diagonal correction (for the quantile estimates).
    pub c2: &'a [f64],
    /// Matrix size.
    pub n: usize,
    /// Model grid times (lags for the quantile estimate).
    pub t: &'a [f64],
    /// Config contrast (for `fixed`).
    pub contrast: f64,
    /// Config offset (for `fixed`).
    pub offset: f64,
    /// Fourier order K.
    pub fourier_order: usize,
    /// `auto` switches to `averaged` at this many angles.
    pub constant_scaling_threshold: usize,
}

impl ScalingLayout {
    /// Number of free coefficients.
    pub fn len(&self) -> usize {
        self.init.len()
    }

    /// Whether nothing is fitted.
    pub fn is_empty(&self) -> bool {
        self.init.is_empty()
    }

    /// Number of contrast coefficients (they come first).
    pub fn n_contrast(&self) -> usize {
        self.b_contrast.first().map_or(0, Vec::len)
    }

    /// Per-angle (contrast, offset) for coefficients `theta`.
    pub fn values(&self, theta: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let nc = self.n_contrast();
        let dot = |b: &[f64], th: &[f64]| b.iter().zip(th).map(|(b, t)| b * t).sum::<f64>();
        let contrast = (0..self.contrast_fixed.len())
            .map(|a| self.contrast_fixed[a] + dot(&self.b_contrast[a], &theta[..nc]))
            .collect();
        let offset = (0..self.offset_fixed.len())
            .map(|a| self.offset_fixed[a] + dot(&self.b_offset[a], &theta[nc..]))
            .collect();
        (contrast, offset)
    }

    /// Builds the layout for `mode`.
    pub fn new(mode: PerAngleMode, inp: &ScalingInputs<'_>) -> Self {
        let n_phi = inp.phi.len();
        let mut notes = Vec::new();
        let mut mode = match mode {
            PerAngleMode::Auto if n_phi >= inp.constant_scaling_threshold.max(1) => {
                PerAngleMode::Averaged
            }
            PerAngleMode::Auto => PerAngleMode::Individual,
            m => m,
        };
        let k = inp.fourier_order;
        if mode == PerAngleMode::Fourier && n_phi < 1 + 2 * k {
            notes.push(format!(
                "per_angle_mode fourier of order {k} needs ≥ {} angles, {n_phi} given: using individual",
                1 + 2 * k
            ));
            mode = PerAngleMode::Individual;
        }
        let nn = inp.n * inp.n;
        let quantile: Vec<(f64, f64)> = (0..n_phi)
            .map(|a| contrast_offset_from_quantiles(&inp.c2[a * nn..(a + 1) * nn], inp.n, inp.t))
            .collect();
        let (c_lo, c_hi) = (SCALING[0].min, SCALING[0].max);
        let (o_lo, o_hi) = (SCALING[1].min, SCALING[1].max);
        let zeros = vec![0.0; n_phi];
        let mut layout = Self {
            mode,
            contrast_fixed: zeros.clone(),
            offset_fixed: zeros,
            b_contrast: vec![Vec::new(); n_phi],
            b_offset: vec![Vec::new(); n_phi],
            names: Vec::new(),
            init: Vec::new(),
            lo: Vec::new(),
            hi: Vec::new(),
            notes,
        };
        match mode {
            PerAngleMode::Auto => unreachable!("resolved above"),
            PerAngleMode::Fixed => {
                layout.contrast_fixed = vec![inp.contrast; n_phi];
                layout.offset_fixed = vec![inp.offset; n_phi];
            }
            PerAngleMode::Constant => {
                for a in 0..n_phi {
                    let (c, o) = contrast_offset_5_95(&inp.c2[a * nn..(a + 1) * nn]);
                    layout.contrast_fixed[a] = c;
                    layout.offset_fixed[a] = o;
                }
            }
            PerAngleMode::Averaged => {
                let mean =
                    |f: fn(&(f64, f64)) -> f64| quantile.iter().map(f).sum::<f64>() / n_phi as f64;
                layout.b_contrast = vec![vec![1.0]; n_phi];
                layout.b_offset = vec![vec![1.0]; n_phi];
                layout.names = vec!["contrast".into(), "offset".into()];
                layout.init = vec![mean(|q| q.0), mean(|q| q.1)];
                layout.lo = vec![c_lo, o_lo];
                layout.hi = vec![c_hi, o_hi];
            }
            PerAngleMode::Individual => {
                for a in 0..n_phi {
                    let mut row = vec![0.0; n_phi];
                    row[a] = 1.0;
                    layout.b_contrast[a] = row.clone();
                    layout.b_offset[a] = row;
                }
                layout.names = (0..n_phi)
                    .map(|a| format!("contrast[{a}]"))
                    .chain((0..n_phi).map(|a| format!("offset[{a}]")))
                    .collect();
                layout.init = quantile
                    .iter()
                    .map(|q| q.0)
                    .chain(quantile.iter().map(|q| q.1))
                    .collect();
                layout.lo = [vec![c_lo; n_phi], vec![o_lo; n_phi]].concat();
                layout.hi = [vec![c_hi; n_phi], vec![o_hi; n_phi]].concat();
            }
            PerAngleMode::Fourier => {
                let basis = |phi_deg: f64| {
                    let p = phi_deg.to_radians();
                    let mut b = vec![1.0];
                    for m in 1..=k {
                        b.push((m as f64 * p).cos());
                        b.push((m as f64 * p).sin());
                    }
                    b
                };
                for a in 0..n_phi {
                    layout.b_contrast[a] = basis(inp.phi[a]);
                    layout.b_offset[a] = basis(inp.phi[a]);
                }
                let mean_c = quantile.iter().map(|q| q.0).sum::<f64>() / n_phi as f64;
                let mean_o = quantile.iter().map(|q| q.1).sum::<f64>() / n_phi as f64;
                for (which, mean, base_lo, base_hi, amp) in [
                    ("contrast", mean_c, 0.01, 1.0, 0.2),
                    ("offset", mean_o, o_lo, o_hi, 0.3),
                ] {
                    layout.names.push(format!("{which}_c0"));
                    layout.init.push(mean);
                    layout.lo.push(base_lo);
                    layout.hi.push(base_hi);
                    for m in 1..=k {
                        for trig in ["cos", "sin"] {
                            layout.names.push(format!("{which}_{trig}{m}"));
                            layout.init.push(0.0);
                            layout.lo.push(-amp);
                            layout.hi.push(amp);
                        }
                    }
                }
            }
        }
        for ((x, lo), hi) in layout.init.iter_mut().zip(&layout.lo).zip(&layout.hi) {
            *x = x.clamp(*lo, *hi);
        }
        layout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(phi: &'a [f64], c2: &'a [f64], t: &'a [f64]) -> ScalingInputs<'a> {
        ScalingInputs {
            phi,
            c2,
            n: t.len(),
            t,
            contrast: 0.3,
            offset: 1.1,
            fourier_order: 1,
            constant_scaling_threshold: 3,
        }
    }

    #[test]
    fn every_mode_maps_coefficients_to_angles() {
        let t: Vec<f64> = (1..=12).map(f64::from).collect();
        let phi = [0.0, 60.0, 120.0];
        let c2: Vec<f64> = (0..3 * 144)
            .map(|e| 1.0 + 0.1 * ((e % 7) as f64) / 7.0)
            .collect();
        let inp = inputs(&phi, &c2, &t);
        let auto = ScalingLayout::new(PerAngleMode::Auto, &inp);
        assert_eq!(auto.mode, PerAngleMode::Averaged);
        assert_eq!(auto.values(&[0.2, 1.0]), (vec![0.2; 3], vec![1.0; 3]));
        let two = ScalingLayout::new(PerAngleMode::Auto, &inputs(&phi[..2], &c2[..288], &t));
        assert_eq!(two.mode, PerAngleMode::Individual);
        assert_eq!(
            two.values(&[0.1, 0.2, 0.9, 1.1]),
            (vec![0.1, 0.2], vec![0.9, 1.1])
        );
        let fixed = ScalingLayout::new(PerAngleMode::Fixed, &inp);
        assert!(fixed.is_empty());
        assert_eq!(fixed.values(&[]), (vec![0.3; 3], vec![1.1; 3]));
        let f = ScalingLayout::new(PerAngleMode::Fourier, &inp);
        assert_eq!(f.len(), 6);
        let (c, _) = f.values(&[0.2, 0.1, 0.0, 1.0, 0.0, 0.0]);
        assert!((c[1] - (0.2 + 0.1 * 0.5)).abs() < 1e-12);
        let high = ScalingLayout::new(
            PerAngleMode::Fourier,
            &ScalingInputs {
                fourier_order: 2,
                ..inp
            },
        );
        assert_eq!(high.mode, PerAngleMode::Individual);
        assert_eq!(high.notes.len(), 1);
    }
}

//! The sampler's coordinates: a bijection from ℝⁿ onto the box of fitted quantities, with
//! its log-Jacobian and exact derivatives.
//!
//! Every quantity not in a ridge pair is mapped through the logistic function onto its
//! bounds. A *ridge pair* (target `a`, partner `y`, slope `k`) is sampled as
//! `L = ln a + k·y` and `y`, so that `a = exp(L − k·y)`: when the data only identify
//! `a·e^{k·y}`, `L` is the identified combination and `y` moves along the ridge with `L`
//! fixed — a straight line instead of an exponential curve. Two pairs of this model:
//!
//! - the sample fraction `f0·e^{f1(t−f2)}` identifies `f0·e^{−f1·f2}` (an exact ridge):
//!   `L = ln f0 − f1·f2`, partner `f2`, slope `−f1` (a sampled quantity when `f1` varies);
//! - a power law `A0·t^α` is best identified at a reference time `t_ref`:
//!   `L = ln A0 + α·ln t_ref`, partner `α`, constant slope `ln t_ref` (for `D0_ref`,
//!   `D0_sample`, `v0`).
//!
//! Both `L` and `y` keep the original box: `L` is mapped onto its attainable range (or
//! sampled as itself when `a`'s lower bound is 0, see [`Transform::forward`]) and `y` onto
//! the part of its bounds that keeps `a` inside its own.

use crate::error::{Error, Result};

use super::dual::{Dual, logistic};

/// The slope `k` of a ridge pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slope {
    /// `k = sign·x[index]` (another sampled quantity).
    Quantity {
        /// Index of the quantity.
        index: usize,
        /// Sign applied to it.
        sign: f64,
    },
    /// A constant.
    Const(f64),
}

/// A pair sampled as (`L = ln x[target] + k·x[partner]`, `x[partner]`).
#[derive(Debug, Clone, PartialEq)]
pub struct RidgePair {
    /// Index of the exponentiated quantity `a` (its lower bound ≥ 0).
    pub target: usize,
    /// Index of the partner `y`.
    pub partner: usize,
    /// The slope.
    pub slope: Slope,
    /// What `L` is, for messages and outputs (e.g. `ln(f0·exp(−f1·f2))`).
    pub label: String,
}

/// The coordinate map of a posterior.
#[derive(Debug, Clone, PartialEq)]
pub struct Transform {
    lo: Vec<f64>,
    hi: Vec<f64>,
    pairs: Vec<RidgePair>,
    /// Whether each index belongs to a pair.
    paired: Vec<bool>,
}

/// The image of a point, with what the gradient needs.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// The quantities.
    pub x: Vec<f64>,
    /// ln |∂x/∂u|.
    pub log_jac: f64,
    /// ∂ ln|∂x/∂u| / ∂u.
    pub grad_log_jac: Vec<f64>,
    /// Nonzero entries of ∂x/∂u, `(row i, column j, value)`.
    entries: Vec<(usize, usize, f64)>,
}

impl Mapped {
    /// `(∂x/∂u)ᵀ g` for a gradient `g` with respect to x.
    pub fn pullback(&self, g: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.x.len()];
        for &(i, j, v) in &self.entries {
            out[j] += g[i] * v;
        }
        out
    }
}

/// Maps `u` onto `[a, b]` (either end may be infinite): the value and ln |dx/du|.
fn to_interval(u: Dual, a: Dual, b: Dual) -> (Dual, Dual) {
    match (a.v.is_finite(), b.v.is_finite()) {
        (true, true) => {
            // ln σ(u) = −softplus(−u), ln(1 − σ(u)) = −softplus(u).
            let x = a + (b - a) * u.logistic();
            let lj = (b - a).ln() - (-u).softplus() - u.softplus();
            (x, lj)
        }
        (true, false) => (a + u.exp(), u),
        (false, true) => (b - (-u).exp(), -u),
        (false, false) => (u, Dual::constant(0.0)),
    }
}

/// The inverse of [`to_interval`], pulling `x` strictly inside.
fn from_interval(x: f64, a: f64, b: f64) -> f64 {
    match (a.is_finite(), b.is_finite()) {
        (true, true) => {
            let s = ((x - a) / (b - a)).clamp(1e-9, 1.0 - 1e-9);
            (s / (1.0 - s)).ln()
        }
        (true, false) => (x - a).max(1e-300).ln(),
        (false, true) => -(b - x).max(1e-300).ln(),
        (false, false) => x,
    }
}

impl Transform {
    /// Logistic maps onto `[lo, hi]` for every quantity, plus `pairs`.
    pub fn new(lo: Vec<f64>, hi: Vec<f64>, pairs: Vec<RidgePair>) -> Result<Self> {
        let n = lo.len();
        let mut paired = vec![false; n];
        for p in &pairs {
            let slope_ok = match p.slope {
                Slope::Quantity { index, .. } => index < n && !paired[index],
                Slope::Const(c) => c.is_finite(),
            };
            let ok = p.target < n
                && p.partner < n
                && p.target != p.partner
                && !paired[p.target]
                && !paired[p.partner]
                && slope_ok
                && lo[p.target] >= 0.0
                && hi[p.target] > 0.0;
            if !ok {
                return Err(Error::invalid(
                    "reparameterization",
                    format!("cannot sample {} (indices or bounds unusable)", p.label),
                ));
            }
            paired[p.target] = true;
            paired[p.partner] = true;
        }
        for p in &pairs {
            if let Slope::Quantity { index, .. } = p.slope
                && paired[index]
            {
                return Err(Error::invalid(
                    "reparameterization",
                    format!("the slope of {} is itself in a pair", p.label),
                ));
            }
        }
        Ok(Self {
            lo,
            hi,
            pairs,
            paired,
        })
    }

    /// The ridge pairs.
    pub fn pairs(&self) -> &[RidgePair] {
        &self.pairs
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.lo.len()
    }

    fn boxed(&self, k: usize, u: f64) -> (f64, f64, f64, f64) {
        // (x, dx/du, ln dx/du, ∂ ln(dx/du)/∂u)
        let s = logistic(u);
        let w = self.hi[k] - self.lo[k];
        let ln_s = -(-Dual::constant(u)).softplus().v;
        let ln_1ms = -Dual::constant(u).softplus().v;
        (
            self.lo[k] + w * s,
            w * s * (1.0 - s),
            w.ln() + ln_s + ln_1ms,
            1.0 - 2.0 * s,
        )
    }

    fn slope(&self, p: &RidgePair, u: &[f64]) -> Dual {
        match p.slope {
            Slope::Const(c) => Dual::constant(c),
            Slope::Quantity { index, sign } => {
                let (x, dx, _, _) = self.boxed(index, u[index]);
                Dual {
                    v: sign * x,
                    d: [0.0, 0.0, sign * dx],
                }
            }
        }
    }

    /// The attainable range of `L = ln a + k·y` over the box.
    fn l_range(&self, p: &RidgePair, k: Dual) -> (Dual, Dual) {
        let (la, ha) = (self.lo[p.target].ln(), self.hi[p.target].ln());
        let k1 = k * Dual::constant(self.lo[p.partner]);
        let k2 = k * Dual::constant(self.hi[p.partner]);
        let lo = if la.is_finite() {
            Dual::constant(la) + k1.min(k2)
        } else {
            Dual::constant(f64::NEG_INFINITY)
        };
        (lo, Dual::constant(ha) + k1.max(k2))
    }

    /// The range of `y` that keeps `ln a = L − k·y` inside `a`'s bounds.
    fn y_range(&self, p: &RidgePair, l: Dual, k: Dual) -> (Dual, Dual) {
        let (la, ha) = (self.lo[p.target].ln(), self.hi[p.target].ln());
        let mut a = Dual::constant(self.lo[p.partner]);
        let mut b = Dual::constant(self.hi[p.partner]);
        if k.v != 0.0 {
            let at_ha = (l - Dual::constant(ha)) / k;
            let at_la = la.is_finite().then(|| (l - Dual::constant(la)) / k);
            if k.v > 0.0 {
                a = a.max(at_ha);
                if let Some(v) = at_la {
                    b = b.min(v);
                }
            } else {
                b = b.min(at_ha);
                if let Some(v) = at_la {
                    a = a.max(v);
                }
            }
        }
        (a, b)
    }

    /// Quantities of `u`, with the log-Jacobian and its derivatives.
    pub fn forward(&self, u: &[f64]) -> Mapped {
        let n = self.dim();
        let mut x = vec![0.0; n];
        let mut grad = vec![0.0; n];
        let mut log_jac = 0.0;
        let mut entries = Vec::with_capacity(n + 4 * self.pairs.len());
        for k in (0..n).filter(|&k| !self.paired[k]) {
            let (v, dv, lj, glj) = self.boxed(k, u[k]);
            x[k] = v;
            log_jac += lj;
            grad[k] += glj;
            entries.push((k, k, dv));
        }
        for p in &self.pairs {
            let k = self.slope(p, u);
            let (l_lo, l_hi) = self.l_range(p, k);
            let u_l = Dual::input(u[p.target], 0);
            let (l, lj_l) = if l_lo.v.is_finite() {
                to_interval(u_l, l_lo, l_hi)
            } else {
                // `a`'s lower bound is 0: L is sampled as itself. Its upper end moves with
                // the slope (e.g. 10⁴·|f1| for the fraction), and tying L's coordinate
                // to it would couple the two tightly; it lies far beyond the posterior,
                // and a step across it is rejected (not finite) like any divergence.
                let lj = if u_l.v <= l_hi.v { 0.0 } else { f64::NAN };
                (u_l, Dual::constant(lj))
            };
            let (y_lo, y_hi) = self.y_range(p, l, k);
            let (y, lj_y) = to_interval(Dual::input(u[p.partner], 1), y_lo, y_hi);
            // a = exp(L − k·y); ln|J| gains ln a.
            let ln_a = l - k * y;
            let a = ln_a.exp();
            let lj = lj_l + lj_y + ln_a;
            x[p.target] = a.v;
            x[p.partner] = y.v;
            log_jac += lj.v;
            let cols = [
                Some(p.target),
                Some(p.partner),
                match p.slope {
                    Slope::Quantity { index, .. } => Some(index),
                    Slope::Const(_) => None,
                },
            ];
            for (slot, col) in cols.iter().enumerate() {
                if let Some(j) = *col {
                    grad[j] += lj.d[slot];
                    entries.push((p.target, j, a.d[slot]));
                    entries.push((p.partner, j, y.d[slot]));
                }
            }
        }
        Mapped {
            x,
            log_jac,
            grad_log_jac: grad,
            entries,
        }
    }

    /// Coordinates of `x` (pulled strictly inside the box).
    pub fn inverse(&self, x: &[f64]) -> Vec<f64> {
        let n = self.dim();
        let mut u = vec![0.0; n];
        for k in (0..n).filter(|&k| !self.paired[k]) {
            u[k] = from_interval(x[k], self.lo[k], self.hi[k]);
        }
        for p in &self.pairs {
            // The slope's coordinate is already set (it is never in a pair).
            let k = self.slope(p, &u).v;
            let xt = x[p.target].max(self.lo[p.target]).max(1e-300);
            let y = x[p.partner];
            let l = xt.ln() + k * y;
            let (l_lo, l_hi) = self.l_range(p, Dual::constant(k));
            u[p.target] = if l_lo.v.is_finite() {
                from_interval(l, l_lo.v, l_hi.v)
            } else {
                l.min(l_hi.v)
            };
            let (a, b) = self.y_range(p, Dual::constant(l), Dual::constant(k));
            u[p.partner] = from_interval(y, a.v, b.v);
        }
        u
    }

    /// The identified combination `L` of each pair at `x`.
    pub fn combinations(&self, x: &[f64]) -> Vec<f64> {
        let u = self.inverse(x);
        self.pairs
            .iter()
            .map(|p| x[p.target].ln() + self.slope(p, &u).v * x[p.partner])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transform() -> Transform {
        // 0: f0 in [0, 1], 1: f1 in [−10, 10], 2: f2 in [−1e4, 1e4], 3: D0 in [100, 1e6],
        // 4: alpha in [−5, 5], 5: plain.
        Transform::new(
            vec![0.0, -10.0, -1e4, 100.0, -5.0, -1.0],
            vec![1.0, 10.0, 1e4, 1e6, 5.0, 2.0],
            vec![
                RidgePair {
                    target: 0,
                    partner: 2,
                    slope: Slope::Quantity {
                        index: 1,
                        sign: -1.0,
                    },
                    label: "ln(f0·exp(−f1·f2))".into(),
                },
                RidgePair {
                    target: 3,
                    partner: 4,
                    slope: Slope::Const(1.7),
                    label: "ln(D0·t_ref^alpha)".into(),
                },
            ],
        )
        .expect("transform")
    }

    #[test]
    fn inverse_round_trips_and_stays_in_the_box() {
        let t = transform();
        for x in [
            vec![0.4, 0.02, 25.0, 500.0, 0.1, 0.3],
            vec![0.9, -0.5, -30.0, 2e5, -2.0, 1.9],
            vec![0.05, 0.0, 100.0, 150.0, 4.0, -0.9],
        ] {
            let u = t.inverse(&x);
            let back = t.forward(&u).x;
            for (a, b) in x.iter().zip(&back) {
                assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{x:?} → {back:?}");
            }
        }
        for seed in 0..200u64 {
            let u: Vec<f64> = (0..6)
                .map(|k| ((seed * 7 + k * 13) % 23) as f64 - 11.0)
                .collect();
            let m = t.forward(&u);
            if m.log_jac.is_nan() {
                // Beyond the attainable L of a pair whose target may reach 0: rejected.
                continue;
            }
            let x = m.x;
            let (lo, hi) = (&t.lo, &t.hi);
            for k in 0..6 {
                assert!(
                    x[k] >= lo[k] - 1e-9 * lo[k].abs() && x[k] <= hi[k] * (1.0 + 1e-12),
                    "{u:?} → {x:?}"
                );
            }
        }
    }

    #[test]
    fn derivatives_match_differences() {
        let t = transform();
        let u0 = t.inverse(&[0.4, 0.02, 25.0, 500.0, 0.1, 0.3]);
        let m = t.forward(&u0);
        // A fixed linear functional of x, to test the pullback, and ln|J| itself.
        let g = [1.0, -2.0, 1e-3, 1e-3, 0.5, 3.0];
        let f = |u: &[f64]| {
            let m = t.forward(u);
            let lin: f64 = m.x.iter().zip(&g).map(|(a, b)| a * b).sum();
            (lin, m.log_jac)
        };
        let pull = m.pullback(&g);
        for j in 0..6 {
            let h = 1e-6;
            let mut up = u0.clone();
            let mut dn = u0.clone();
            up[j] += h;
            dn[j] -= h;
            let (lp, jp) = f(&up);
            let (ln, jn) = f(&dn);
            let d_lin = (lp - ln) / (2.0 * h);
            let d_jac = (jp - jn) / (2.0 * h);
            assert!(
                (pull[j] - d_lin).abs() <= 1e-6 * d_lin.abs().max(1.0),
                "pullback {j}: {} vs {d_lin}",
                pull[j]
            );
            assert!(
                (m.grad_log_jac[j] - d_jac).abs() <= 1e-6 * d_jac.abs().max(1.0),
                "log-Jacobian {j}: {} vs {d_jac}",
                m.grad_log_jac[j]
            );
        }
    }

    #[test]
    fn log_jacobian_is_the_determinant() {
        // Dense ∂x/∂u by differences, its log-determinant vs the analytic one.
        let t = transform();
        let u0 = t.inverse(&[0.4, 0.02, 25.0, 500.0, 0.1, 0.3]);
        let n = 6;
        let h = 1e-6;
        let mut jac = vec![vec![0.0; n]; n];
        for j in 0..n {
            let mut up = u0.clone();
            let mut dn = u0.clone();
            up[j] += h;
            dn[j] -= h;
            let (a, b) = (t.forward(&up).x, t.forward(&dn).x);
            for i in 0..n {
                jac[i][j] = (a[i] - b[i]) / (2.0 * h);
            }
        }
        let m = nalgebra::DMatrix::from_fn(n, n, |i, j| jac[i][j]);
        let det = m.determinant().abs().ln();
        let analytic = t.forward(&u0).log_jac;
        assert!((det - analytic).abs() < 1e-5, "{det} vs {analytic}");
    }

    #[test]
    fn bad_pairs_are_refused() {
        let pair = |target, partner| RidgePair {
            target,
            partner,
            slope: Slope::Const(1.0),
            label: "x".into(),
        };
        assert!(Transform::new(vec![-1.0, 0.0], vec![1.0, 1.0], vec![pair(0, 1)]).is_err());
        assert!(Transform::new(vec![0.0, 0.0], vec![1.0, 1.0], vec![pair(0, 0)]).is_err());
        assert!(Transform::new(vec![0.0, 0.0], vec![1.0, 1.0], vec![pair(0, 5)]).is_err());
    }
}

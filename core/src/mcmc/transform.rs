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
    triples: Vec<RateTriple>,
    fraction: Option<FractionBlock>,
    /// Whether each index belongs to a pair, a triple or the fraction block.
    paired: Vec<bool>,
}

/// The sample fraction's raw value `f0·e^{f1(t−f2)} + f3 = A·e^{f1·t} + f3` with
/// `A = f0·e^{−f1·f2}`, sampled as [`RateTriple`] samples a rate (value `V` and slope `S`
/// of `A·e^{f1·t} + f3` at t_ref, and `ln A`), plus f2 along the exact f0–f2 ridge mapped
/// onto the range that keeps f0 in its bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct FractionBlock {
    /// Indices of f0, f1, f2, f3.
    pub f: [usize; 4],
    /// Reference time t_ref, s.
    pub t_ref: f64,
}

/// A rate `A0·t^e + B` (transport `D0, alpha, D_offset` or velocity `v0, beta, v_offset`)
/// sampled through what the data see at a reference time: `J = A0·t_ref^e + B` (the rate
/// at t_ref), `s = e·A0·t_ref^e` (its log-slope) and `ln A0` mapped onto its bounds (how
/// the rate splits into power law and offset — the direction the data hardly constrain).
/// In (A0, e, B) that direction is a curved ridge (e = s/h, B = J − h with
/// h = A0·t_ref^e); here it is one coordinate, and A0 can never leave its bounds. A step
/// that takes e or B outside theirs (far from any posterior here), or onto the branch
/// 1 + e·ln t_ref ≤ 0 where the map folds, is rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct RateTriple {
    /// Index of the prefactor A0 (bounds above 0).
    pub prefactor: usize,
    /// Index of the exponent e.
    pub exponent: usize,
    /// Index of the offset B.
    pub offset: usize,
    /// ln t_ref.
    pub ln_t_ref: f64,
    /// For messages, e.g. `D_ref(t_ref)`.
    pub label: String,
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

/// Solves `ln h − c·s/h = a` for `h > 0` (Newton in ln h from the s = 0 root); `false`
/// when it does not converge or the root is not on the monotone branch (1 + c·s/h ≤ 0).
fn solve_power_part(a: f64, s: f64, c: f64) -> (f64, bool) {
    let mut y = a;
    for _ in 0..60 {
        let cs = c * s * (-y).exp();
        let g = y - cs - a;
        let dg = 1.0 + cs;
        if !(dg > 0.0 && g.is_finite()) {
            return (f64::NAN, false);
        }
        let step = g / dg;
        // Damp long steps: the root is near a for small c·s/h.
        y -= step.clamp(-2.0, 2.0);
        if step.abs() <= 1e-14 * y.abs().max(1.0) {
            return (y.exp(), true);
        }
    }
    (f64::NAN, false)
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
            triples: Vec::new(),
            fraction: None,
            paired,
        })
    }

    /// The same map with the sample fraction sampled as [`FractionBlock`] says.
    pub fn with_fraction(mut self, block: Option<FractionBlock>) -> Result<Self> {
        if let Some(b) = &block {
            let n = self.lo.len();
            let [f0, _, f2, _] = b.f;
            let distinct = (0..4).all(|i| (i + 1..4).all(|j| b.f[i] != b.f[j]));
            let ok = distinct
                && b.f.iter().all(|&k| k < n && !self.paired[k])
                && self.lo[f0] >= 0.0
                && self.hi[f0] > 0.0
                && self.lo[f2] < self.hi[f2]
                && b.t_ref.is_finite();
            if !ok {
                return Err(Error::invalid(
                    "reparameterization",
                    "cannot sample the fraction block (indices or bounds unusable)",
                ));
            }
            for k in b.f {
                self.paired[k] = true;
            }
        }
        self.fraction = block;
        Ok(self)
    }

    /// The same map with rate triples sampled as [`RateTriple`] says.
    pub fn with_triples(mut self, triples: Vec<RateTriple>) -> Result<Self> {
        let n = self.lo.len();
        for t in &triples {
            let idx = [t.prefactor, t.exponent, t.offset];
            let ok = idx.iter().all(|&k| k < n && !self.paired[k])
                && t.prefactor != t.exponent
                && t.exponent != t.offset
                && t.prefactor != t.offset
                && self.lo[t.prefactor] > 0.0
                && t.ln_t_ref.is_finite();
            if !ok {
                return Err(Error::invalid(
                    "reparameterization",
                    format!("cannot sample {} (indices or bounds unusable)", t.label),
                ));
            }
            for k in idx {
                self.paired[k] = true;
            }
        }
        self.triples = triples;
        Ok(self)
    }

    /// The rate triples.
    pub fn triples(&self) -> &[RateTriple] {
        &self.triples
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
                let mut d = Dual::input(sign * x, 2);
                d.d[2] = sign * dx;
                d
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
        for t in &self.triples {
            // Inputs: slot 0 = J, slot 1 = s, slot 2 = u_a with ln A0 = a(u_a) inside
            // [ln lo, ln hi] (so A0 never leaves its bounds).
            let j = Dual::input(u[t.prefactor], 0);
            let sl = Dual::input(u[t.exponent], 1);
            let (ln_lo, ln_hi) = (self.lo[t.prefactor].ln(), self.hi[t.prefactor].ln());
            let (a, lj_a) = to_interval(
                Dual::input(u[t.offset], 2),
                Dual::constant(ln_lo),
                Dual::constant(ln_hi),
            );
            let c = t.ln_t_ref;
            // h = A0·t_ref^e with e = s/h: ln h − c·s/h = a, solved by Newton in ln h;
            // derivatives by the implicit function theorem (needs 1 + c·e > 0).
            let (h, ok) = solve_power_part(a.v, sl.v, c);
            let e_v = sl.v / h;
            let g = 1.0 + c * e_v;
            let (x_a, x_e, x_b, lj) = if ok && g > 0.0 {
                let dh_ds = c / g;
                let dh_da = h / g;
                let hd = Dual {
                    v: h,
                    d: std::array::from_fn(|k| dh_ds * sl.d[k] + dh_da * a.d[k]),
                };
                let e = sl / hd;
                let ce = Dual::constant(c) * e;
                // |∂(A0, e, B)/∂(J, s, h)| = A0/h², |∂h/∂a| = h/(1 + c·e), ∂A0/∂a = A0:
                // ln|J| = ln A0 − ln h − ln(1 + c·e) + ln(da/du) = −c·e − ln(1 + c·e) + …
                let lj = -ce - (Dual::constant(1.0) + ce).ln() + lj_a;
                (a.exp(), e, j - hd, lj)
            } else {
                let nan = Dual::constant(f64::NAN);
                (nan, nan, nan, nan)
            };
            let inside = [(t.exponent, x_e.v), (t.offset, x_b.v)]
                .iter()
                .all(|&(k, v)| v >= self.lo[k] && v <= self.hi[k]);
            log_jac += if inside { lj.v } else { f64::NAN };
            x[t.prefactor] = x_a.v;
            x[t.exponent] = x_e.v;
            x[t.offset] = x_b.v;
            for (slot, col) in [t.prefactor, t.exponent, t.offset].into_iter().enumerate() {
                grad[col] += lj.d[slot];
                entries.push((t.prefactor, col, x_a.d[slot]));
                entries.push((t.exponent, col, x_e.d[slot]));
                entries.push((t.offset, col, x_b.d[slot]));
            }
        }
        if let Some(b) = &self.fraction {
            let [i0, i1, i2, i3] = b.f;
            // Slots: 0 = V (at u[f3]), 1 = S (at u[f1]), 2 = ln A (at u[f0]), 3 = f2's
            // coordinate (at u[f2]).
            let v = Dual::input(u[i3], 0);
            let sl = Dual::input(u[i1], 1);
            let a = Dual::input(u[i0], 2);
            let c = b.t_ref;
            let (h, ok) = solve_power_part(a.v, sl.v, c);
            let g = 1.0 + c * sl.v / h;
            let mut out = [Dual::constant(f64::NAN); 4];
            let mut lj = Dual::constant(f64::NAN);
            if ok && g > 0.0 {
                let (dh_ds, dh_da) = (c / g, h / g);
                let hd = Dual {
                    v: h,
                    d: std::array::from_fn(|k| dh_ds * sl.d[k] + dh_da * a.d[k]),
                };
                let f1 = sl / hd;
                let f3 = v - hd;
                let pair = RidgePair {
                    target: i0,
                    partner: i2,
                    slope: Slope::Const(0.0),
                    label: String::new(),
                };
                // ln f0 = ln A + f1·f2: the pair's L = ln A with slope k = −f1.
                let (ya, yb) = self.y_range(&pair, a, -f1);
                if yb.v > ya.v {
                    let (f2, lj_y) = to_interval(Dual::input(u[i2], 3), ya, yb);
                    let f0 = (a + f1 * f2).exp();
                    let cf1 = Dual::constant(c) * f1;
                    lj = -cf1 - (Dual::constant(1.0) + cf1).ln() + f1 * f2 + lj_y;
                    out = [f0, f1, f2, f3];
                }
            }
            let inside = [(i1, out[1].v), (i3, out[3].v)]
                .iter()
                .all(|&(k, v)| v >= self.lo[k] && v <= self.hi[k]);
            log_jac += if inside { lj.v } else { f64::NAN };
            let cols = [i3, i1, i0, i2];
            for (q, &row) in b.f.iter().enumerate() {
                x[row] = out[q].v;
                for (slot, &col) in cols.iter().enumerate() {
                    entries.push((row, col, out[q].d[slot]));
                }
            }
            for (slot, &col) in cols.iter().enumerate() {
                grad[col] += lj.d[slot];
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
        if let Some(b) = &self.fraction {
            let [i0, i1, i2, i3] = b.f;
            let (f0, f1, f2, f3) = (x[i0].max(1e-300), x[i1], x[i2], x[i3]);
            let ln_a = f0.ln() - f1 * f2;
            let h = (ln_a + f1 * b.t_ref).exp();
            u[i3] = h + f3;
            u[i1] = f1 * h;
            u[i0] = ln_a;
            let pair = RidgePair {
                target: i0,
                partner: i2,
                slope: Slope::Const(0.0),
                label: String::new(),
            };
            let (ya, yb) = self.y_range(&pair, Dual::constant(ln_a), Dual::constant(-f1));
            u[i2] = from_interval(f2, ya.v, yb.v);
        }
        for t in &self.triples {
            let (lo, hi) = (self.lo[t.prefactor], self.hi[t.prefactor]);
            let a0 = x[t.prefactor].clamp(lo, hi);
            let e = x[t.exponent];
            let h = a0 * (t.ln_t_ref * e).exp();
            u[t.prefactor] = h + x[t.offset];
            u[t.exponent] = e * h;
            u[t.offset] = from_interval(a0.ln(), lo.ln(), hi.ln());
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

    /// The pair transform, and one with the fraction pair plus a rate triple on 3–5.
    fn cases() -> Vec<(Transform, Vec<f64>)> {
        let triple = Transform::new(
            vec![0.0, -10.0, -1e4, 100.0, -5.0, -1e5],
            vec![1.0, 10.0, 1e4, 1e6, 5.0, 1e5],
            vec![RidgePair {
                target: 0,
                partner: 2,
                slope: Slope::Quantity {
                    index: 1,
                    sign: -1.0,
                },
                label: "f".into(),
            }],
        )
        .and_then(|t| {
            t.with_triples(vec![RateTriple {
                prefactor: 3,
                exponent: 4,
                offset: 5,
                ln_t_ref: 5f64.ln(),
                label: "D(t_ref)".into(),
            }])
        })
        .expect("transform");
        let fraction = Transform::new(
            vec![0.0, -10.0, -1e4, 0.0, -5.0, -1e5],
            vec![1.0, 10.0, 1e4, 1.0, 5.0, 1e5],
            Vec::new(),
        )
        .and_then(|t| {
            t.with_fraction(Some(FractionBlock {
                f: [0, 1, 2, 3],
                t_ref: 5.0,
            }))
        })
        .expect("transform");
        vec![
            (transform(), vec![0.4, 0.02, 25.0, 500.0, 0.1, 0.3]),
            (triple, vec![0.4, 0.02, 25.0, 500.0, 0.1, 10.0]),
            (fraction, vec![0.4, 0.02, 25.0, 0.1, 0.1, 10.0]),
        ]
    }

    #[test]
    fn derivatives_match_differences() {
        for (t, x0) in cases() {
            let u0 = t.inverse(&x0);
            let back = t.forward(&u0).x;
            for (a, b) in x0.iter().zip(&back) {
                assert!(
                    (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                    "{x0:?} → {back:?}"
                );
            }
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
                let h = 1e-6 * u0[j].abs().max(1.0);
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
    }

    #[test]
    fn log_jacobian_is_the_determinant() {
        // Dense ∂x/∂u by differences, its log-determinant vs the analytic one.
        for (t, x0) in cases() {
            let u0 = t.inverse(&x0);
            let n = 6;
            let mut jac = vec![vec![0.0; n]; n];
            for j in 0..n {
                let h = 1e-6 * u0[j].abs().max(1.0);
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
    }

    #[test]
    fn a_rate_triple_keeps_its_prefactor_inside_and_rejects_the_rest() {
        let (t, x0) = cases().remove(1);
        let u0 = t.inverse(&x0);
        for ua in [-30.0, -5.0, 0.0, 5.0, 30.0] {
            let mut u = u0.clone();
            u[5] = ua;
            let m = t.forward(&u);
            // (Large A0 also makes the offset J − h fall below its bound: rejected.)
            assert!(m.log_jac.is_finite() || ua > 0.0, "u_a {ua}");
            assert!((100.0..=1e6).contains(&m.x[3]), "A0 {} at u_a {ua}", m.x[3]);
        }
        // The offset pushed past its bound: rejected.
        let mut u = u0;
        u[3] = 1e6;
        assert!(t.forward(&u).log_jac.is_nan());
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

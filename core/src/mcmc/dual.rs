//! Forward-mode dual numbers over four inputs: just enough calculus to differentiate the
//! sampler's coordinate maps (and their log-Jacobians) exactly, without writing every
//! chain rule by hand.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// Number of inputs a [`Dual`] differentiates with respect to.
pub const SLOTS: usize = 4;

/// A value with its derivatives with respect to [`SLOTS`] inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dual {
    /// The value.
    pub v: f64,
    /// ∂value/∂input for each input.
    pub d: [f64; SLOTS],
}

impl Dual {
    /// A constant (zero derivatives).
    pub const fn constant(v: f64) -> Self {
        Self { v, d: [0.0; SLOTS] }
    }

    /// Input number `slot` (derivative 1 with respect to itself).
    pub fn input(v: f64, slot: usize) -> Self {
        let mut d = [0.0; SLOTS];
        d[slot] = 1.0;
        Self { v, d }
    }

    fn map(self, v: f64, dv: f64) -> Self {
        Self {
            v,
            d: self.d.map(|x| x * dv),
        }
    }

    /// eˣ.
    pub fn exp(self) -> Self {
        let e = self.v.exp();
        self.map(e, e)
    }

    /// ln x.
    pub fn ln(self) -> Self {
        self.map(self.v.ln(), 1.0 / self.v)
    }

    /// ln(1 + eˣ), stable for large |x|.
    pub fn softplus(self) -> Self {
        let v = if self.v > 0.0 {
            self.v + (-self.v).exp().ln_1p()
        } else {
            self.v.exp().ln_1p()
        };
        self.map(v, logistic(self.v))
    }

    /// 1/(1 + e⁻ˣ).
    pub fn logistic(self) -> Self {
        let s = logistic(self.v);
        self.map(s, s * (1.0 - s))
    }

    /// The smaller of two (the derivative of the one chosen).
    pub fn min(self, other: Self) -> Self {
        if other.v < self.v { other } else { self }
    }

    /// The larger of two.
    pub fn max(self, other: Self) -> Self {
        if other.v > self.v { other } else { self }
    }
}

/// The logistic function 1/(1 + e⁻ˣ), stable for large |x|.
pub fn logistic(u: f64) -> f64 {
    if u >= 0.0 {
        1.0 / (1.0 + (-u).exp())
    } else {
        let e = u.exp();
        e / (1.0 + e)
    }
}

impl Add for Dual {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            v: self.v + o.v,
            d: std::array::from_fn(|k| self.d[k] + o.d[k]),
        }
    }
}

impl Sub for Dual {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        self + (-o)
    }
}

impl Neg for Dual {
    type Output = Self;
    fn neg(self) -> Self {
        Self {
            v: -self.v,
            d: self.d.map(|x| -x),
        }
    }
}

impl Mul for Dual {
    type Output = Self;
    // The product rule adds: (uv)' = u'v + uv'.
    #[allow(clippy::suspicious_arithmetic_impl)]
    fn mul(self, o: Self) -> Self {
        Self {
            v: self.v * o.v,
            d: std::array::from_fn(|k| self.d[k] * o.v + self.v * o.d[k]),
        }
    }
}

impl Div for Dual {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        let inv = 1.0 / o.v;
        let q = self.v * inv;
        Self {
            v: q,
            d: std::array::from_fn(|k| (self.d[k] - q * o.d[k]) * inv),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_rule_matches_differences() {
        let f = |a: Dual, b: Dual| ((a * b).exp() / (a + b.softplus())).ln() - b.logistic();
        let (x, y) = (0.7, -1.3);
        let out = f(Dual::input(x, 0), Dual::input(y, 1));
        let h = 1e-6;
        let g = |x: f64, y: f64| f(Dual::constant(x), Dual::constant(y)).v;
        let dx = (g(x + h, y) - g(x - h, y)) / (2.0 * h);
        let dy = (g(x, y + h) - g(x, y - h)) / (2.0 * h);
        assert!((out.d[0] - dx).abs() < 1e-8, "{} vs {dx}", out.d[0]);
        assert!((out.d[1] - dy).abs() < 1e-8, "{} vs {dy}", out.d[1]);
        assert_eq!(out.d[2], 0.0);
        assert_eq!(out.d[3], 0.0);
    }
}

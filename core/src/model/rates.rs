//! Rate functions of time (spec physics.md §3): transport rates J(t), velocity v(t) and
//! the soft-clipped sample fraction f_s(t), each with its derivatives.

/// Below this time the power law is evaluated at this time instead (physics.md §3.1).
const T_FLOOR: f64 = 1e-10;
/// Sharpness of the fraction's soft clip.
const CLIP_SHARPNESS: f64 = 50.0;
/// Cap on the fraction exponent `f1·(t − f2)`.
const FRACTION_EXP_CAP: f64 = 500.0;

/// A grid time with the log of its floored value, shared by the three power laws.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimePoint {
    /// Time, s.
    pub t: f64,
    /// `ln(max(t, 1e-10))`; unused when t ≤ 0.
    pub ln_t: f64,
    /// `max(t, 1e-10)`.
    t_safe: f64,
}

impl TimePoint {
    /// Precomputes the log for time `t`.
    pub fn new(t: f64) -> Self {
        let t_safe = t.max(T_FLOOR);
        Self {
            t,
            ln_t: if t > 0.0 { t_safe.ln() } else { 0.0 },
            t_safe,
        }
    }

    /// `t^a` with the reference's floor: `max(t, 1e-10)^a` for t > 0, exactly 0 for
    /// t ≤ 0 (for any exponent). `powf`, as XLA lowers the reference's `jnp.power`.
    pub fn power(&self, a: f64) -> f64 {
        if self.t <= 0.0 {
            0.0
        } else if a == 0.0 {
            1.0
        } else {
            self.t_safe.powf(a)
        }
    }
}

/// `t^a` with the reference's floor, and `ln t_safe` (see [`TimePoint::power`]).
pub fn power_law(t: f64, a: f64) -> (f64, f64) {
    let p = TimePoint::new(t);
    (p.power(a), p.ln_t)
}

/// Transport rate `J(t) = max(D0·t^α + offset, 0)` in Å²/s with its derivatives
/// with respect to (D0, α, offset); the derivatives vanish where the floor is active.
pub fn transport_rate(t: TimePoint, d0: f64, alpha: f64, offset: f64) -> (f64, [f64; 3]) {
    let tp = t.power(alpha);
    let j = d0 * tp + offset;
    if j > 0.0 {
        (j, [tp, d0 * tp * t.ln_t, 1.0])
    } else {
        (0.0, [0.0; 3])
    }
}

/// Velocity `v(t) = v0·t^β + v_offset` in Å/s (not floored) with its derivatives with
/// respect to (v0, β, v_offset).
pub fn velocity_rate(t: TimePoint, v0: f64, beta: f64, v_offset: f64) -> (f64, [f64; 3]) {
    let tp = t.power(beta);
    (v0 * tp + v_offset, [tp, v0 * tp * t.ln_t, 1.0])
}

/// `softplus(z) = log(1 + e^z)` in the overflow-safe form JAX evaluates.
pub fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// Logistic sigmoid, the derivative of [`softplus`].
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The reference's `smooth_clip(x, 0, 1, k = 50)`, evaluated in its two-step order
/// (smooth max with 0, then smooth min with 1), and its derivative d/dx.
pub fn smooth_clip_unit(x: f64) -> (f64, f64) {
    let k = CLIP_SHARPNESS;
    let x_lo = softplus(k * x) / k;
    let out = 1.0 - softplus(k * (1.0 - x_lo)) / k;
    (out, sigmoid(k * (1.0 - x_lo)) * sigmoid(k * x))
}

/// The value of [`smooth_clip_unit`] alone.
pub fn smooth_clip_unit_value(x: f64) -> f64 {
    let k = CLIP_SHARPNESS;
    let x_lo = softplus(k * x) / k;
    1.0 - softplus(k * (1.0 - x_lo)) / k
}

/// Sample fraction `f_s(t)` alone (see [`sample_fraction`]).
pub fn sample_fraction_value(t: f64, f0: f64, f1: f64, f2: f64, f3: f64) -> f64 {
    let e = f1 * (t - f2);
    smooth_clip_unit_value(f0 * e.clamp(-FRACTION_EXP_CAP, FRACTION_EXP_CAP).exp() + f3)
}

/// Sample fraction `f_s(t) = smooth_clip(f0·exp(clip(f1·(t − f2), ±500)) + f3, 0, 1)` and
/// its derivatives with respect to (f0, f1, f2, f3).
pub fn sample_fraction(t: f64, f0: f64, f1: f64, f2: f64, f3: f64) -> (f64, [f64; 4]) {
    let e = f1 * (t - f2);
    let clipped = !(-FRACTION_EXP_CAP..=FRACTION_EXP_CAP).contains(&e);
    let big_e = e.clamp(-FRACTION_EXP_CAP, FRACTION_EXP_CAP).exp();
    let raw = f0 * big_e + f3;
    let (fs, dfs) = smooth_clip_unit(raw);
    let (d_f1, d_f2) = if clipped {
        (0.0, 0.0)
    } else {
        (f0 * big_e * (t - f2), -f0 * big_e * f1)
    };
    (fs, [dfs * big_e, dfs * d_f1, dfs * d_f2, dfs])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values quoted in spec physics.md §3.3.
    #[test]
    fn smooth_clip_matches_reference_values() {
        let f = |x| {
            let (v, _) = smooth_clip_unit(x);
            assert_eq!(v, smooth_clip_unit_value(x));
            v
        };
        assert!((f(0.0) - std::f64::consts::LN_2 / 50.0).abs() < 1e-15);
        assert!((f(0.1) - 0.1001343070).abs() < 1e-10);
        assert!((f(0.5) - 0.5).abs() < 1e-12);
        assert!((f(1.0) - (1.0 - std::f64::consts::LN_2 / 50.0)).abs() < 1e-15);
        assert!((f(-0.1) - 1.343e-4).abs() < 1e-7);
        assert_eq!(f(1.7), 1.0);
        assert_eq!(f(-0.7), 0.0);
    }

    #[test]
    fn power_law_floors() {
        assert_eq!(power_law(0.0, 0.0).0, 0.0);
        assert_eq!(power_law(-1.0, 2.0).0, 0.0);
        assert_eq!(power_law(1e-12, 1.0).0, 1e-10);
        assert_eq!(transport_rate(TimePoint::new(1.0), 10.0, 0.0, -20.0).0, 0.0);
        let p = TimePoint::new(0.37);
        assert!((p.power(-1.3) - 0.37f64.powf(-1.3)).abs() < 1e-15 * 0.37f64.powf(-1.3));
    }
}

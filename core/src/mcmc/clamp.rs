//! The soft clamp: the sampler's map of one unconstrained coordinate `z` onto an interval
//! `(lo, hi)` — linear in the middle (`x ≈ anchor + w·z`) and saturating exponentially
//! within about `w` of each finite end.
//!
//! Why not the logistic over the whole range: a parameter whose bounds are a hundred prior
//! widths apart (`D_offset` in [−1e5, 1e5] with a prior σ of 1e3) sits in the logistic's
//! exponential tail, where a Gaussian posterior becomes a double-exponential wall; NUTS
//! steps tuned to the bulk run into it and diverge. With `w` near the posterior's width the
//! bulk sees a linear map (a Gaussian stays Gaussian), and a bound where the density is
//! still high (`D0 ≥ 100`, `f0 ≤ 1`) becomes an exponential tail, which NUTS handles.
//!
//! With `ζ = z + (anchor − lo)/w` and `L = (hi − lo)/w`:
//! `x = lo + w·(softplus(ζ) − softplus(ζ − L))`, `dx/dz = w·σ(ζ)·σ(L − ζ)·(1 − e^{−L})`.
//! One-sided intervals keep one softplus; an unbounded one is `anchor + w·z`. The bounds
//! may themselves depend on other coordinates (they are [`Dual`]s).

use super::dual::Dual;

/// Where the linear part of a clamp sits and how wide it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clamp {
    /// The value at `z = 0` (when it lies well inside the interval).
    pub anchor: f64,
    /// The slope `w` of the linear part, in the quantity's units (> 0).
    pub scale: f64,
}

/// ln(1 − e⁻ᴸ) for `L > 0`, stable at both ends.
fn ln_1m_exp_neg(l: f64) -> f64 {
    if l < std::f64::consts::LN_2 {
        (-(-l).exp_m1()).ln()
    } else {
        (-(-l).exp()).ln_1p()
    }
}

/// ln(eʳ − 1) for `r > 0`, stable at both ends (the inverse of softplus).
fn ln_expm1(r: f64) -> f64 {
    if r > 20.0 {
        r + (-(-r).exp()).ln_1p()
    } else {
        r.exp_m1().ln()
    }
}

/// ln(1 − e⁻ᴸ) of a dual `L`.
fn ln_1m_exp_neg_dual(l: Dual) -> Dual {
    let v = ln_1m_exp_neg(l.v);
    // d/dL ln(1 − e⁻ᴸ) = 1/(eᴸ − 1).
    let dv = 1.0 / l.v.exp_m1();
    Dual {
        v,
        d: l.d.map(|x| x * dv),
    }
}

/// `x(z)` on `(lo, hi)` and `ln dx/dz` (both as duals: their derivatives include those
/// through `lo` and `hi`).
pub fn forward(z: Dual, lo: Dual, hi: Dual, c: Clamp) -> (Dual, Dual) {
    let w = Dual::constant(c.scale);
    let ln_w = Dual::constant(c.scale.ln());
    let a = Dual::constant(c.anchor);
    match (lo.v.is_finite(), hi.v.is_finite()) {
        (true, true) => {
            let zeta = z + (a - lo) / w;
            let l = (hi - lo) / w;
            // The same value from whichever end is nearer, for accuracy there.
            let x = if zeta.v < 0.5 * l.v {
                lo + w * (zeta.softplus() - (zeta - l).softplus())
            } else {
                hi - w * ((l - zeta).softplus() - (-zeta).softplus())
            };
            let lj = ln_w - (-zeta).softplus() - (zeta - l).softplus() + ln_1m_exp_neg_dual(l);
            (x, lj)
        }
        (true, false) => {
            let zeta = z + (a - lo) / w;
            (lo + w * zeta.softplus(), ln_w - (-zeta).softplus())
        }
        (false, true) => {
            let zeta = (hi - a) / w - z;
            (hi - w * zeta.softplus(), ln_w - (-zeta).softplus())
        }
        (false, false) => (a + w * z, ln_w),
    }
}

/// The `z` of `x` (pulled a hair inside `(lo, hi)` first).
pub fn inverse(x: f64, lo: f64, hi: f64, c: Clamp) -> f64 {
    let w = c.scale;
    // The smallest distance from an end that the maps resolve, in units of w.
    let tiny = 1e-12;
    match (lo.is_finite(), hi.is_finite()) {
        (true, true) => {
            let l = (hi - lo) / w;
            let margin = (tiny * l).min(0.25 * l);
            let r = ((x - lo) / w).clamp(margin, l - margin);
            let q = ((hi - x) / w).clamp(margin, l - margin);
            let zeta = ln_expm1(r) - ln_1m_exp_neg(q);
            zeta - (c.anchor - lo) / w
        }
        (true, false) => ln_expm1(((x - lo) / w).max(tiny)) - (c.anchor - lo) / w,
        (false, true) => (hi - c.anchor) / w - ln_expm1(((hi - x) / w).max(tiny)),
        (false, false) => (x - c.anchor) / w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases() -> Vec<(f64, f64, Clamp)> {
        let inf = f64::INFINITY;
        vec![
            // D_offset: a bound far away on one side, one near on the other.
            (
                -1e5,
                480.0,
                Clamp {
                    anchor: 10.0,
                    scale: 1e3,
                },
            ),
            (
                0.0,
                1.0,
                Clamp {
                    anchor: 0.1,
                    scale: 0.25,
                },
            ),
            (
                100.0,
                inf,
                Clamp {
                    anchor: 500.0,
                    scale: 1e4,
                },
            ),
            (
                -inf,
                3.0,
                Clamp {
                    anchor: 2.0,
                    scale: 0.5,
                },
            ),
            (
                -inf,
                inf,
                Clamp {
                    anchor: 1.0,
                    scale: 2.0,
                },
            ),
        ]
    }

    #[test]
    fn round_trips_stay_inside_and_are_linear_in_the_middle() {
        for (lo, hi, c) in cases() {
            for z in [-40.0, -5.0, -0.3, 0.0, 0.7, 4.0, 40.0] {
                let (x, _) = forward(Dual::constant(z), Dual::constant(lo), Dual::constant(hi), c);
                assert!(x.v >= lo && x.v <= hi, "{z} → {} outside [{lo}, {hi}]", x.v);
                if (x.v - lo) > 1e-6 * c.scale && (hi - x.v) > 1e-6 * c.scale {
                    let back = inverse(x.v, lo, hi, c);
                    assert!((back - z).abs() < 1e-6 * z.abs().max(1.0), "{z} → {back}");
                }
            }
        }
        // Far from both ends the map is anchor + w·z.
        let c = Clamp {
            anchor: 0.0,
            scale: 1e3,
        };
        let (x, lj) = forward(
            Dual::constant(2.0),
            Dual::constant(-1e5),
            Dual::constant(1e5),
            c,
        );
        assert!((x.v - 2e3).abs() < 1e-6, "{}", x.v);
        assert!((lj.v - 1e3f64.ln()).abs() < 1e-9);
    }

    #[test]
    fn derivatives_match_differences() {
        for (lo, hi, c) in cases() {
            for z0 in [-3.0, 0.2, 2.5] {
                // Inputs: z, and a shift of both ends (as when the bounds move with J).
                let f = |z: f64, s: f64| {
                    let lo_d = Dual::constant(lo) + Dual::constant(s);
                    let hi_d = Dual::constant(hi) + Dual::constant(s);
                    let (x, lj) = forward(Dual::constant(z), lo_d, hi_d, c);
                    (x.v, lj.v)
                };
                let shift = Dual::input(0.0, 1);
                let (x, lj) = forward(
                    Dual::input(z0, 0),
                    Dual::constant(lo) + shift,
                    Dual::constant(hi) + shift,
                    c,
                );
                for slot in 0..2 {
                    let h = if slot == 0 { 1e-6 } else { 1e-6 * c.scale };
                    let (up, dn) = if slot == 0 {
                        (f(z0 + h, 0.0), f(z0 - h, 0.0))
                    } else {
                        (f(z0, h), f(z0, -h))
                    };
                    let dx = (up.0 - dn.0) / (2.0 * h);
                    let dlj = (up.1 - dn.1) / (2.0 * h);
                    assert!(
                        (x.d[slot] - dx).abs() <= 1e-5 * dx.abs().max(1e-3),
                        "[{lo}, {hi}] z {z0} slot {slot}: dx {} vs {dx}",
                        x.d[slot]
                    );
                    assert!(
                        (lj.d[slot] - dlj).abs() <= 1e-5 * dlj.abs().max(1e-3),
                        "[{lo}, {hi}] z {z0} slot {slot}: d ln J {} vs {dlj}",
                        lj.d[slot]
                    );
                }
                // ln dx/dz is the log of the derivative in z.
                assert!((lj.v - x.d[0].ln()).abs() < 1e-9, "{} vs {}", lj.v, x.d[0]);
            }
        }
    }
}

//! Priors of the fitted quantities: the reference's families, each truncated to the
//! quantity's bounds (the truncation only changes a constant, so it is implicit).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A prior family with its parameters, in the quantity's own units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "prior", rename_all = "snake_case")]
pub enum Prior {
    /// Flat on the bounds.
    Uniform,
    /// Normal (truncated to the bounds): the reference's default, `truncated_normal`.
    #[serde(alias = "truncated_normal")]
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation (> 0).
        std: f64,
    },
    /// Log-normal: ln x ~ N(mu, sigma); needs bounds above 0.
    #[serde(rename = "lognormal")]
    LogNormal {
        /// Mean of ln x.
        mu: f64,
        /// Standard deviation of ln x (> 0).
        sigma: f64,
    },
    /// Half-normal on x ≥ 0.
    #[serde(rename = "halfnormal")]
    HalfNormal {
        /// Scale (> 0).
        scale: f64,
    },
    /// Exponential on x ≥ 0.
    Exponential {
        /// Rate (> 0), in 1/(unit of x).
        rate: f64,
    },
    /// Beta(alpha, beta) stretched onto the bounds.
    BetaScaled {
        /// First shape (> 0).
        alpha: f64,
        /// Second shape (> 0).
        beta: f64,
    },
}

impl Prior {
    /// Checks the prior against bounds `[lo, hi]` of quantity `name`.
    pub fn validate(&self, name: &str, lo: f64, hi: f64) -> Result<()> {
        let positive = |what: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(
                    name,
                    format!("prior {what} must be finite and > 0, got {v}"),
                ))
            }
        };
        match *self {
            Prior::Uniform => Ok(()),
            Prior::Normal { mean, std } => {
                if !mean.is_finite() {
                    return Err(Error::invalid(name, "prior mean must be finite"));
                }
                positive("std", std)
            }
            Prior::LogNormal { mu, sigma } => {
                if !mu.is_finite() {
                    return Err(Error::invalid(name, "prior mu must be finite"));
                }
                if lo <= 0.0 {
                    return Err(Error::invalid(
                        name,
                        format!("a lognormal prior needs min > 0, got {lo}"),
                    ));
                }
                positive("sigma", sigma)
            }
            Prior::HalfNormal { scale: s } | Prior::Exponential { rate: s } => {
                if lo < 0.0 {
                    return Err(Error::invalid(
                        name,
                        format!("a {} prior needs min ≥ 0, got {lo}", self.family()),
                    ));
                }
                positive("scale/rate", s)
            }
            Prior::BetaScaled { alpha, beta } => {
                positive("alpha", alpha)?;
                positive("beta", beta)?;
                if hi > lo {
                    Ok(())
                } else {
                    Err(Error::invalid(name, "beta_scaled needs min < max"))
                }
            }
        }
    }

    /// The family's name as the config spells it.
    pub fn family(&self) -> &'static str {
        match self {
            Prior::Uniform => "uniform",
            Prior::Normal { .. } => "truncated_normal",
            Prior::LogNormal { .. } => "lognormal",
            Prior::HalfNormal { .. } => "halfnormal",
            Prior::Exponential { .. } => "exponential",
            Prior::BetaScaled { .. } => "beta_scaled",
        }
    }

    /// ln density (up to a constant) at `x` in `[lo, hi]`, and its derivative.
    pub fn log_density(&self, x: f64, lo: f64, hi: f64) -> (f64, f64) {
        match *self {
            Prior::Uniform => (0.0, 0.0),
            Prior::Normal { mean, std } => {
                let z = (x - mean) / std;
                (-0.5 * z * z, -z / std)
            }
            Prior::LogNormal { mu, sigma } => {
                let l = x.ln();
                let z = (l - mu) / sigma;
                (-l - 0.5 * z * z, -(1.0 + z / sigma) / x)
            }
            Prior::HalfNormal { scale } => {
                let z = x / scale;
                (-0.5 * z * z, -z / scale)
            }
            Prior::Exponential { rate } => (-rate * x, -rate),
            Prior::BetaScaled { alpha, beta } => {
                let w = hi - lo;
                let z = (x - lo) / w;
                (
                    (alpha - 1.0) * z.ln() + (beta - 1.0) * (1.0 - z).ln(),
                    ((alpha - 1.0) / z - (beta - 1.0) / (1.0 - z)) / w,
                )
            }
        }
    }

    /// Variance of the prior truncated to `[lo, hi]` (by quadrature), for the posterior's
    /// contraction.
    pub fn variance(&self, lo: f64, hi: f64) -> f64 {
        self.moments(lo, hi).map_or(0.0, |(_, v)| v)
    }

    /// (mean, variance) of the truncated prior.
    fn moments(&self, lo: f64, hi: f64) -> Option<(f64, f64)> {
        // Integrate where the mass is: for a normal far wider than the box, the box.
        let (a, b) = match *self {
            Prior::Normal { mean, std } => (lo.max(mean - 12.0 * std), hi.min(mean + 12.0 * std)),
            _ => (lo, hi),
        };
        if a.is_nan() || b.is_nan() || b <= a {
            return None;
        }
        // Midpoint rule on a geometric grid when the box spans decades above 0.
        let n = 4000;
        let geometric = a > 0.0 && b / a > 100.0;
        let (mut m0, mut m1, mut m2) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let s = (i as f64 + 0.5) / n as f64;
            let (x, dx) = if geometric {
                let x = a * (b / a).powf(s);
                (x, x * (b / a).ln() / n as f64)
            } else {
                (a + (b - a) * s, (b - a) / n as f64)
            };
            let w = self.log_density(x, lo, hi).0.exp() * dx;
            if w.is_finite() {
                m0 += w;
                m1 += w * x;
                m2 += w * x * x;
            }
        }
        if m0 <= 0.0 {
            return None;
        }
        let mean = m1 / m0;
        Some((mean, (m2 / m0 - mean * mean).max(0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_moments() {
        let p = Prior::Normal {
            mean: 0.0,
            std: 5.0,
        };
        // 2σ truncation shrinks the variance to 1 − 2·2φ(2)/(2Φ(2) − 1) ≈ 0.7737 of σ².
        let v = p.variance(-10.0, 10.0) / 25.0;
        assert!((v - 0.7737).abs() < 1e-3, "{v}");
        assert_eq!(Prior::Uniform.variance(1.0, 1.0), 0.0);
    }

    #[test]
    fn derivatives_match_differences() {
        let priors = [
            (
                Prior::Normal {
                    mean: 1.0,
                    std: 2.0,
                },
                0.0,
                5.0,
            ),
            (
                Prior::LogNormal {
                    mu: 1.0,
                    sigma: 0.5,
                },
                0.1,
                50.0,
            ),
            (Prior::HalfNormal { scale: 3.0 }, 0.0, 10.0),
            (Prior::Exponential { rate: 0.5 }, 0.0, 10.0),
            (
                Prior::BetaScaled {
                    alpha: 2.0,
                    beta: 3.5,
                },
                -1.0,
                4.0,
            ),
        ];
        for (p, lo, hi) in priors {
            p.validate("x", lo, hi).expect("valid");
            let x = 0.37 * lo + 0.63 * hi;
            let h = 1e-6;
            let d = (p.log_density(x + h, lo, hi).0 - p.log_density(x - h, lo, hi).0) / (2.0 * h);
            let (_, g) = p.log_density(x, lo, hi);
            assert!((g - d).abs() < 1e-6 * d.abs().max(1.0), "{p:?}: {g} vs {d}");
        }
    }

    #[test]
    fn variances_are_right() {
        // Uniform on [0, 12]: 12; a narrow normal: its own; half-normal: (1 − 2/π)s².
        assert!((Prior::Uniform.variance(0.0, 12.0) - 12.0).abs() < 1e-3);
        let n = Prior::Normal {
            mean: 5.0,
            std: 0.5,
        };
        assert!((n.variance(0.0, 10.0) - 0.25).abs() < 1e-4);
        let h = Prior::HalfNormal { scale: 2.0 };
        let want = (1.0 - 2.0 / std::f64::consts::PI) * 4.0;
        assert!((h.variance(0.0, 100.0) - want).abs() < 1e-3);
    }

    #[test]
    fn unusable_priors_are_named() {
        let e = Prior::LogNormal {
            mu: 0.0,
            sigma: 1.0,
        }
        .validate("D_offset_ref", -1.0, 1.0)
        .expect_err("refused");
        assert!(e.to_string().contains("D_offset_ref"));
        assert!(
            Prior::Normal {
                mean: 0.0,
                std: f64::NAN
            }
            .validate("v0", 0.0, 1.0)
            .is_err()
        );
    }
}

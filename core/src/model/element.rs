//! One c2 element, evaluated directly from the per-time factors (spec physics.md §5):
//! the reference, self and cross terms, the normalisation, and the exact gradient with
//! respect to all 14 physics parameters plus `contrast` and `offset`.
//!
//! This is the naive evaluator and the exact fallback of the fast one near the diagonal.

use super::factors::{FactorDerivs, TimeFactors};
use super::params::{CONTRAST, GRAD_LEN, OFFSET};

/// ε of `smooth_abs(x) = sqrt(x² + ε)` on the transport integrals, Å⁴.
pub const SMOOTH_ABS_EPS: f64 = 1e-12;
/// Lower clip of the half-transport exponent `−q²·I/2`.
pub const HALF_TRANSPORT_MIN: f64 = -700.0;
/// Floor of the normalisation (never active: the norm is ≥ 0.25).
const NORM_FLOOR: f64 = 1e-10;

/// Constants of one detector angle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AngleTerms {
    /// Phase wavevector `q·cos(Φ)`, 1/Å, with Φ = φ + phi0 in degrees.
    pub k: f64,
    /// ∂k/∂phi0, 1/(Å·degree).
    pub dk_dphi0: f64,
    /// Contrast of this angle.
    pub contrast: f64,
    /// Offset (baseline) of this angle.
    pub offset: f64,
}

impl AngleTerms {
    /// Terms for detector angle `phi_deg` and flow angle `phi0_deg` (both degrees).
    pub fn new(q: f64, phi_deg: f64, phi0_deg: f64, contrast: f64, offset: f64) -> Self {
        let deg = std::f64::consts::PI / 180.0;
        let big_phi = (phi_deg + phi0_deg) * deg;
        Self {
            k: q * big_phi.cos(),
            dk_dphi0: -q * big_phi.sin() * deg,
            contrast,
            offset,
        }
    }
}

/// `x/smooth_abs(x) = x/sqrt(x² + ε)`, ∂smooth_abs/∂x. Where x² ≥ 1e5 Å⁴ (all but the
/// cells next to the diagonal) the ε is below half an ulp of x², and sqrt(fl(x²)) = |x|
/// exactly, so the quotient is exactly ±1: the shortcut gives the same bits without a
/// square root and a division.
#[inline]
pub fn smooth_abs_slope(x: f64) -> f64 {
    let x2 = x * x;
    if x2 >= 1e5 {
        x.signum()
    } else {
        x / (x2 + SMOOTH_ABS_EPS).sqrt()
    }
}

/// `exp(clip(−q²·smooth_abs(x)/2, −700, 0))`, and whether the clip is active.
#[inline]
fn half_transport(q2: f64, x: f64) -> (f64, f64, bool) {
    let i = (x * x + SMOOTH_ABS_EPS).sqrt();
    let a = -0.5 * q2 * i;
    let clipped = a < HALF_TRANSPORT_MIN;
    (a.max(HALF_TRANSPORT_MIN).exp(), i, clipped)
}

/// c2 at grid times (i, j) for one angle, in the reference's evaluation order.
#[inline]
pub fn c2_element(f: &TimeFactors, q2: f64, a: &AngleTerms, i: usize, j: usize) -> f64 {
    let (hr, _, _) = half_transport(q2, f.c_r[j] - f.c_r[i]);
    let (hs, _, _) = half_transport(q2, f.c_s[j] - f.c_s[i]);
    let phase = a.k * (f.c_v[j] - f.c_v[i]);
    c2_value_from(f, a, i, j, hr, hs, phase.cos())
}

/// c2 at (i, j) from its half-transport factors and the cosine of its phase.
#[inline]
pub fn c2_value_from(
    f: &TimeFactors,
    a: &AngleTerms,
    i: usize,
    j: usize,
    hr: f64,
    hs: f64,
    cos: f64,
) -> f64 {
    let (fs_i, fs_j) = (f.f_s[i], f.f_s[j]);
    let (fr_i, fr_j) = (1.0 - fs_i, 1.0 - fs_j);
    let big_fr = fr_i * fr_j;
    let big_fs = fs_i * fs_j;
    let big_fx = (fr_i * fs_i) * (fr_j * fs_j);
    let reference = big_fr * big_fr * (hr * hr);
    let sample = big_fs * big_fs * (hs * hs);
    let cross = 2.0 * big_fx * hr * hs * cos;
    let norm = (fs_i * fs_i + fr_i * fr_i) * (fs_j * fs_j + fr_j * fr_j);
    let norm = if norm > NORM_FLOOR { norm } else { NORM_FLOOR };
    a.offset + a.contrast * ((reference + sample + cross) / norm)
}

/// The transcendental part of one element: half-transport factors, phase, and the
/// derivatives of the half-transport exponents with respect to the integral increments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellPrimitives {
    /// `exp(−q²·I_r/2)`.
    pub hr: f64,
    /// `exp(−q²·I_s/2)`.
    pub hs: f64,
    /// cos of the phase `k·(C_v[j] − C_v[i])`.
    pub cos: f64,
    /// sin of the phase.
    pub sin: f64,
    /// ∂(−q²·I_r/2)/∂(C_r(t_j) − C_r(t_i)).
    pub dar_dx: f64,
    /// ∂(−q²·I_s/2)/∂(C_s(t_j) − C_s(t_i)).
    pub das_dx: f64,
}

impl CellPrimitives {
    /// Evaluated directly at (i, j).
    #[inline]
    pub fn direct(f: &TimeFactors, q2: f64, a: &AngleTerms, i: usize, j: usize) -> Self {
        let xr = f.c_r[j] - f.c_r[i];
        let xs = f.c_s[j] - f.c_s[i];
        let (hr, ir, clip_r) = half_transport(q2, xr);
        let (hs, is, clip_s) = half_transport(q2, xs);
        let (sin, cos) = (a.k * (f.c_v[j] - f.c_v[i])).sin_cos();
        // Zero where the clip holds the exponent.
        Self {
            hr,
            hs,
            cos,
            sin,
            dar_dx: if clip_r { 0.0 } else { -0.5 * q2 * xr / ir },
            das_dx: if clip_s { 0.0 } else { -0.5 * q2 * xs / is },
        }
    }
}

/// c2 at (i, j) for one angle, and its gradient written into `grad` in the order of
/// [`super::params::grad_name`]: 14 physics parameters, `contrast`, `offset`.
#[inline]
pub fn c2_element_grad(
    f: &TimeFactors,
    d: &FactorDerivs,
    q2: f64,
    a: &AngleTerms,
    i: usize,
    j: usize,
    grad: &mut [f64; GRAD_LEN],
) -> f64 {
    c2_grad_from(f, d, a, i, j, &CellPrimitives::direct(f, q2, a, i, j), grad)
}

/// A cell's value and its sensitivities to the per-time quantities it is built from —
/// what a reverse-mode gradient accumulates instead of a full 16-entry gradient per cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellPartials {
    /// c2 at the cell.
    pub value: f64,
    /// The normalised correlation T (c2 = offset + contrast·T): ∂c2/∂contrast.
    pub t: f64,
    /// ∂c2/∂C_r(j) (= −∂c2/∂C_r(i)).
    pub dr: f64,
    /// ∂c2/∂C_s(j) (= −∂c2/∂C_s(i)).
    pub ds: f64,
    /// ∂c2/∂C_v(j) (= −∂c2/∂C_v(i)).
    pub dv: f64,
    /// ∂c2/∂phi0.
    pub dphi0: f64,
    /// ∂c2/∂f_s(i).
    pub dfs_i: f64,
    /// ∂c2/∂f_s(j).
    pub dfs_j: f64,
}

/// [`c2_grad_from`]'s value with the per-time partials instead of the parameter gradient
/// (the same formulas; ∂/∂θ follows as Σ_k adjoint(k)·∂C(k)/∂θ).
#[inline]
pub fn c2_partials_from(
    f: &TimeFactors,
    a: &AngleTerms,
    i: usize,
    j: usize,
    p: &CellPrimitives,
) -> CellPartials {
    let CellPrimitives {
        hr,
        hs,
        cos: cos_p,
        sin: sin_p,
        dar_dx,
        das_dx,
    } = *p;
    let v = f.c_v[j] - f.c_v[i];
    let (fs_i, fs_j) = (f.f_s[i], f.f_s[j]);
    let (fr_i, fr_j) = (1.0 - fs_i, 1.0 - fs_j);
    let (h_rr, h_ss, h_rs) = (hr * hr, hs * hs, hr * hs);
    let big_fr = fr_i * fr_j;
    let big_fs = fs_i * fs_j;
    let big_fx = (fr_i * fs_i) * (fr_j * fs_j);
    let reference = big_fr * big_fr * h_rr;
    let sample = big_fs * big_fs * h_ss;
    let cross = 2.0 * big_fx * h_rs * cos_p;
    let cross_sin = 2.0 * big_fx * h_rs * sin_p;
    // n(t) = f_s² + f_r² ≥ ½, so the norm never reaches its floor: per-time reciprocals.
    let inv_norm = f.inv_norm[i] * f.inv_norm[j];
    let t = (reference + sample + cross) * inv_norm;
    let c = a.contrast;
    let dt_dphase = -c * cross_sin * inv_norm;
    // Fraction: A = f_r², B = f_s², X = f_r·f_s, n = f_s² + f_r², f_r = 1 − f_s.
    let dt_dfs = |fr_a: f64, fs_a: f64, fr_b: f64, fs_b: f64, dlog_n_a: f64| {
        let dnum = -2.0 * fr_a * fr_b * fr_b * h_rr
            + 2.0 * fs_a * fs_b * fs_b * h_ss
            + 2.0 * (fr_a - fs_a) * fr_b * fs_b * h_rs * cos_p;
        c * (dnum * inv_norm - t * dlog_n_a)
    };
    CellPartials {
        value: a.offset + c * t,
        t,
        // Reference terms scale as h_r² (self) and h_r (cross): ∂T/∂a_r = (2·ref + cross)/norm.
        dr: c * (2.0 * reference + cross) * inv_norm * dar_dx,
        ds: c * (2.0 * sample + cross) * inv_norm * das_dx,
        dv: dt_dphase * a.k,
        dphi0: dt_dphase * v * a.dk_dphi0,
        dfs_i: dt_dfs(fr_i, fs_i, fr_j, fs_j, f.dlog_norm[i]),
        dfs_j: dt_dfs(fr_j, fs_j, fr_i, fs_i, f.dlog_norm[j]),
    }
}

/// The value and gradient of element (i, j) from its primitives (the chain rule through
/// [`c2_partials_from`]).
#[inline]
pub fn c2_grad_from(
    f: &TimeFactors,
    d: &FactorDerivs,
    a: &AngleTerms,
    i: usize,
    j: usize,
    p: &CellPrimitives,
    grad: &mut [f64; GRAD_LEN],
) -> f64 {
    let cp = c2_partials_from(f, a, i, j, p);
    for p in 0..3 {
        grad[p] = cp.dr * (d.dc_r[p][j] - d.dc_r[p][i]);
        grad[3 + p] = cp.ds * (d.dc_s[p][j] - d.dc_s[p][i]);
        grad[6 + p] = cp.dv * (d.dc_v[p][j] - d.dc_v[p][i]);
    }
    for p in 0..4 {
        grad[9 + p] = cp.dfs_i * d.df_s[p][i] + cp.dfs_j * d.df_s[p][j];
    }
    grad[13] = cp.dphi0;
    grad[CONTRAST] = cp.t;
    grad[OFFSET] = 1.0;
    cp.value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smooth_abs_slope_shortcut_gives_the_same_bits() {
        // A deterministic spread of magnitudes across the threshold and far above it.
        let mut x = 316.227_766_016_837_94; // √1e5
        for k in 0..20_000 {
            let v = if k % 2 == 0 { x } else { -x };
            let full = v / (v * v + SMOOTH_ABS_EPS).sqrt();
            assert_eq!(smooth_abs_slope(v).to_bits(), full.to_bits(), "x = {v}");
            x *= 1.000_731;
        }
        for v in [0.0, 1e-7, -3e-3, 2.5, -300.0] {
            let full = v / (v * v + SMOOTH_ABS_EPS).sqrt();
            assert_eq!(smooth_abs_slope(v).to_bits(), full.to_bits(), "x = {v}");
        }
    }
}

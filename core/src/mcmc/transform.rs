//! The sampler's coordinates: a bijection from ℝⁿ onto the box of fitted quantities, with
//! its log-Jacobian and exact derivatives.
//!
//! Every quantity not in a block below is mapped onto its bounds by a [`Clamp`] (linear
//! around the NLSQ optimum with the width of its prior, saturating near the bounds; see
//! [`super::clamp`] for why not a logistic). The blocks straighten the ridges of this model:
//!
//! - [`RateTriple`]: a rate `A0·t^e + B` (both transports, the velocity) through what the
//!   data see at a reference time — its value `J` and log-slope `s` at t_ref — and its
//!   offset `B`, clamped onto the part of B's range that keeps `A0` and `e` inside theirs;
//! - [`FractionBlock`]: the sample fraction `A·e^{f1·t} + f3` the same way (value, slope,
//!   `f3`), then `f2` along the exact f0–f2 ridge (`A = f0·e^{−f1·f2}` is all the data see);
//! - [`RidgePair`] (`power_law`, or the fraction when not all of f0–f3 vary): `L = ln a + k·y`
//!   and `y`, so that `a = exp(L − k·y)`.
//!
//! Every coordinate maps inside the box, so no step is rejected for leaving it.

use crate::error::{Error, Result};

use super::clamp::{self, Clamp};
use super::dual::Dual;

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
    /// The clamp of each quantity (its anchor and width), used wherever it is mapped alone
    /// and for the clamped coordinate of its block.
    clamps: Vec<Clamp>,
    pairs: Vec<RidgePair>,
    triples: Vec<RateTriple>,
    fraction: Option<FractionBlock>,
    /// Whether each index belongs to a pair, a triple or the fraction block.
    paired: Vec<bool>,
}

/// The sample fraction's raw value `f0·e^{f1(t−f2)} + f3 = A·e^{f1·t} + f3` with
/// `A = f0·e^{−f1·f2}`, sampled as [`RateTriple`] samples a rate: the value `V` and slope
/// `S` of `A·e^{f1·t} + f3` at t_ref and the offset `f3` (clamped onto what keeps f1 and f3
/// in their bounds), then `f2` clamped along the exact f0–f2 ridge onto the range that
/// keeps f0 in its bounds. `A` itself has no bounds (f2 reaches far), so this block has no
/// fold.
#[derive(Debug, Clone, PartialEq)]
pub struct FractionBlock {
    /// Indices of f0, f1, f2, f3.
    pub f: [usize; 4],
    /// Reference time t_ref, s.
    pub t_ref: f64,
    /// Widths of the ridge coordinate (see [`ridge_q`]): of the offset f3, and of the
    /// rate f1.
    pub scales: RidgeScales,
}

/// A rate `A0·t^e + B` (transport `D0, alpha, D_offset` or velocity `v0, beta, v_offset`)
/// sampled through what the data see at a reference time: `J = A0·t_ref^e + B` (the rate
/// at t_ref) and `s = e·A0·t_ref^e` (its log-slope), both unbounded, and the offset `B`
/// clamped onto the range that keeps `A0` and `e` inside their bounds given (J, s). How
/// the rate splits into power law and offset is the direction the data hardly constrain;
/// in (A0, e, B) it is a curved ridge (e = s/h, B = J − h with h = A0·t_ref^e), here it is
/// the one coordinate B, on which the priors are Gaussian — so the posterior along it is
/// as smooth as the prior. The map (J, s, h) → (A0, e, B) is a diffeomorphism for h > 0
/// (|∂(A0, e, B)/∂(J, s, h)| = A0/h²); `A0 ≥ lo` is one interval of h only on the branch
/// 1 + e·ln t_ref > 0, which the block keeps (it is used only when the NLSQ optimum lies
/// on it; for t_ref > 1 s, e > −1/ln t_ref).
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
    /// Widths of the ridge coordinate (see [`ridge_q`]): of the offset B and of the
    /// exponent e.
    pub scales: RidgeScales,
    /// For the velocity: the rate and slope are sampled as seen in the phase,
    /// `c(phi0)·(J, s)` (see [`PhaseScale`]).
    pub phase: Option<PhaseScale>,
    /// For messages, e.g. `D_ref(t_ref)`.
    pub label: String,
}

/// The data see the velocity only through the phase `q·cos(φ + phi0)·∫v`: with one
/// detector angle only `v·cos(φ + phi0)` is identified, a ridge that curves through
/// (v0, phi0). Sampling the velocity's rate and slope as `c(phi0)·(J, s)`, with
/// `c = √(mean over the angles of cos²(φ + phi0))`, straightens it (for several angles c
/// hardly moves and the map is nearly the identity).
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseScale {
    /// Index of phi0 (sampled on its own clamp).
    pub phi0: usize,
    /// The detector angles, degrees.
    pub phi: Vec<f64>,
}

impl PhaseScale {
    /// `c(phi0)` as a dual of phi0 (degrees).
    fn factor(&self, phi0: Dual) -> Dual {
        let deg = std::f64::consts::PI / 180.0;
        let n = self.phi.len().max(1) as f64;
        let (mut v, mut d) = (0.0, 0.0);
        for &p in &self.phi {
            let a = (p + phi0.v) * deg;
            let (sn, cs) = a.sin_cos();
            v += cs * cs / n;
            // d cos²/dphi0 = −2·cos·sin·deg.
            d += -2.0 * cs * sn * deg / n;
        }
        let c = v.sqrt();
        let dc = 0.5 * d / c;
        Dual {
            v: c,
            d: phi0.d.map(|x| x * dc),
        }
    }
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

/// Maps `u` onto `[a, b]` (either end may be infinite) by the logistic: the value and
/// ln |dx/du| (the identified combination of a [`RidgePair`]).
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

/// The `h > 0` on the branch `h + c·s > 0` where `ln h − c·s/h = a` (the power part of a
/// rate whose prefactor has logarithm `a`), as a dual in `s`
/// (∂h/∂s = c·h/(h + c·s)); `None` when no h on the branch reaches `a` from above (the
/// constraint `ln A0 ≥ a` then holds on the whole branch).
fn power_part(a: f64, s: Dual, c: f64) -> Option<Dual> {
    let cs = c * s.v;
    // G(y) = y − c·s·e^{−y} − a in y = ln h, increasing on the branch.
    let g = |y: f64| y - cs * (-y).exp() - a;
    let (mut lo, mut hi) = if cs >= 0.0 {
        // G(a) ≤ 0 and G(a + c·s·e^{−a}) ≥ 0.
        (a, a + (cs * (-a).exp()).min(1e3))
    } else {
        let y_min = (-cs).ln();
        if g(y_min) >= 0.0 {
            return None;
        }
        (y_min, a.max(y_min))
    };
    while g(hi) < 0.0 {
        hi += (hi - lo).max(1.0);
    }
    let mut y = 0.5 * (lo + hi);
    for _ in 0..200 {
        let gy = g(y);
        if gy < 0.0 {
            lo = y;
        } else {
            hi = y;
        }
        let dg = 1.0 + cs * (-y).exp();
        let newton = y - gy / dg;
        // Newton inside the bracket, else bisection.
        y = if dg > 0.0 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (hi - lo) <= 1e-15 * y.abs().max(1.0) || gy == 0.0 {
            break;
        }
    }
    let h = y.exp();
    let dh_ds = c * h / (h + cs);
    Some(Dual {
        v: h,
        d: s.d.map(|x| x * dh_ds),
    })
}

/// The widths that make a block's ridge coordinate [`ridge_q`] about one unit per
/// posterior standard deviation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RidgeScales {
    /// Width of the offset (B, or f3), in its units.
    pub offset: f64,
    /// Width of the exponent (e, or f1), in its units.
    pub exponent: f64,
}

/// The coordinate of a block's power part `h` (= J − B) along its ridge, at slope `s`:
/// `q = h/σ_B − |s|/(σ_e·h)`. Along the ridge (J and s fixed) the data see the exponent
/// `e = s/h` and the priors see the offset `B = J − h`; each is roughly Gaussian where it
/// dominates — small h (`q ≈ −|e|/σ_e`) and large h (`q ≈ h/σ_B`) — so q keeps both
/// Gaussian. A logarithm of h would turn the offset prior's Gaussian tail into a
/// double-exponential wall; h itself (or B) does the same to the data's constraint on e.
pub fn ridge_q(h: f64, s: f64, sc: RidgeScales) -> f64 {
    if s == 0.0 {
        h / sc.offset
    } else if h <= 0.0 {
        f64::NEG_INFINITY
    } else {
        h / sc.offset - s.abs() / (sc.exponent * h)
    }
}

fn ridge_q_dual(h: Dual, s: Dual, sc: RidgeScales) -> Dual {
    if s.v == 0.0 {
        h / Dual::constant(sc.offset)
    } else if h.v <= 0.0 {
        Dual::constant(f64::NEG_INFINITY)
    } else if h.v.is_infinite() {
        Dual::constant(f64::INFINITY)
    } else {
        let abs_s = if s.v < 0.0 { -s } else { s };
        h / Dual::constant(sc.offset) - abs_s / (Dual::constant(sc.exponent) * h)
    }
}

/// The `h` of `q` at slope `s` ([`ridge_q`] inverted: a quadratic in h), with its
/// derivatives, and ln ∂h/∂q.
fn ridge_h(q: Dual, s: Dual, sc: RidgeScales) -> (Dual, Dual) {
    let (sb, se) = (sc.offset, sc.exponent);
    let a = s.v.abs() / (sb * se);
    let root = (q.v * q.v + 4.0 * a).sqrt();
    // h = σ_B·(q + √(q² + 4a))/2, in the form without cancellation.
    let h = if q.v >= 0.0 {
        0.5 * sb * (q.v + root)
    } else {
        2.0 * a * sb / (root - q.v)
    };
    let sign = if s.v < 0.0 { -1.0 } else { 1.0 };
    // ∂q/∂h = 1/σ_B + |s|/(σ_e h²), ∂q/∂s = −sign(s)/(σ_e h).
    let dq_dh = 1.0 / sb + s.v.abs() / (se * h * h);
    let dq_ds = -sign / (se * h);
    let hd = Dual {
        v: h,
        d: std::array::from_fn(|k| (q.d[k] - dq_ds * s.d[k]) / dq_dh),
    };
    let abs_s = if s.v < 0.0 { -s } else { s };
    let dq_dh_dual = Dual::constant(1.0 / sb) + abs_s / (Dual::constant(se) * hd * hd);
    (hd, -dq_dh_dual.ln())
}

/// The clamp of a block's ridge coordinate: slope 1 (q is in posterior widths) around
/// the anchor's.
fn ridge_clamp(h0: f64, s0: f64, sc: RidgeScales) -> Clamp {
    Clamp {
        anchor: ridge_q(h0, s0, sc),
        scale: 1.0,
    }
}

impl Transform {
    /// `clamps[k]` onto `[lo[k], hi[k]]` for every quantity, plus `pairs`.
    pub fn new(
        lo: Vec<f64>,
        hi: Vec<f64>,
        clamps: Vec<Clamp>,
        pairs: Vec<RidgePair>,
    ) -> Result<Self> {
        let n = lo.len();
        let clamps_ok = clamps.len() == n
            && hi.len() == n
            && clamps
                .iter()
                .all(|c| c.anchor.is_finite() && c.scale.is_finite() && c.scale > 0.0);
        if !clamps_ok {
            return Err(Error::invalid(
                "reparameterization",
                "every quantity needs a finite anchor and a positive scale",
            ));
        }
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
            clamps,
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

    /// The same map with rate triples sampled as [`RateTriple`] says. A triple whose
    /// anchor (the NLSQ optimum) lies off the block's branch (1 + e·ln t_ref ≤ 0.05) keeps
    /// its three quantities clamped one by one; [`Transform::triples`] lists those in use.
    pub fn with_triples(mut self, triples: Vec<RateTriple>) -> Result<Self> {
        let n = self.lo.len();
        let mut used = Vec::new();
        for t in triples {
            let idx = [t.prefactor, t.exponent, t.offset];
            let phase_ok = t
                .phase
                .as_ref()
                .is_none_or(|p| p.phi0 < n && !idx.contains(&p.phi0) && !p.phi.is_empty());
            let ok = idx.iter().all(|&k| k < n && !self.paired[k])
                && phase_ok
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
            let (a0, e) = (
                self.clamps[t.prefactor].anchor,
                self.clamps[t.exponent].anchor,
            );
            if !(a0 > 0.0 && 1.0 + t.ln_t_ref * e > 0.05) {
                continue;
            }
            for k in idx {
                self.paired[k] = true;
            }
            used.push(t);
        }
        // phi0 must stay on its own clamp (it feeds the velocity's phase scale).
        if let Some(p) = used.iter().find_map(|t| t.phase.as_ref())
            && self.paired[p.phi0]
        {
            return Err(Error::invalid(
                "reparameterization",
                "phi0 feeds the velocity's phase scale and cannot be in a block",
            ));
        }
        self.triples = used;
        Ok(self)
    }

    /// The rate triples in use.
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

    /// Quantity `k` of coordinate `u` by its clamp onto its own bounds: (x, dx/du, ln dx/du,
    /// ∂ ln(dx/du)/∂u).
    fn boxed(&self, k: usize, u: f64) -> (f64, f64, f64, f64) {
        let (x, lj) = clamp::forward(
            Dual::input(u, 0),
            Dual::constant(self.lo[k]),
            Dual::constant(self.hi[k]),
            self.clamps[k],
        );
        (x.v, x.d[0], lj.v, lj.d[0])
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

    /// The range of the power part `h` of a rate with value `j` and slope `s` at t_ref
    /// that keeps its exponent `s/h` in `[e_lo, e_hi]`, its offset `j − h` in `[b_lo, b_hi]`
    /// and, with `prefactor = Some((ln lo, ln hi, c))`, its prefactor `h·e^{−c·s/h}` in
    /// `[lo, hi]` on the branch `h + c·s > 0`. Empty when the upper end is not above the
    /// lower.
    #[allow(clippy::too_many_arguments)]
    fn h_range(
        j: Dual,
        s: Dual,
        (e_lo, e_hi): (f64, f64),
        (b_lo, b_hi): (f64, f64),
        prefactor: Option<(f64, f64, f64)>,
    ) -> (Dual, Dual) {
        let empty = (Dual::constant(1.0), Dual::constant(0.0));
        let mut lo = Dual::constant(0.0);
        let mut hi = Dual::constant(f64::INFINITY);
        if b_hi.is_finite() {
            lo = lo.max(j - Dual::constant(b_hi));
        }
        if b_lo.is_finite() {
            hi = hi.min(j - Dual::constant(b_lo));
        }
        if s.v > 0.0 {
            if e_hi <= 0.0 {
                return empty;
            }
            lo = lo.max(s / Dual::constant(e_hi));
            if e_lo > 0.0 {
                hi = hi.min(s / Dual::constant(e_lo));
            }
        } else if s.v < 0.0 {
            if e_lo >= 0.0 {
                return empty;
            }
            lo = lo.max(s / Dual::constant(e_lo));
            if e_hi < 0.0 {
                hi = hi.min(s / Dual::constant(e_hi));
            }
        } else if e_lo > 0.0 || e_hi < 0.0 {
            return empty;
        }
        if let Some((ln_a_lo, ln_a_hi, c)) = prefactor {
            let cs = Dual::constant(c) * s;
            if cs.v < 0.0 {
                lo = lo.max(-cs);
            }
            if let Some(h) = power_part(ln_a_lo, s, c) {
                lo = lo.max(h);
            }
            if ln_a_hi.is_finite() {
                match power_part(ln_a_hi, s, c) {
                    Some(h) => hi = hi.min(h),
                    None => return empty,
                }
            }
        }
        (lo, hi)
    }

    /// The h range of triple `t` at (j, s).
    fn triple_h_range(&self, t: &RateTriple, j: Dual, s: Dual) -> (Dual, Dual) {
        let (lo, hi) = (&self.lo, &self.hi);
        Self::h_range(
            j,
            s,
            (lo[t.exponent], hi[t.exponent]),
            (lo[t.offset], hi[t.offset]),
            Some((lo[t.prefactor].ln(), hi[t.prefactor].ln(), t.ln_t_ref)),
        )
    }

    /// The h range of the fraction block at (v, s).
    fn fraction_h_range(&self, b: &FractionBlock, v: Dual, s: Dual) -> (Dual, Dual) {
        let [_, i1, _, i3] = b.f;
        Self::h_range(
            v,
            s,
            (self.lo[i1], self.hi[i1]),
            (self.lo[i3], self.hi[i3]),
            None,
        )
    }

    /// The power part h = A0·t_ref^e and slope s = e·h of a triple at its anchor.
    fn triple_anchor(&self, t: &RateTriple) -> (f64, f64) {
        let c = &self.clamps;
        let e = c[t.exponent].anchor;
        let h = c[t.prefactor].anchor * (t.ln_t_ref * e).exp();
        (h, e * h)
    }

    /// The fraction's power part h = f0·e^{f1·(t_ref − f2)} and slope S = f1·h at its
    /// anchor.
    fn fraction_anchor(&self, b: &FractionBlock) -> (f64, f64) {
        let c = &self.clamps;
        let [i0, i1, i2, _] = b.f;
        let f1 = c[i1].anchor;
        let h = c[i0].anchor * (f1 * (b.t_ref - c[i2].anchor)).exp();
        (h, f1 * h)
    }

    /// The ridge pair along which f2 moves with `A` fixed (`ln f0 = ln A + f1·f2`).
    fn fraction_pair(b: &FractionBlock) -> RidgePair {
        RidgePair {
            target: b.f[0],
            partner: b.f[2],
            slope: Slope::Const(0.0),
            label: String::new(),
        }
    }

    /// Quantities of `u`, with the log-Jacobian and its derivatives. A point whose blocks
    /// have no room (a rate value and slope that no quantity in the box produces) has a
    /// NaN log-Jacobian.
    pub fn forward(&self, u: &[f64]) -> Mapped {
        let n = self.dim();
        let mut x = vec![0.0; n];
        let mut grad = vec![0.0; n];
        let mut log_jac = 0.0;
        let mut entries = Vec::with_capacity(n + 4 * self.pairs.len() + 9 * self.triples.len());
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
            let (y, lj_y) = clamp::forward(
                Dual::input(u[p.partner], 1),
                y_lo,
                y_hi,
                self.clamps[p.partner],
            );
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
            // Slots: 0 = J, 1 = s, 2 = the offset's clamp coordinate, 3 = phi0's (for the
            // velocity's phase scale).
            let mut j = Dual::input(u[t.prefactor], 0);
            let mut sl = Dual::input(u[t.exponent], 1);
            let z = Dual::input(u[t.offset], 2);
            let mut lj_phase = Dual::constant(0.0);
            if let Some(ph) = &t.phase {
                let (v, dv, _, _) = self.boxed(ph.phi0, u[ph.phi0]);
                let mut phi0 = Dual::input(v, 3);
                phi0.d[3] = dv;
                let c = ph.factor(phi0);
                j = j / c;
                sl = sl / c;
                // (J', s') = c·(J, s): |∂(J, s)/∂(J', s')| = 1/c².
                lj_phase = -(Dual::constant(2.0) * c.ln());
            }
            let (h_lo, h_hi) = self.triple_h_range(t, j, sl);
            let nan = Dual::constant(f64::NAN);
            let (x_a, x_e, x_b, lj) = if h_hi.v > h_lo.v {
                let sc = t.scales;
                let (h0, s0) = self.triple_anchor(t);
                let (q, lj_q) = clamp::forward(
                    z,
                    ridge_q_dual(h_lo, sl, sc),
                    ridge_q_dual(h_hi, sl, sc),
                    ridge_clamp(h0, s0, sc),
                );
                let (h, ln_dh_dq) = ridge_h(q, sl, sc);
                let e = sl / h;
                let a0 = h * (-(Dual::constant(t.ln_t_ref) * e)).exp();
                // |∂(A0, e, B)/∂(J, s, h)| = A0/h², then dh/dq and dq/dz.
                let lj = lj_q + ln_dh_dq + a0.ln() - Dual::constant(2.0) * h.ln() + lj_phase;
                (a0, e, j - h, lj)
            } else {
                (nan, nan, nan, nan)
            };
            log_jac += lj.v;
            // Rounding at a saturated end may step 1 ulp outside: keep the box exact.
            let inside = |k: usize, v: f64| v.clamp(self.lo[k], self.hi[k]);
            x[t.prefactor] = inside(t.prefactor, x_a.v);
            x[t.exponent] = inside(t.exponent, x_e.v);
            x[t.offset] = inside(t.offset, x_b.v);
            let cols = [
                Some(t.prefactor),
                Some(t.exponent),
                Some(t.offset),
                t.phase.as_ref().map(|p| p.phi0),
            ];
            for (slot, col) in cols.into_iter().enumerate() {
                let Some(col) = col else { continue };
                grad[col] += lj.d[slot];
                entries.push((t.prefactor, col, x_a.d[slot]));
                entries.push((t.exponent, col, x_e.d[slot]));
                entries.push((t.offset, col, x_b.d[slot]));
            }
        }
        if let Some(b) = &self.fraction {
            let [i0, i1, i2, i3] = b.f;
            // Slots: 0 = V (at u[f3]), 1 = S (at u[f1]), 2 = f3's clamp coordinate (at
            // u[f0]), 3 = f2's (at u[f2]).
            let v = Dual::input(u[i3], 0);
            let sl = Dual::input(u[i1], 1);
            let z3 = Dual::input(u[i0], 2);
            let z2 = Dual::input(u[i2], 3);
            let (h_lo, h_hi) = self.fraction_h_range(b, v, sl);
            let mut out = [Dual::constant(f64::NAN); 4];
            let mut lj = Dual::constant(f64::NAN);
            if h_hi.v > h_lo.v {
                let sc = b.scales;
                let (h0, s0) = self.fraction_anchor(b);
                let (q, lj_q) = clamp::forward(
                    z3,
                    ridge_q_dual(h_lo, sl, sc),
                    ridge_q_dual(h_hi, sl, sc),
                    ridge_clamp(h0, s0, sc),
                );
                let (h, ln_dh_dq) = ridge_h(q, sl, sc);
                let f3 = v - h;
                let lj3 = lj_q + ln_dh_dq;
                let f1 = sl / h;
                let ln_a = h.ln() - Dual::constant(b.t_ref) * f1;
                let (ya, yb) = self.y_range(&Self::fraction_pair(b), ln_a, -f1);
                if yb.v > ya.v {
                    let (f2, lj2) = clamp::forward(z2, ya, yb, self.clamps[i2]);
                    let ln_f0 = ln_a + f1 * f2;
                    // |∂(f0, f1, f2, f3)/∂(V, S, z3, z2)| = |∂h/∂z3| · ∂f2/∂z2 · f0/h².
                    lj = lj3 + lj2 + ln_f0 - Dual::constant(2.0) * h.ln();
                    out = [ln_f0.exp(), f1, f2, f3];
                }
            }
            log_jac += lj.v;
            let cols = [i3, i1, i0, i2];
            for (q, &row) in b.f.iter().enumerate() {
                x[row] = out[q].v.clamp(self.lo[row], self.hi[row]);
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
            u[k] = clamp::inverse(x[k], self.lo[k], self.hi[k], self.clamps[k]);
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
            u[p.partner] = clamp::inverse(y, a.v, b.v, self.clamps[p.partner]);
        }
        if let Some(b) = &self.fraction {
            let [i0, i1, i2, i3] = b.f;
            let (f0, f1, f2, f3) = (x[i0].max(1e-300), x[i1], x[i2], x[i3]);
            let ln_a = f0.ln() - f1 * f2;
            let h = (ln_a + f1 * b.t_ref).exp();
            let (v, sl) = (h + f3, f1 * h);
            u[i3] = v;
            u[i1] = sl;
            let (h_lo, h_hi) = self.fraction_h_range(b, Dual::constant(v), Dual::constant(sl));
            let sc = b.scales;
            let (h0, s0) = self.fraction_anchor(b);
            u[i0] = clamp::inverse(
                ridge_q(h, sl, sc),
                ridge_q(h_lo.v, sl, sc),
                ridge_q(h_hi.v, sl, sc),
                ridge_clamp(h0, s0, sc),
            );
            let (ya, yb) = self.y_range(
                &Self::fraction_pair(b),
                Dual::constant(ln_a),
                Dual::constant(-f1),
            );
            u[i2] = clamp::inverse(f2, ya.v, yb.v, self.clamps[i2]);
        }
        for t in &self.triples {
            let (lo, hi) = (self.lo[t.prefactor], self.hi[t.prefactor]);
            let a0 = x[t.prefactor].clamp(lo, hi);
            let e = x[t.exponent];
            let h = a0 * (t.ln_t_ref * e).exp();
            let (j, sl) = (h + x[t.offset], e * h);
            let c = t
                .phase
                .as_ref()
                .map_or(1.0, |p| p.factor(Dual::constant(x[p.phi0])).v);
            u[t.prefactor] = c * j;
            u[t.exponent] = c * sl;
            let (h_lo, h_hi) = self.triple_h_range(t, Dual::constant(j), Dual::constant(sl));
            let sc = t.scales;
            let (h0, s0) = self.triple_anchor(t);
            u[t.offset] = clamp::inverse(
                ridge_q(h, sl, sc),
                ridge_q(h_lo.v, sl, sc),
                ridge_q(h_hi.v, sl, sc),
                ridge_clamp(h0, s0, sc),
            );
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

    /// Clamps anchored at `x` with a width of a quarter of the range, at most 1e3.
    fn clamps(x: &[f64], lo: &[f64], hi: &[f64]) -> Vec<Clamp> {
        x.iter()
            .zip(lo.iter().zip(hi))
            .map(|(&a, (&l, &h))| Clamp {
                anchor: a,
                scale: (0.25 * (h - l)).min(1e3),
            })
            .collect()
    }

    fn transform() -> Transform {
        // 0: f0 in [0, 1], 1: f1 in [−10, 10], 2: f2 in [−1e4, 1e4], 3: D0 in [100, 1e6],
        // 4: alpha in [−5, 5], 5: plain.
        let (lo, hi) = (
            vec![0.0, -10.0, -1e4, 100.0, -5.0, -1.0],
            vec![1.0, 10.0, 1e4, 1e6, 5.0, 2.0],
        );
        let c = clamps(&[0.4, 0.02, 25.0, 500.0, 0.1, 0.3], &lo, &hi);
        Transform::new(
            lo,
            hi,
            c,
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

    /// A rate triple on 3–5 (with the fraction pair on 0–2) at `x0`, t_ref = `t_ref`.
    fn triple_case(x0: Vec<f64>, t_ref: f64) -> (Transform, Vec<f64>) {
        let (lo, hi) = (
            vec![0.0, -10.0, -1e4, 100.0, -5.0, -1e5],
            vec![1.0, 10.0, 1e4, 1e6, 5.0, 1e5],
        );
        let c = clamps(&x0, &lo, &hi);
        let t = Transform::new(
            lo,
            hi,
            c,
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
                ln_t_ref: t_ref.ln(),
                scales: RidgeScales {
                    offset: 300.0,
                    exponent: 0.07,
                },
                phase: None,
                label: "D(t_ref)".into(),
            }])
        })
        .expect("transform");
        assert_eq!(t.triples().len(), 1);
        (t, x0)
    }

    /// The velocity triple on 3–5 with its phase scale from phi0 (index 0), two angles.
    fn velocity_case() -> (Transform, Vec<f64>) {
        let (lo, hi) = (
            vec![-10.0, -1.0, -1.0, 1e-6, -2.0, -100.0],
            vec![10.0, 1.0, 1.0, 1e4, 2.0, 100.0],
        );
        let x0 = vec![3.0, 0.3, -0.2, 50.0, 0.2, 5.0];
        let c = clamps(&x0, &lo, &hi);
        let t = Transform::new(lo, hi, c, Vec::new())
            .and_then(|t| {
                t.with_triples(vec![RateTriple {
                    prefactor: 3,
                    exponent: 4,
                    offset: 5,
                    ln_t_ref: 20f64.ln(),
                    scales: RidgeScales {
                        offset: 6.0,
                        exponent: 0.015,
                    },
                    phase: Some(PhaseScale {
                        phi0: 0,
                        phi: vec![0.0, 60.0],
                    }),
                    label: "v".into(),
                }])
            })
            .expect("transform");
        assert_eq!(t.triples().len(), 1);
        (t, x0)
    }

    /// The pair transform, rate triples (rising and falling rates, t_ref above and below
    /// 1 s) and the fraction block.
    fn cases() -> Vec<(Transform, Vec<f64>)> {
        let (lo, hi) = (
            vec![0.0, -10.0, -1e4, 0.0, -5.0, -1e5],
            vec![1.0, 10.0, 1e4, 1.0, 5.0, 1e5],
        );
        let x_f = vec![0.4, 0.02, 25.0, 0.1, 0.1, 10.0];
        let c = clamps(&x_f, &lo, &hi);
        let fraction = Transform::new(lo, hi, c, Vec::new())
            .and_then(|t| {
                t.with_fraction(Some(FractionBlock {
                    f: [0, 1, 2, 3],
                    t_ref: 5.0,
                    scales: RidgeScales {
                        offset: 0.02,
                        exponent: 7e-4,
                    },
                }))
            })
            .expect("transform");
        vec![
            (transform(), vec![0.4, 0.02, 25.0, 500.0, 0.1, 0.3]),
            triple_case(vec![0.4, 0.02, 25.0, 500.0, 0.1, 10.0], 5.0),
            triple_case(vec![0.4, 0.02, 25.0, 800.0, -0.3, -40.0], 5.0),
            triple_case(vec![0.4, 0.02, 25.0, 1.5e4, 0.2, 300.0], 0.087),
            (fraction, x_f),
            velocity_case(),
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
                    "{x0:?} pullback {j}: {} vs {d_lin}",
                    pull[j]
                );
                assert!(
                    (m.grad_log_jac[j] - d_jac).abs() <= 1e-6 * d_jac.abs().max(1.0),
                    "{x0:?} log-Jacobian {j}: {} vs {d_jac}",
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
            assert!((det - analytic).abs() < 1e-5, "{x0:?}: {det} vs {analytic}");
        }
    }

    #[test]
    fn a_rate_triple_maps_every_offset_coordinate_inside_the_box() {
        for (t, x0) in cases().into_iter().skip(1).take(3) {
            let u0 = t.inverse(&x0);
            for dz in [-60.0, -20.0, -5.0, -1.0, 0.0, 1.0, 5.0, 20.0, 60.0] {
                let mut u = u0.clone();
                u[5] += dz;
                let m = t.forward(&u);
                assert!(m.log_jac.is_finite(), "{x0:?} dz {dz}");
                for k in 3..6 {
                    assert!(
                        m.x[k] >= t.lo[k] && m.x[k] <= t.hi[k],
                        "{x0:?} dz {dz}: x[{k}] = {} outside [{}, {}]",
                        m.x[k],
                        t.lo[k],
                        t.hi[k]
                    );
                }
                // The rate and its log-slope at t_ref stay what J and s say.
                let c = t.triples()[0].ln_t_ref;
                let h = m.x[3] * (c * m.x[4]).exp();
                assert!((h + m.x[5] - u[3]).abs() < 1e-8 * u[3].abs().max(1.0));
                assert!((m.x[4] * h - u[4]).abs() < 1e-8 * u[4].abs().max(1.0));
            }
        }
    }

    #[test]
    fn a_triple_off_its_branch_is_left_to_the_clamps() {
        // alpha = −1 with t_ref = 5 s: 1 + alpha·ln t_ref < 0.
        let (lo, hi) = (vec![100.0, -5.0, -1e5], vec![1e6, 5.0, 1e5]);
        let c = clamps(&[500.0, -1.0, 10.0], &lo, &hi);
        let t = Transform::new(lo, hi, c, Vec::new())
            .and_then(|t| {
                t.with_triples(vec![RateTriple {
                    prefactor: 0,
                    exponent: 1,
                    offset: 2,
                    ln_t_ref: 5f64.ln(),
                    scales: RidgeScales {
                        offset: 300.0,
                        exponent: 0.07,
                    },
                    phase: None,
                    label: "D".into(),
                }])
            })
            .expect("transform");
        assert!(t.triples().is_empty());
    }

    #[test]
    fn bad_pairs_are_refused() {
        let pair = |target, partner| RidgePair {
            target,
            partner,
            slope: Slope::Const(1.0),
            label: "x".into(),
        };
        let c = vec![
            Clamp {
                anchor: 0.5,
                scale: 0.25
            };
            2
        ];
        let new = |lo: Vec<f64>, p| Transform::new(lo, vec![1.0, 1.0], c.clone(), vec![p]);
        assert!(new(vec![-1.0, 0.0], pair(0, 1)).is_err());
        assert!(new(vec![0.0, 0.0], pair(0, 0)).is_err());
        assert!(new(vec![0.0, 0.0], pair(0, 5)).is_err());
        let zero = vec![
            Clamp {
                anchor: 0.5,
                scale: 0.0
            };
            2
        ];
        assert!(Transform::new(vec![0.0; 2], vec![1.0; 2], zero, Vec::new()).is_err());
    }
}

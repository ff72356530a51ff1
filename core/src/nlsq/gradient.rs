//! χ² and its gradient by reverse mode: what a gradient-based sampler needs at every
//! leapfrog step (without the Gram matrix of the normal equations).
//!
//! Every cell adds its weighted residual ρ = W·r times its partials to adjoints of the
//! per-time quantities C_r, C_s, C_v and f_s; the parameter gradient then follows in O(N)
//! per parameter. Two ways to form those adjoints, equal to rounding:
//!
//! - **Separable** (one segment, see `model/separable.rs` — typical data): a cell's
//!   partials are sums of products `row(t_i)·col(t_j)` of per-time vectors (the reference,
//!   sample and cross terms, the cross term's phase split as
//!   `cos(a_j − a_i) = cos a_j cos a_i + sin a_j sin a_i`). So every adjoint is a
//!   combination of eight sums over the residual matrix — four row sums `Σ_j ρ_ij·v(t_j)`
//!   and four column sums `Σ_i ρ_ij·u(t_i)` — plus the ρ·T sums for the fraction. A cell
//!   then costs about twenty multiply-adds, four lanes wide, and no transcendental call.
//! - **Per cell** (several segments, or cells in the `smooth_abs` band next to the
//!   diagonal): each cell's partials from [`c2_partials_from`] along the row recurrences.
//!
//! Rows reduce in fixed groups, so results do not depend on the thread count.

use rayon::prelude::*;

use crate::exec::Par;
use crate::model::element::{CellPrimitives, c2_partials_from};
use crate::model::separable::{MAX_SEGMENT_EXPONENT, band_threshold};

use super::normal::Point;
use super::problem::{FitProblem, RowSpan};
use super::strategy::ROW_GROUP;

/// Rows per group of the separable path (more than [`ROW_GROUP`]: a group carries
/// per-time column sums, whose size does not grow with its rows).
const SEPARABLE_GROUP: usize = 64;

/// χ² (both triangles, including the asymmetry constant) and its half-gradient JᵀWr at
/// `x`.
pub fn chi2_and_gradient(problem: &FitProblem, x: &[f64], par: Par) -> (f64, Vec<f64>) {
    let pt = Point::new(problem, x, true);
    let (chi2, adj) = match single_segment(&pt) {
        true => {
            let fac = Factors::new(&pt);
            let (chi2, _, adj) = separable_adjoints(problem, &pt, &fac, par);
            (chi2, adj)
        }
        false => per_cell_adjoints(problem, &pt, par),
    };
    assemble(
        problem,
        &pt,
        chi2 + problem.constant.iter().sum::<f64>(),
        &adj,
    )
}

/// χ² per angle (both triangles, without the asymmetry constant), JᵀWr and the separable
/// factors at `pt`, when the model is one segment.
pub(crate) fn separable_residual_pass(
    problem: &FitProblem,
    pt: &Point,
    par: Par,
) -> Option<(Vec<f64>, Vec<f64>, Factors)> {
    if !single_segment(pt) {
        return None;
    }
    let fac = Factors::new(pt);
    let (chi2, per_angle, adj) = separable_adjoints(problem, pt, &fac, par);
    let (_, jtr) = assemble(problem, pt, chi2, &adj);
    Some((per_angle, jtr, fac))
}

/// Whether the split exponentials of `pt` stay within one segment (NaN spans do not).
fn single_segment(pt: &Point) -> bool {
    let f = &pt.factors;
    let n = f.len();
    let span = (f.c_r[n - 1] - f.c_r[0]).max(f.c_s[n - 1] - f.c_s[0]);
    pt.q2 * span <= MAX_SEGMENT_EXPONENT
}

/// Adjoint layout: `[C_r | C_s | C_v | f_s]` (n each), then per angle Σρ·T and Σρ, then
/// Σρ·∂c2/∂phi0.
fn adjoint_len(n: usize, n_phi: usize) -> usize {
    4 * n + 2 * n_phi + 1
}

/// Adds the exact partials of one cell (row `row`, column `j`, packed index `cell`) to
/// `adj`; returns its weighted squared residual.
#[inline]
fn add_cell(
    problem: &FitProblem,
    pt: &Point,
    row: &RowSpan,
    j: usize,
    cell: usize,
    prim: &CellPrimitives,
    adj: &mut [f64],
) -> f64 {
    let n = pt.factors.len();
    let n_phi = pt.angles.len();
    let cp = c2_partials_from(&pt.factors, &pt.angles[row.angle], row.i, j, prim);
    let w = problem.weight_of(row, j, cell);
    let r = cp.value - problem.data[cell];
    let wr = w * r;
    let i = row.i;
    adj[j] += wr * cp.dr;
    adj[i] -= wr * cp.dr;
    adj[n + j] += wr * cp.ds;
    adj[n + i] -= wr * cp.ds;
    adj[2 * n + j] += wr * cp.dv;
    adj[2 * n + i] -= wr * cp.dv;
    adj[3 * n + j] += wr * cp.dfs_j;
    adj[3 * n + i] += wr * cp.dfs_i;
    adj[4 * n + row.angle] += wr * cp.t;
    adj[4 * n + n_phi + row.angle] += wr;
    adj[4 * n + 2 * n_phi] += wr * cp.dphi0;
    wr * r
}

/// Every cell's partials, along the row recurrences.
fn per_cell_adjoints(problem: &FitProblem, pt: &Point, par: Par) -> (f64, Vec<f64>) {
    let (n, n_phi) = (pt.factors.len(), pt.angles.len());
    let group = |rows: &[RowSpan]| {
        let mut chi2 = 0.0;
        let mut adj = vec![0.0; adjoint_len(n, n_phi)];
        for row in rows {
            pt.walk_row(row, |c, j, prim| {
                chi2 += add_cell(problem, pt, row, j, row.offset + c, prim, &mut adj);
            });
        }
        (chi2, adj)
    };
    let parts: Vec<(f64, Vec<f64>)> = if par.is_parallel() {
        problem.rows.par_chunks(ROW_GROUP).map(group).collect()
    } else {
        problem.rows.chunks(ROW_GROUP).map(group).collect()
    };
    sum_parts(n, n_phi, parts)
}

fn sum_parts(n: usize, n_phi: usize, parts: Vec<(f64, Vec<f64>)>) -> (f64, Vec<f64>) {
    let mut chi2 = 0.0;
    let mut adj = vec![0.0; adjoint_len(n, n_phi)];
    for (c, part) in parts {
        chi2 += c;
        for (a, b) in adj.iter_mut().zip(part) {
            *a += b;
        }
    }
    (chi2, adj)
}

/// The parameter gradient from the adjoints.
fn assemble(problem: &FitProblem, pt: &Point, chi2: f64, adj: &[f64]) -> (f64, Vec<f64>) {
    let (n, n_phi) = (pt.factors.len(), pt.angles.len());
    let p = problem.n_params();
    let nv = problem.vary_idx.len();
    let d = pt
        .factors
        .derivs
        .as_ref()
        .expect("derivatives were requested");
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let (ar, as_, av, af) = (
        &adj[..n],
        &adj[n..2 * n],
        &adj[2 * n..3 * n],
        &adj[3 * n..4 * n],
    );
    let mut g = vec![0.0; p];
    for (k, &idx) in problem.vary_idx.iter().enumerate() {
        g[k] = match idx {
            0..=2 => dot(ar, &d.dc_r[idx]),
            3..=5 => dot(as_, &d.dc_s[idx - 3]),
            6..=8 => dot(av, &d.dc_v[idx - 6]),
            9..=12 => dot(af, &d.df_s[idx - 9]),
            _ => adj[4 * n + 2 * n_phi],
        };
    }
    for angle in 0..n_phi {
        let bc = &problem.scaling.b_contrast[angle];
        let bo = &problem.scaling.b_offset[angle];
        for (s, b) in bc.iter().enumerate() {
            g[nv + s] += adj[4 * n + angle] * b;
        }
        for (s, b) in bo.iter().enumerate() {
            g[nv + bc.len() + s] += adj[4 * n + n_phi + angle] * b;
        }
    }
    (chi2, g)
}

/// The per-time factors of the separable form (one segment), for every angle.
pub(crate) struct Factors {
    /// Row vectors u0..u3 (reference, sample, cross·cos, cross·sin) per angle, without
    /// contrast or the cross term's 2.
    pub(crate) row: Vec<[Vec<f64>; 4]>,
    /// Column vectors v0..v3 per angle.
    pub(crate) col: Vec<[Vec<f64>; 4]>,
    /// ∂u/∂f_s and ∂v/∂f_s at fixed normalisation (the ∂ ln n/∂f_s part is separate),
    /// per angle.
    pub(crate) drow: Vec<[Vec<f64>; 4]>,
    /// Column analogue of `drow`.
    pub(crate) dcol: Vec<[Vec<f64>; 4]>,
}

impl Factors {
    pub(crate) fn new(pt: &Point) -> Self {
        let f = &pt.factors;
        let (n, q2) = (f.len(), pt.q2);
        let mut base = [(); 12].map(|_| vec![0.0; n]);
        for t in 0..n {
            let fs = f.f_s[t];
            let fr = 1.0 - fs;
            let inv_n = f.inv_norm[t];
            let er = (q2 * (f.c_r[t] - f.c_r[0])).exp();
            let es = (q2 * (f.c_s[t] - f.c_s[0])).exp();
            let ex = (er * es).sqrt();
            let (wr, ws, wx) = (fr * fr * inv_n, fs * fs * inv_n, fr * fs * inv_n);
            let (dwr, dws, dwx) = (-2.0 * fr * inv_n, 2.0 * fs * inv_n, (fr - fs) * inv_n);
            let values = [
                wr * er,
                ws * es,
                wx * ex,
                wr / er,
                ws / es,
                wx / ex,
                dwr * er,
                dws * es,
                dwx * ex,
                dwr / er,
                dws / es,
                dwx / ex,
            ];
            for (v, x) in base.iter_mut().zip(values) {
                v[t] = x;
            }
        }
        let [rr, rs, rx, cr, cs, cx, drr, drs, drx, dcr, dcs, dcx] = base;
        let mut row = Vec::new();
        let mut col = Vec::new();
        let mut drow = Vec::new();
        let mut dcol = Vec::new();
        for a in &pt.angles {
            let (sin, cos): (Vec<f64>, Vec<f64>) =
                f.c_v.iter().map(|&cv| (a.k * cv).sin_cos()).unzip();
            let times = |x: &[f64], y: &[f64]| -> Vec<f64> {
                x.iter().zip(y).map(|(a, b)| a * b).collect()
            };
            row.push([rr.clone(), rs.clone(), times(&rx, &cos), times(&rx, &sin)]);
            col.push([cr.clone(), cs.clone(), times(&cx, &cos), times(&cx, &sin)]);
            drow.push([
                drr.clone(),
                drs.clone(),
                times(&drx, &cos),
                times(&drx, &sin),
            ]);
            dcol.push([
                dcr.clone(),
                dcs.clone(),
                times(&dcx, &cos),
                times(&dcx, &sin),
            ]);
        }
        Self {
            row,
            col,
            drow,
            dcol,
        }
    }
}

/// What one group of rows produces.
struct GroupSums {
    chi2: f64,
    /// The same χ² by angle (summed separately: the total keeps its own order).
    chi2_angle: Vec<f64>,
    /// Exact contributions of band cells, and the per-angle Σρ·T, Σρ (adjoint layout).
    adj: Vec<f64>,
    /// Per angle: column sums C0..C3 and Σ_i ρ·T, each of length n (empty when the group
    /// has no row of that angle).
    cols: Vec<[Vec<f64>; 5]>,
    /// Per row of the group: (angle, i, R0..R3, Σ_j ρ·T).
    rows: Vec<(usize, usize, [f64; 5])>,
}

/// The separable path (one segment: see [`single_segment`]): χ², χ² by angle, adjoints.
fn separable_adjoints(
    problem: &FitProblem,
    pt: &Point,
    fac: &Factors,
    par: Par,
) -> (f64, Vec<f64>, Vec<f64>) {
    let f = &pt.factors;
    let (n, n_phi, q2) = (f.len(), pt.angles.len(), pt.q2);
    let tau = band_threshold(q2);
    let group = |rows: &[RowSpan]| -> GroupSums {
        let mut out = GroupSums {
            chi2: 0.0,
            chi2_angle: vec![0.0; n_phi],
            adj: vec![0.0; adjoint_len(n, n_phi)],
            cols: vec![Default::default(); n_phi],
            rows: Vec::with_capacity(rows.len()),
        };
        for row in rows {
            let (i, a) = (row.i, row.angle);
            // The smooth_abs band: a prefix of the row (C is non-decreasing).
            let jb = pt.band_end(row, tau);
            for j in row.j_start..jb {
                let prim = CellPrimitives::direct(f, q2, &pt.angles[a], i, j);
                let cell = row.offset + (j - row.j_start);
                let c = add_cell(problem, pt, row, j, cell, &prim, &mut out.adj);
                out.chi2 += c;
                out.chi2_angle[a] += c;
            }
            if jb == row.j_end {
                continue;
            }
            let cols = &mut out.cols[a];
            if cols[0].is_empty() {
                for c in cols.iter_mut() {
                    c.resize(n, 0.0);
                }
            }
            let first = row.offset + (jb - row.j_start);
            let m = row.j_end - jb;
            let weights = problem.weight.as_ref().map(|w| &w[first..first + m]);
            let sums = separable_row(
                fac,
                a,
                i,
                jb,
                &problem.data[first..first + m],
                weights,
                pt.angles[a].contrast,
                pt.angles[a].offset,
                cols,
            );
            out.chi2 += sums.0;
            out.chi2_angle[a] += sums.0;
            out.adj[4 * n + a] += sums.1[4];
            out.adj[4 * n + n_phi + a] += sums.2;
            out.rows.push((a, i, sums.1));
        }
        out
    };
    let parts: Vec<GroupSums> = if par.is_parallel() {
        problem
            .rows
            .par_chunks(SEPARABLE_GROUP)
            .map(group)
            .collect()
    } else {
        problem.rows.chunks(SEPARABLE_GROUP).map(group).collect()
    };
    // Sum the groups in order.
    let mut chi2 = 0.0;
    let mut chi2_angle = vec![0.0; n_phi];
    let mut adj = vec![0.0; adjoint_len(n, n_phi)];
    let mut col_sums = vec![vec![[0.0; 5]; n]; n_phi];
    let mut row_sums = vec![vec![[0.0; 5]; n]; n_phi];
    for part in parts {
        chi2 += part.chi2;
        for (x, y) in chi2_angle.iter_mut().zip(&part.chi2_angle) {
            *x += y;
        }
        for (x, y) in adj.iter_mut().zip(&part.adj) {
            *x += y;
        }
        for (total, cols) in col_sums.iter_mut().zip(&part.cols) {
            if cols[0].is_empty() {
                continue;
            }
            for (t, sums) in total.iter_mut().enumerate() {
                for k in 0..5 {
                    sums[k] += cols[k][t];
                }
            }
        }
        for (a, i, r) in part.rows {
            for k in 0..5 {
                row_sums[a][i][k] += r[k];
            }
        }
    }
    // The adjoints from the sums (see the module docs; S_* are Σρ·term over a time's
    // column (as the later time) or row (as the earlier)).
    let mut phi0 = 0.0;
    for (a, ang) in pt.angles.iter().enumerate() {
        let (u, v, du, dv) = (&fac.row[a], &fac.col[a], &fac.drow[a], &fac.dcol[a]);
        let c = ang.contrast;
        let kr = -0.5 * q2 * c;
        for t in 0..n {
            let [c0, c1, c2, c3, ct] = col_sums[a][t];
            let [r0, r1, r2, r3, rt] = row_sums[a][t];
            let ref_col = v[0][t] * c0;
            let ref_row = u[0][t] * r0;
            let samp_col = v[1][t] * c1;
            let samp_row = u[1][t] * r1;
            let cc_col = v[2][t] * c2 + v[3][t] * c3;
            let cc_row = u[2][t] * r2 + u[3][t] * r3;
            let cs_col = v[3][t] * c2 - v[2][t] * c3;
            let cs_row = u[2][t] * r3 - u[3][t] * r2;
            adj[t] += kr * 2.0 * ((ref_col + cc_col) - (ref_row + cc_row));
            adj[n + t] += kr * 2.0 * ((samp_col + cc_col) - (samp_row + cc_row));
            adj[2 * n + t] += -c * ang.k * 2.0 * (cs_col - cs_row);
            phi0 += -c * ang.dk_dphi0 * 2.0 * f.c_v[t] * (cs_col - cs_row);
            let dlog_n = f.dlog_norm[t];
            let as_row =
                du[0][t] * r0 + du[1][t] * r1 + 2.0 * (du[2][t] * r2 + du[3][t] * r3) - dlog_n * rt;
            let as_col =
                dv[0][t] * c0 + dv[1][t] * c1 + 2.0 * (dv[2][t] * c2 + dv[3][t] * c3) - dlog_n * ct;
            adj[3 * n + t] += c * (as_row + as_col);
        }
    }
    adj[4 * n + 2 * n_phi] += phi0;
    (chi2, chi2_angle, adj)
}

/// One row's separable cells (columns `jb..`): returns Σ W·r², the row sums
/// [R0, R1, R2, R3, Σρ·T] and Σρ, and adds the column sums into `cols` (indexed by
/// column).
#[allow(clippy::too_many_arguments)]
fn separable_row(
    fac: &Factors,
    a: usize,
    i: usize,
    jb: usize,
    data: &[f64],
    weights: Option<&[f64]>,
    contrast: f64,
    offset: f64,
    cols: &mut [Vec<f64>; 5],
) -> (f64, [f64; 5], f64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe {
            match weights {
                Some(w) => {
                    separable_row_avx2::<true>(fac, a, i, jb, data, w, contrast, offset, cols)
                }
                None => {
                    separable_row_avx2::<false>(fac, a, i, jb, data, &[], contrast, offset, cols)
                }
            }
        };
    }
    match weights {
        Some(w) => separable_row_body::<true>(fac, a, i, jb, data, w, contrast, offset, cols),
        None => separable_row_body::<false>(fac, a, i, jb, data, &[], contrast, offset, cols),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn separable_row_avx2<const WEIGHTED: bool>(
    fac: &Factors,
    a: usize,
    i: usize,
    jb: usize,
    data: &[f64],
    weights: &[f64],
    contrast: f64,
    offset: f64,
    cols: &mut [Vec<f64>; 5],
) -> (f64, [f64; 5], f64) {
    separable_row_body::<WEIGHTED>(fac, a, i, jb, data, weights, contrast, offset, cols)
}

/// Lanes of the row loop's partial sums (independent chains the compiler can vectorise).
const LANES: usize = 4;

/// The row loop. `WEIGHTED`: cell weights from `weights`, else the unit weight 2 of an
/// off-diagonal pair (both triangles). Rust never contracts `a·b + c` into an FMA, so the
/// AVX2 build gives the same bits.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn separable_row_body<const WEIGHTED: bool>(
    fac: &Factors,
    a: usize,
    i: usize,
    jb: usize,
    data: &[f64],
    weights: &[f64],
    contrast: f64,
    offset: f64,
    cols: &mut [Vec<f64>; 5],
) -> (f64, [f64; 5], f64) {
    let m = data.len();
    let u = &fac.row[a];
    let v = &fac.col[a];
    let (u0, u1, u2, u3) = (u[0][i], u[1][i], u[2][i], u[3][i]);
    let (a2, a3) = (2.0 * u2, 2.0 * u3);
    let (v0, v1, v2, v3) = (
        &v[0][jb..jb + m],
        &v[1][jb..jb + m],
        &v[2][jb..jb + m],
        &v[3][jb..jb + m],
    );
    let weights = if WEIGHTED { &weights[..m] } else { &[][..] };
    let [c0, c1, c2, c3, ct] = cols;
    let (c0, c1, c2, c3, ct) = (
        &mut c0[jb..jb + m],
        &mut c1[jb..jb + m],
        &mut c2[jb..jb + m],
        &mut c3[jb..jb + m],
        &mut ct[jb..jb + m],
    );
    // Lane sums of χ², R0..R3, Σρ·T, Σρ: independent chains, in a fixed order.
    let mut s_chi2 = [0.0; LANES];
    let mut s_r0 = [0.0; LANES];
    let mut s_r1 = [0.0; LANES];
    let mut s_r2 = [0.0; LANES];
    let mut s_r3 = [0.0; LANES];
    let mut s_t = [0.0; LANES];
    let mut s_w = [0.0; LANES];
    let full = m - m % LANES;
    let mut k0 = 0;
    // Whole statements over four lanes at a time, which the compiler turns into one
    // vector instruction each.
    let lanes = |x: &[f64], k0: usize| -> [f64; LANES] {
        let mut out = [0.0; LANES];
        out.copy_from_slice(&x[k0..k0 + LANES]);
        out
    };
    while k0 < full {
        let (x0, x1, x2, x3, d) = (
            lanes(v0, k0),
            lanes(v1, k0),
            lanes(v2, k0),
            lanes(v3, k0),
            lanes(data, k0),
        );
        let w = if WEIGHTED {
            lanes(weights, k0)
        } else {
            [2.0; LANES]
        };
        let mut t = [0.0; LANES];
        let mut rho = [0.0; LANES];
        let mut r = [0.0; LANES];
        for l in 0..LANES {
            t[l] = u0 * x0[l] + u1 * x1[l] + (a2 * x2[l] + a3 * x3[l]);
        }
        for l in 0..LANES {
            r[l] = (offset + contrast * t[l]) - d[l];
        }
        for l in 0..LANES {
            rho[l] = w[l] * r[l];
        }
        for l in 0..LANES {
            s_chi2[l] += rho[l] * r[l];
        }
        for l in 0..LANES {
            s_r0[l] += rho[l] * x0[l];
        }
        for l in 0..LANES {
            s_r1[l] += rho[l] * x1[l];
        }
        for l in 0..LANES {
            s_r2[l] += rho[l] * x2[l];
        }
        for l in 0..LANES {
            s_r3[l] += rho[l] * x3[l];
        }
        for l in 0..LANES {
            s_t[l] += rho[l] * t[l];
        }
        for l in 0..LANES {
            s_w[l] += rho[l];
        }
        for (c, u) in [
            (&mut *c0, u0),
            (&mut *c1, u1),
            (&mut *c2, u2),
            (&mut *c3, u3),
        ] {
            for l in 0..LANES {
                c[k0 + l] += rho[l] * u;
            }
        }
        for l in 0..LANES {
            ct[k0 + l] += rho[l] * t[l];
        }
        k0 += LANES;
    }
    for k in full..m {
        let t = u0 * v0[k] + u1 * v1[k] + (a2 * v2[k] + a3 * v3[k]);
        let r = (offset + contrast * t) - data[k];
        let rho = if WEIGHTED { weights[k] * r } else { 2.0 * r };
        s_chi2[0] += rho * r;
        s_r0[0] += rho * v0[k];
        s_r1[0] += rho * v1[k];
        s_r2[0] += rho * v2[k];
        s_r3[0] += rho * v3[k];
        s_t[0] += rho * t;
        s_w[0] += rho;
        c0[k] += rho * u0;
        c1[k] += rho * u1;
        c2[k] += rho * u2;
        c3[k] += rho * u3;
        ct[k] += rho * t;
    }
    let total = |x: [f64; LANES]| (x[0] + x[1]) + (x[2] + x[3]);
    (
        total(s_chi2),
        [
            total(s_r0),
            total(s_r1),
            total(s_r2),
            total(s_r3),
            total(s_t),
        ],
        total(s_w),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlsq::test_problem::test_problem;
    use crate::nlsq::{PerAngleMode, ResidualSupport};

    fn problem(weights: bool) -> (FitProblem, Vec<f64>) {
        test_problem(
            40,
            ResidualSupport::default(),
            PerAngleMode::Individual,
            weights,
        )
    }

    #[test]
    fn the_separable_path_equals_the_per_cell_path() {
        for weights in [false, true] {
            let (p, x) = problem(weights);
            let pt = Point::new(&p, &x, true);
            assert!(single_segment(&pt));
            let fac = Factors::new(&pt);
            let (c, _, a) = separable_adjoints(&p, &pt, &fac, Par::Seq);
            let fast = (c, a);
            let slow = per_cell_adjoints(&p, &pt, Par::Seq);
            assert!(
                (fast.0 - slow.0).abs() <= 1e-12 * slow.0.abs(),
                "χ² {} vs {}",
                fast.0,
                slow.0
            );
            let (_, gf) = assemble(&p, &pt, fast.0, &fast.1);
            let (_, gs) = assemble(&p, &pt, slow.0, &slow.1);
            let scale = gs.iter().fold(0.0_f64, |m, g| m.max(g.abs()));
            for (k, (a, b)) in gf.iter().zip(&gs).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1e-6 * scale),
                    "weights {weights}, gradient {k}: {a} vs {b}"
                );
            }
            // Threads change nothing.
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .expect("pool");
            let par = pool.install(|| chi2_and_gradient(&p, &x, Par::threads(2)));
            assert_eq!(par, chi2_and_gradient(&p, &x, Par::Seq));
        }
    }
}

//! JᵀWJ by separable blocks: the Gauss–Newton matrix without a Jacobian row per cell.
//!
//! Off the `smooth_abs` band every Jacobian column of one angle is a short sum of outer
//! products of per-time vectors (see `gradient.rs` for the factors): the transport and
//! velocity columns are `Σ_τ u_τ(t_i)·v_τ(t_j)·(g(t_j) − g(t_i))` (two terms per τ once the
//! difference is split), the fraction columns `Σ_τ u'_τ(t_i)h(t_i)·v_τ(t_j) + u_τ(t_i)·v'_τ(t_j)h(t_j)`,
//! contrast `T` itself and the offset the constant 1. Writing every column as
//! `Σ_s A_s(t_i)·B_s(t_j)` over R terms (R ≤ 89), the Gram entry of two columns is
//!
//! ```text
//! Σ_{cells} W·J_θ·J_φ = W · Σ_{s∈θ, t∈φ} M_st,   M_st = Σ_i A_s(i)A_t(i) · Σ_{j ≥ b(i)} B_s(j)B_t(j)
//! ```
//!
//! where `b(i)` is the first column of row i past the band. The inner sums are suffix
//! sums over columns, so one sweep over the columns (adding `B(j)B(j)ᵀ`) and over the rows
//! (adding `(A(i)A(i)ᵀ) ∘ S`) gives M in O(n·R²) per angle — instead of O(n²·P²) for the
//! per-cell Gram. Cells in the band (and the diagonal, when the support keeps it) add
//! their exact per-cell outer products.
//!
//! Requirements: unit cell weights (W = 2 off the diagonal), one segment (the factors of
//! `gradient.rs`), rows that run to the last column. Otherwise the caller uses the
//! per-cell path (`normal.rs`).
//!
//! Determinism: the columns are cut into fixed blocks of [`BLOCK`] (not by thread count);
//! each block's sweep starts from the suffix sum of the blocks after it, and the blocks'
//! results are summed in order — the same bits for any number of threads.

use rayon::prelude::*;

use crate::exec::Par;
use crate::model::element::{CellPrimitives, c2_grad_from};
use crate::model::params::{CONTRAST, GRAD_LEN, OFFSET};

use super::gradient::Factors;
use super::normal::Point;
use super::problem::{FitProblem, RowSpan};

/// Columns per block of the sweep.
pub(crate) const BLOCK: usize = 128;

/// Most rank-one terms of one angle: 6 per transport parameter, 4 per velocity
/// parameter and phi0, 8 per fraction parameter, 4 for contrast, 1 for the offset.
pub(crate) const MAX_TERMS: usize = 6 * 6 + 4 * 4 + 8 * 4 + 4 + 1;

/// The rank-one terms of one angle: `A` and `B` as `[time][term]`, and the gradient index
/// (0..16) each term belongs to.
struct Terms {
    r: usize,
    a: Vec<f64>,
    b: Vec<f64>,
    owner: Vec<usize>,
}

impl Terms {
    fn new(pt: &Point, fac: &Factors, angle: usize, wanted: &[bool; GRAD_LEN]) -> Self {
        let f = &pt.factors;
        let d = f.derivs.as_ref().expect("derivatives were requested");
        let n = f.len();
        let ang = &pt.angles[angle];
        let (u, v, du, dv) = (
            &fac.row[angle],
            &fac.col[angle],
            &fac.drow[angle],
            &fac.dcol[angle],
        );
        let c = ang.contrast;
        let q2 = pt.q2;
        // Each term: (owner, A over time, B over time).
        let mut list: Vec<(usize, Vec<f64>, Vec<f64>)> = Vec::new();
        let map = |x: &dyn Fn(usize) -> f64| (0..n).map(x).collect::<Vec<f64>>();
        // g(j) − g(i) split into two terms with scale `k`: k·x(i)·(y·g)(j) − k·(x·g)(i)·y(j).
        let diff = |list: &mut Vec<(usize, Vec<f64>, Vec<f64>)>,
                    owner: usize,
                    k: f64,
                    x: &[f64],
                    y: &[f64],
                    g: &[f64]| {
            list.push((owner, map(&|t| k * x[t]), map(&|t| y[t] * g[t])));
            list.push((owner, map(&|t| -k * x[t] * g[t]), y.to_vec()));
        };
        // Transport: ∂c2/∂C(j) = −q²c·(u0v0 + u2v2 + u3v3) (reference; sample with u1v1).
        for (group, own, dc) in [(0usize, 0usize, &d.dc_r), (1, 3, &d.dc_s)] {
            for p in 0..3 {
                if !wanted[own + p] {
                    continue;
                }
                for tau in [group, 2, 3] {
                    diff(&mut list, own + p, -q2 * c, &u[tau], &v[tau], &dc[p]);
                }
            }
        }
        // Velocity and phi0: −2c·k·(u2v3 − u3v2)·(g(j) − g(i)), with k = q cos Φ for the
        // velocity (g = ∂C_v/∂θ) and ∂k/∂phi0 for phi0 (g = C_v).
        let phase =
            |list: &mut Vec<(usize, Vec<f64>, Vec<f64>)>, owner: usize, k: f64, g: &[f64]| {
                diff(list, owner, -2.0 * c * k, &u[2], &v[3], g);
                diff(list, owner, 2.0 * c * k, &u[3], &v[2], g);
            };
        for p in 0..3 {
            if wanted[6 + p] {
                phase(&mut list, 6 + p, ang.k, &d.dc_v[p]);
            }
        }
        if wanted[13] {
            phase(&mut list, 13, ang.dk_dphi0, &f.c_v);
        }
        // Fraction: c·Σ_τ κ_τ [u'_τ(i)h(i)·v_τ(j) + u_τ(i)·v'_τ(j)h(j)], u' = du − u·∂ln n/∂f_s.
        let kappa = [1.0, 1.0, 2.0, 2.0];
        let dlog = &f.dlog_norm;
        for p in 0..4 {
            if !wanted[9 + p] {
                continue;
            }
            let h = &d.df_s[p];
            for tau in 0..4 {
                let (ut, vt, dut, dvt, kt) = (&u[tau], &v[tau], &du[tau], &dv[tau], kappa[tau]);
                list.push((
                    9 + p,
                    map(&|t| c * kt * (dut[t] - dlog[t] * ut[t]) * h[t]),
                    vt.clone(),
                ));
                list.push((
                    9 + p,
                    map(&|t| c * kt * ut[t]),
                    map(&|t| (dvt[t] - dlog[t] * vt[t]) * h[t]),
                ));
            }
        }
        if wanted[CONTRAST] {
            for tau in 0..4 {
                let kt = kappa[tau];
                list.push((CONTRAST, map(&|t| kt * u[tau][t]), v[tau].clone()));
            }
        }
        if wanted[OFFSET] {
            list.push((OFFSET, vec![1.0; n], vec![1.0; n]));
        }
        let r = list.len();
        let mut a = vec![0.0; n * r];
        let mut b = vec![0.0; n * r];
        for (s, (_, xa, xb)) in list.iter().enumerate() {
            for t in 0..n {
                a[t * r + s] = xa[t];
                b[t * r + s] = xb[t];
            }
        }
        Self {
            r,
            a,
            b,
            owner: list.iter().map(|(o, _, _)| *o).collect(),
        }
    }
}

/// `acc[s][t] += x[s]·x[t]` over the upper triangle (t ≥ s), row-major R×R.
#[inline(always)]
fn add_outer(acc: &mut [f64], x: &[f64], r: usize) {
    for s in 0..r {
        let xs = x[s];
        let row = &mut acc[s * r + s..(s + 1) * r];
        for (o, &xt) in row.iter_mut().zip(&x[s..r]) {
            *o += xs * xt;
        }
    }
}

/// `m[s][t] += w·x[s]·x[t]·sum[s][t]` over the upper triangle.
#[inline(always)]
fn add_masked(m: &mut [f64], x: &[f64], sum: &[f64], w: f64, r: usize) {
    for s in 0..r {
        let xs = w * x[s];
        let row = &mut m[s * r + s..(s + 1) * r];
        let srow = &sum[s * r + s..(s + 1) * r];
        for ((o, &xt), &st) in row.iter_mut().zip(&x[s..r]).zip(srow) {
            *o += xs * xt * st;
        }
    }
}

fn sweep_block(
    terms: &Terms,
    tail: &[f64],
    cols: std::ops::Range<usize>,
    rows: &[(usize, usize)],
) -> Vec<f64> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { sweep_block_avx2(terms, tail, cols, rows) };
    }
    sweep_block_body(terms, tail, cols, rows)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sweep_block_avx2(
    terms: &Terms,
    tail: &[f64],
    cols: std::ops::Range<usize>,
    rows: &[(usize, usize)],
) -> Vec<f64> {
    sweep_block_body(terms, tail, cols, rows)
}

/// One block of columns, right to left: `S` starts as the suffix sum of the later blocks
/// (`tail`) and gains `B(j)B(j)ᵀ`; each row whose separable part starts at column `j`
/// (`rows`: (first column, row time), by decreasing first column) adds `(A(i)A(i)ᵀ) ∘ S`.
/// Returns this block's M (upper triangle).
#[inline(always)]
fn sweep_block_body(
    terms: &Terms,
    tail: &[f64],
    cols: std::ops::Range<usize>,
    rows: &[(usize, usize)],
) -> Vec<f64> {
    let r = terms.r;
    let mut s = tail.to_vec();
    let mut m = vec![0.0; r * r];
    let mut next = 0;
    for j in cols.rev() {
        add_outer(&mut s, &terms.b[j * r..(j + 1) * r], r);
        while next < rows.len() && rows[next].0 == j {
            let i = rows[next].1;
            add_masked(&mut m, &terms.a[i * r..(i + 1) * r], &s, 2.0, r);
            next += 1;
        }
    }
    m
}

/// Per-angle 16×16 Gram in gradient space (both triangles counted: W = 2 per pair), from
/// the separable part of `rows` (all of angle `angle`, with their band ends `jb`).
fn angle_gram(
    terms: &Terms,
    n: usize,
    rows: &[(usize, usize)],
    par: Par,
) -> [[f64; GRAD_LEN]; GRAD_LEN] {
    let r = terms.r;
    let blocks: Vec<std::ops::Range<usize>> = (0..n.div_ceil(BLOCK))
        .map(|k| k * BLOCK..((k + 1) * BLOCK).min(n))
        .collect();
    // Σ B Bᵀ per block, then suffix sums: the S each block starts from.
    let block_sum = |cols: &std::ops::Range<usize>| {
        let mut s = vec![0.0; r * r];
        for j in cols.clone() {
            add_outer(&mut s, &terms.b[j * r..(j + 1) * r], r);
        }
        s
    };
    let sums: Vec<Vec<f64>> = if par.is_parallel() {
        blocks.par_iter().map(block_sum).collect()
    } else {
        blocks.iter().map(block_sum).collect()
    };
    let mut tails = vec![vec![0.0; r * r]; blocks.len()];
    for k in (0..blocks.len().saturating_sub(1)).rev() {
        let (head, rest) = tails.split_at_mut(k + 1);
        for ((t, next), add) in head[k].iter_mut().zip(&rest[0]).zip(&sums[k + 1]) {
            *t = next + add;
        }
    }
    // Rows by decreasing first separable column, cut at the block edges.
    let mut order: Vec<(usize, usize)> = rows.to_vec();
    order.sort_by(|x, y| y.0.cmp(&x.0).then(y.1.cmp(&x.1)));
    let run = |k: usize| {
        let cols = &blocks[k];
        let lo = order.partition_point(|x| x.0 >= cols.end);
        let hi = order.partition_point(|x| x.0 >= cols.start);
        sweep_block(terms, &tails[k], cols.clone(), &order[lo..hi])
    };
    let parts: Vec<Vec<f64>> = if par.is_parallel() {
        (0..blocks.len()).into_par_iter().map(run).collect()
    } else {
        (0..blocks.len()).map(run).collect()
    };
    let mut m = vec![0.0; r * r];
    for part in &parts {
        for (x, y) in m.iter_mut().zip(part) {
            *x += y;
        }
    }
    let mut g = [[0.0; GRAD_LEN]; GRAD_LEN];
    for s in 0..r {
        for t in s..r {
            let (os, ot) = (terms.owner[s], terms.owner[t]);
            let v = m[s * r + t];
            g[os][ot] += v;
            if s != t {
                g[ot][os] += v;
            }
        }
    }
    g
}

/// JᵀWJ (row-major P×P) at the point `pt`, whose single-segment factors are `fac`. The
/// caller has checked the problem's form (`normal::separable_form`: unit weights, rows
/// reaching the last column).
pub(crate) fn gram(
    problem: &FitProblem,
    pt: &Point,
    fac: &Factors,
    tau: f64,
    par: Par,
) -> Vec<f64> {
    let f = &pt.factors;
    let d = f.derivs.as_ref().expect("derivatives were requested");
    let n = f.len();
    let n_phi = pt.angles.len();
    let p = problem.n_params();
    let nv = problem.vary_idx.len();
    let mut wanted = [false; GRAD_LEN];
    for &k in &problem.vary_idx {
        wanted[k] = true;
    }
    let nc = problem.scaling.n_contrast();
    let mut jtj = vec![0.0; p * p];
    for a in 0..n_phi {
        let bc = &problem.scaling.b_contrast[a];
        let bo = &problem.scaling.b_offset[a];
        let mut want = wanted;
        want[CONTRAST] = bc.iter().any(|&x| x != 0.0);
        want[OFFSET] = bo.iter().any(|&x| x != 0.0);
        let rows: Vec<&RowSpan> = problem.rows.iter().filter(|r| r.angle == a).collect();
        if rows.is_empty() {
            continue;
        }
        let terms = Terms::new(pt, fac, a, &want);
        // Band prefixes: exact cells; the rest of each row goes to the sweep.
        let mut sep = Vec::with_capacity(rows.len());
        let mut g = [[0.0; GRAD_LEN]; GRAD_LEN];
        let mut grad = [0.0; GRAD_LEN];
        for row in &rows {
            let i = row.i;
            let jb = pt.band_end(row, tau);
            for j in row.j_start..jb {
                let prim = CellPrimitives::direct(f, pt.q2, &pt.angles[a], i, j);
                c2_grad_from(f, d, &pt.angles[a], i, j, &prim, &mut grad);
                let w = problem.weight_of(row, j, row.offset + (j - row.j_start));
                for u in 0..GRAD_LEN {
                    for v in 0..GRAD_LEN {
                        g[u][v] += w * grad[u] * grad[v];
                    }
                }
            }
            if jb < row.j_end {
                sep.push((jb, i));
            }
        }
        let gs = angle_gram(&terms, n, &sep, par);
        for u in 0..GRAD_LEN {
            for v in 0..GRAD_LEN {
                g[u][v] += gs[u][v];
            }
        }
        // Gradient space → optimiser vector: physics by position, scaling by its basis.
        let mut map: Vec<Vec<(usize, f64)>> = vec![Vec::new(); GRAD_LEN];
        for (pos, &k) in problem.vary_idx.iter().enumerate() {
            map[k].push((pos, 1.0));
        }
        for (s, &b) in bc.iter().enumerate() {
            map[CONTRAST].push((nv + s, b));
        }
        for (s, &b) in bo.iter().enumerate() {
            map[OFFSET].push((nv + nc + s, b));
        }
        for th in 0..GRAD_LEN {
            for ph in 0..GRAD_LEN {
                let v = g[th][ph];
                if v == 0.0 {
                    continue;
                }
                for &(x, bx) in &map[th] {
                    for &(y, by) in &map[ph] {
                        jtj[x * p + y] += bx * v * by;
                    }
                }
            }
        }
    }
    // Exact symmetry: the upper triangle stands for both (its sums are in a different
    // order from the lower's), as in the per-cell path.
    for u in 0..p {
        for v in 0..u {
            jtj[u * p + v] = jtj[v * p + u];
        }
    }
    jtj
}

#[cfg(test)]
mod tests {
    use crate::exec::Par;
    use crate::nlsq::normal::normal_equations;
    use crate::nlsq::test_problem::test_problem;
    use crate::nlsq::{FitProblem, PerAngleMode, ResidualSupport, Strategy};

    fn problem(n: usize, support: ResidualSupport, mode: PerAngleMode) -> (FitProblem, Vec<f64>) {
        test_problem(n, support, mode, false)
    }

    #[test]
    fn the_separable_gram_equals_the_per_cell_gram() {
        let supports = [
            ResidualSupport::default(),
            ResidualSupport {
                skip_first_frame: false,
                include_diagonal: true,
            },
        ];
        for (n, support, mode) in [
            (40, supports[0], PerAngleMode::Individual),
            (40, supports[1], PerAngleMode::Individual),
            (300, supports[0], PerAngleMode::Averaged),
            (300, supports[1], PerAngleMode::Fourier),
        ] {
            let (p, x) = problem(n, support, mode);
            let k = p.n_params();
            let slow = normal_equations(&p, &x, Strategy::Streaming, 1024, Par::Seq);
            let fast = normal_equations(&p, &x, Strategy::Separable, 1024, Par::Seq);
            for u in 0..k {
                for v in 0..k {
                    let (a, b) = (fast.jtj[u * k + v], slow.jtj[u * k + v]);
                    // Relative to the geometric mean of the diagonals (a correlation scale).
                    let scale = (slow.jtj[u * k + u] * slow.jtj[v * k + v]).sqrt();
                    assert!(
                        (a - b).abs() <= 1e-10 * scale,
                        "n {n}, {support:?}, JᵀJ[{u}][{v}]: {a} vs {b} (scale {scale})"
                    );
                }
                let (a, b) = (fast.jtr[u], slow.jtr[u]);
                // The per-cell path walks each row by recurrences (a few ulps per step).
                let scale = (slow.jtj[u * k + u] * slow.chi2()).sqrt();
                assert!(
                    (a - b).abs() <= 1e-9 * scale,
                    "Jᵀr[{u}]: {a} vs {b} (scale {scale})"
                );
            }
            // χ² against the direct evaluation of every cell (the per-cell path's row
            // recurrences carry the diagonal's smooth_abs ε along a row that starts on it).
            let direct = crate::nlsq::normal::chi2_per_angle(&p, &x, Par::Seq);
            for (a, b) in fast.chi2_per_angle.iter().zip(&direct) {
                assert!(
                    (a - b).abs() <= 1e-12 * b,
                    "n {n}, {support:?}: χ² {a} vs {b}"
                );
            }
            // Threads change nothing.
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .expect("pool");
            let par = pool
                .install(|| normal_equations(&p, &x, Strategy::Separable, 1024, Par::threads(2)));
            assert_eq!(par, fast);
        }
    }
}

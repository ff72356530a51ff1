//! The normal equations of one parameter vector: JᵀWJ, JᵀWr and χ², accumulated over the
//! packed cells row by row in a fixed order (see [`super::strategy`]), in parallel when
//! the caller grants threads. Also the χ²-only pass used to judge trial steps.

use rayon::prelude::*;

use crate::exec::Par;
use crate::model::element::{CellPrimitives, c2_element, c2_grad_from, smooth_abs_slope};
use crate::model::params::{CONTRAST, GRAD_LEN, OFFSET};
use crate::model::{AngleTerms, TimeFactors};

use super::problem::{FitProblem, RowSpan};
use super::strategy::{ROW_GROUP, Strategy};
use super::{gradient, gram};
use crate::model::separable::band_threshold;

/// JᵀWJ (full symmetric, row-major P×P), JᵀWr, and χ² split by angle.
#[derive(Debug, Clone, PartialEq)]
pub struct Normal {
    /// P×P, row-major.
    pub jtj: Vec<f64>,
    /// P.
    pub jtr: Vec<f64>,
    /// χ² per angle, both triangles, including the asymmetry constant.
    pub chi2_per_angle: Vec<f64>,
}

impl Normal {
    fn zeros(p: usize, n_phi: usize) -> Self {
        Self {
            jtj: vec![0.0; p * p],
            jtr: vec![0.0; p],
            chi2_per_angle: vec![0.0; n_phi],
        }
    }

    fn add(&mut self, other: &Normal) {
        for (a, b) in self.jtj.iter_mut().zip(&other.jtj) {
            *a += b;
        }
        for (a, b) in self.jtr.iter_mut().zip(&other.jtr) {
            *a += b;
        }
        for (a, b) in self.chi2_per_angle.iter_mut().zip(&other.chi2_per_angle) {
            *a += b;
        }
    }

    /// Total χ².
    pub fn chi2(&self) -> f64 {
        self.chi2_per_angle.iter().sum()
    }
}

/// What one evaluation needs: the model factors and per-angle terms at `x`, and the
/// per-step factors of the row recurrences.
pub(crate) struct Point {
    pub(crate) factors: TimeFactors,
    pub(crate) angles: Vec<AngleTerms>,
    pub(crate) q2: f64,
    /// `exp(−q²(C_r[j+1] − C_r[j])/2)`, and the sample analogue.
    step_r: Vec<f64>,
    step_s: Vec<f64>,
    /// Per angle: cos and sin of `k·(C_v[j+1] − C_v[j])`.
    rot: Vec<(Vec<f64>, Vec<f64>)>,
}

impl Point {
    pub(crate) fn new(problem: &FitProblem, x: &[f64], derivatives: bool) -> Self {
        let (params, scaling) = problem.unpack(x);
        let model = &problem.model;
        let angles: Vec<AngleTerms> = model
            .phi()
            .iter()
            .zip(scaling.contrast.iter().zip(&scaling.offset))
            .map(|(&phi, (&c, &o))| AngleTerms::new(model.q(), phi, params.phi0, c, o))
            .collect();
        let factors = TimeFactors::new(model.grid(), &params, derivatives);
        let q2 = model.q() * model.q();
        let step = |c: &[f64]| -> Vec<f64> {
            c.windows(2)
                .map(|w| (-0.5 * q2 * (w[1] - w[0])).exp())
                .collect()
        };
        let step_r = step(&factors.c_r);
        let step_s = step(&factors.c_s);
        let rot = angles
            .iter()
            .map(|a| {
                factors
                    .c_v
                    .windows(2)
                    .map(|w| {
                        let (s, c) = (a.k * (w[1] - w[0])).sin_cos();
                        (c, s)
                    })
                    .unzip()
            })
            .collect();
        Self {
            factors,
            angles,
            q2,
            step_r,
            step_s,
            rot,
        }
    }

    /// End (exclusive) of `row`'s `smooth_abs` band below the transport increment `tau`:
    /// the prefix of its cells the separable forms evaluate directly (C is
    /// non-decreasing, so the band is one run from the row's first column).
    pub(crate) fn band_end(&self, row: &RowSpan, tau: f64) -> usize {
        let (f, i) = (&self.factors, row.i);
        let near = |j: usize| f.c_r[j] - f.c_r[i] < tau || f.c_s[j] - f.c_s[i] < tau;
        (row.j_start..row.j_end)
            .find(|&j| !near(j))
            .unwrap_or(row.j_end)
    }

    /// Calls `visit(cell, j, primitives)` for every cell of `row`. The first cell is
    /// evaluated directly; the rest advance by the recurrences
    /// `h(j+1) = h(j)·exp(−q²ΔC/2)` and a rotation of (cos, sin) by `k·ΔC_v` — no
    /// transcendental call per cell, at a relative cost of a few ulps per step.
    #[inline]
    pub(crate) fn walk_row(
        &self,
        row: &RowSpan,
        mut visit: impl FnMut(usize, usize, &CellPrimitives),
    ) {
        let f = &self.factors;
        let a = &self.angles[row.angle];
        let (rc, rs) = &self.rot[row.angle];
        let i = row.i;
        let mut p = CellPrimitives::direct(f, self.q2, a, i, row.j_start);
        visit(0, row.j_start, &p);
        for j in row.j_start + 1..row.j_end {
            p.hr *= self.step_r[j - 1];
            p.hs *= self.step_s[j - 1];
            let (c, s) = (p.cos, p.sin);
            p.cos = c * rc[j - 1] - s * rs[j - 1];
            p.sin = s * rc[j - 1] + c * rs[j - 1];
            let xr = f.c_r[j] - f.c_r[i];
            let xs = f.c_s[j] - f.c_s[i];
            p.dar_dx = -0.5 * self.q2 * smooth_abs_slope(xr);
            p.das_dx = -0.5 * self.q2 * smooth_abs_slope(xs);
            visit(j - row.j_start, j, &p);
        }
    }
}

/// The weighted Jacobian block of one row, column-major `[column][cell]`: P parameter
/// columns, then the weighted residuals. Its Gram matrix holds JᵀWJ, JᵀWr and χ².
struct RowBlock {
    g: Vec<f64>,
    m: usize,
}

impl RowBlock {
    fn new() -> Self {
        Self {
            g: Vec::new(),
            m: 0,
        }
    }
}

/// Columns of a row block for P parameters.
fn block_cols(p: usize) -> usize {
    p + 1
}

/// Fills `block` for `row`, four lanes wide where the CPU has AVX2 (same bits: Rust
/// never contracts to FMA).
fn row_block(problem: &FitProblem, pt: &Point, row: &RowSpan, block: &mut RowBlock) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { row_block_avx2(problem, pt, row, block) };
    }
    row_block_body(problem, pt, row, block);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn row_block_avx2(problem: &FitProblem, pt: &Point, row: &RowSpan, block: &mut RowBlock) {
    row_block_body(problem, pt, row, block);
}

#[inline(always)]
fn row_block_body(problem: &FitProblem, pt: &Point, row: &RowSpan, block: &mut RowBlock) {
    let p = problem.n_params();
    let m = row.j_end - row.j_start;
    let cols = block_cols(p);
    block.m = m;
    block.g.clear();
    block.g.resize(cols * m, 0.0);
    let d = pt
        .factors
        .derivs
        .as_ref()
        .expect("derivatives were requested");
    let a = &pt.angles[row.angle];
    let nv = problem.vary_idx.len();
    let bc = &problem.scaling.b_contrast[row.angle];
    let bo = &problem.scaling.b_offset[row.angle];
    let mut grad = [0.0; GRAD_LEN];
    let g = &mut block.g;
    pt.walk_row(row, |c, j, prim| {
        let cell = row.offset + c;
        let value = c2_grad_from(&pt.factors, d, a, row.i, j, prim, &mut grad);
        let sw = problem.weight_of(row, j, cell).sqrt();
        g[p * m + c] = sw * (value - problem.data[cell]);
        for (k, &idx) in problem.vary_idx.iter().enumerate() {
            g[k * m + c] = sw * grad[idx];
        }
        for (s, b) in bc.iter().enumerate() {
            g[(nv + s) * m + c] = sw * grad[CONTRAST] * b;
        }
        for (s, b) in bo.iter().enumerate() {
            g[(nv + bc.len() + s) * m + c] = sw * grad[OFFSET] * b;
        }
    });
}

/// Adds one row block to `acc` (AVX2 where available, same bits).
fn reduce_row(block: &RowBlock, p: usize, angle: usize, acc: &mut Normal) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { reduce_row_avx2(block, p, angle, acc) };
    }
    reduce_row_body(block, p, angle, acc);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn reduce_row_avx2(block: &RowBlock, p: usize, angle: usize, acc: &mut Normal) {
    reduce_row_body(block, p, angle, acc);
}

#[inline(always)]
fn reduce_row_body(block: &RowBlock, p: usize, angle: usize, acc: &mut Normal) {
    let m = block.m;
    let col = |c: usize| &block.g[c * m..(c + 1) * m];
    for u in 0..=p {
        let gu = col(u);
        for v in u..=p {
            let s = dot(gu, col(v));
            if v < p {
                acc.jtj[u * p + v] += s;
            } else if u < p {
                acc.jtr[u] += s;
            } else {
                acc.chi2_per_angle[angle] += s;
            }
        }
    }
}

/// Dot product with eight independent partial sums in a fixed order: the compiler keeps
/// them in SIMD registers (one running sum serialises on the add latency and cannot be
/// vectorised without reordering), and the result is the same whatever the thread count
/// or the strategy.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let chunks = n / 8;
    for c in 0..chunks {
        let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0;
    for k in chunks * 8..n {
        tail += a[k] * b[k];
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

fn finish(problem: &FitProblem, mut total: Normal) -> Normal {
    let p = problem.n_params();
    for u in 0..p {
        for v in 0..u {
            total.jtj[u * p + v] = total.jtj[v * p + u];
        }
    }
    for (c, k) in total.chi2_per_angle.iter_mut().zip(&problem.constant) {
        *c += k;
    }
    total
}

/// Whether `problem` has the form the separable Gram needs (unit weights, every row
/// running to the last column); a point may still fall outside it (several segments).
pub fn separable_form(problem: &FitProblem) -> bool {
    let n = problem.model.grid().n;
    problem.weight.is_none() && problem.rows.iter().all(|r| r.j_end == n)
}

/// The separable path: χ² and JᵀWr from the row-sum pass, JᵀWJ from the sweep.
fn separable_normal(problem: &FitProblem, pt: &Point, par: Par) -> Option<Normal> {
    if !separable_form(problem) {
        return None;
    }
    let (mut chi2_per_angle, jtr, fac) = gradient::separable_residual_pass(problem, pt, par)?;
    let jtj = gram::gram(problem, pt, &fac, band_threshold(pt.q2), par);
    for (c, k) in chi2_per_angle.iter_mut().zip(&problem.constant) {
        *c += k;
    }
    Some(Normal {
        jtj,
        jtr,
        chi2_per_angle,
    })
}

/// JᵀWJ, JᵀWr and χ² at `x` with `strategy` (not `Auto`; resolve it first).
pub fn normal_equations(
    problem: &FitProblem,
    x: &[f64],
    strategy: Strategy,
    chunk_size: usize,
    par: Par,
) -> Normal {
    let pt = Point::new(problem, x, true);
    let strategy = match strategy {
        Strategy::Separable => match separable_normal(problem, &pt, par) {
            Some(normal) => return normal,
            None => Strategy::Chunked,
        },
        s => s,
    };
    let p = problem.n_params();
    let n_phi = problem.model.phi().len();
    let groups: Vec<&[RowSpan]> = problem.rows.chunks(ROW_GROUP).collect();
    let group_normal = |rows: &[RowSpan], block: &mut RowBlock| {
        let mut acc = Normal::zeros(p, n_phi);
        for row in rows {
            row_block(problem, &pt, row, block);
            reduce_row(block, p, row.angle, &mut acc);
        }
        acc
    };
    let partials: Vec<Normal> = match strategy {
        Strategy::Dense | Strategy::Auto | Strategy::Separable => {
            // Materialise every row's block first, then reduce them in the same order.
            let make = |row: &RowSpan| {
                let mut b = RowBlock::new();
                row_block(problem, &pt, row, &mut b);
                b
            };
            let blocks: Vec<RowBlock> = if par.is_parallel() {
                problem.rows.par_iter().map(make).collect()
            } else {
                problem.rows.iter().map(make).collect()
            };
            let reduce = |(bs, rows): (&[RowBlock], &[RowSpan])| {
                let mut acc = Normal::zeros(p, n_phi);
                for (b, row) in bs.iter().zip(rows) {
                    reduce_row(b, p, row.angle, &mut acc);
                }
                acc
            };
            if par.is_parallel() {
                blocks
                    .par_chunks(ROW_GROUP)
                    .zip(problem.rows.par_chunks(ROW_GROUP))
                    .map(reduce)
                    .collect()
            } else {
                blocks
                    .chunks(ROW_GROUP)
                    .zip(problem.rows.chunks(ROW_GROUP))
                    .map(reduce)
                    .collect()
            }
        }
        Strategy::Chunked => {
            // Tasks of about `chunk_size` cells (whole groups), each with one block buffer.
            let cells_per_group = (problem.n_cells() / groups.len().max(1)).max(1);
            let per_task = (chunk_size / cells_per_group).max(1);
            let run = |task: &[&[RowSpan]]| {
                let mut block = RowBlock::new();
                task.iter()
                    .map(|rows| group_normal(rows, &mut block))
                    .collect::<Vec<_>>()
            };
            if par.is_parallel() {
                groups.par_chunks(per_task).flat_map_iter(run).collect()
            } else {
                groups.chunks(per_task).flat_map(run).collect()
            }
        }
        Strategy::Streaming => {
            let run = |rows: &&[RowSpan]| {
                let mut block = RowBlock::new();
                group_normal(rows, &mut block)
            };
            if par.is_parallel() {
                groups.par_iter().map(run).collect()
            } else {
                groups.iter().map(run).collect()
            }
        }
    };
    let mut total = Normal::zeros(p, n_phi);
    for part in &partials {
        total.add(part);
    }
    finish(problem, total)
}

/// χ² per angle at `x` (both triangles, including the asymmetry constant), every cell
/// evaluated directly in the reference's order: the figure a fit reports.
pub fn chi2_per_angle(problem: &FitProblem, x: &[f64], par: Par) -> Vec<f64> {
    let pt = Point::new(problem, x, false);
    let n_phi = problem.model.phi().len();
    let group = |rows: &[RowSpan]| {
        let mut acc = vec![0.0; n_phi];
        for row in rows {
            let a = &pt.angles[row.angle];
            let mut s = 0.0;
            for (c, j) in (row.j_start..row.j_end).enumerate() {
                let cell = row.offset + c;
                let r = c2_element(&pt.factors, pt.q2, a, row.i, j) - problem.data[cell];
                s += problem.weight_of(row, j, cell) * r * r;
            }
            acc[row.angle] += s;
        }
        acc
    };
    let partials: Vec<Vec<f64>> = if par.is_parallel() {
        problem.rows.par_chunks(ROW_GROUP).map(group).collect()
    } else {
        problem.rows.chunks(ROW_GROUP).map(group).collect()
    };
    let mut total = problem.constant.clone();
    for part in partials {
        for (t, v) in total.iter_mut().zip(part) {
            *t += v;
        }
    }
    total
}

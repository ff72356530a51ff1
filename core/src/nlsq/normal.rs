//! The normal equations of one parameter vector: JᵀWJ, JᵀWr and χ², accumulated over the
//! packed cells row by row in a fixed order (see [`super::strategy`]), in parallel when
//! the caller grants threads. Also the χ²-only pass used to judge trial steps.

use rayon::prelude::*;

use crate::exec::Par;
use crate::model::element::{c2_element, c2_element_grad};
use crate::model::params::{CONTRAST, GRAD_LEN, OFFSET};
use crate::model::{AngleTerms, TimeFactors};

use super::problem::{FitProblem, RowSpan};
use super::strategy::{ROW_GROUP, Strategy};

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

/// What one evaluation needs: the model factors and per-angle terms at `x`.
struct Point {
    factors: TimeFactors,
    angles: Vec<AngleTerms>,
    q2: f64,
}

impl Point {
    fn new(problem: &FitProblem, x: &[f64], derivatives: bool) -> Self {
        let (params, scaling) = problem.unpack(x);
        let model = &problem.model;
        let angles = model
            .phi()
            .iter()
            .zip(scaling.contrast.iter().zip(&scaling.offset))
            .map(|(&phi, (&c, &o))| AngleTerms::new(model.q(), phi, params.phi0, c, o))
            .collect();
        Self {
            factors: TimeFactors::new(model.grid(), &params, derivatives),
            angles,
            q2: model.q() * model.q(),
        }
    }
}

/// The weighted Jacobian block of one row: column-major `[param][cell]`, and the
/// weighted residuals.
struct RowBlock {
    g: Vec<f64>,
    r: Vec<f64>,
}

fn row_block(problem: &FitProblem, pt: &Point, row: &RowSpan, block: &mut RowBlock) {
    let p = problem.n_params();
    let m = row.j_end - row.j_start;
    block.g.resize(p * m, 0.0);
    block.r.resize(m, 0.0);
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
    for (c, j) in (row.j_start..row.j_end).enumerate() {
        let cell = row.offset + c;
        let value = c2_element_grad(&pt.factors, d, pt.q2, a, row.i, j, &mut grad);
        let sw = problem.weight_of(row, j, cell).sqrt();
        block.r[c] = sw * (value - problem.data[cell]);
        for (k, &idx) in problem.vary_idx.iter().enumerate() {
            block.g[k * m + c] = sw * grad[idx];
        }
        for (s, b) in bc.iter().enumerate() {
            block.g[(nv + s) * m + c] = sw * grad[CONTRAST] * b;
        }
        for (s, b) in bo.iter().enumerate() {
            block.g[(nv + bc.len() + s) * m + c] = sw * grad[OFFSET] * b;
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Adds one row block to `acc`.
fn reduce_row(block: &RowBlock, p: usize, angle: usize, acc: &mut Normal) {
    let m = block.r.len();
    for u in 0..p {
        let gu = &block.g[u * m..(u + 1) * m];
        for v in u..p {
            let s = dot(gu, &block.g[v * m..(v + 1) * m]);
            acc.jtj[u * p + v] += s;
        }
        acc.jtr[u] += dot(gu, &block.r);
    }
    acc.chi2_per_angle[angle] += dot(&block.r, &block.r);
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

/// JᵀWJ, JᵀWr and χ² at `x` with `strategy` (not `Auto`; resolve it first).
pub fn normal_equations(
    problem: &FitProblem,
    x: &[f64],
    strategy: Strategy,
    chunk_size: usize,
    par: Par,
) -> Normal {
    let pt = Point::new(problem, x, true);
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
        Strategy::Dense | Strategy::Auto => {
            // Materialise every row's block first, then reduce them in the same order.
            let make = |row: &RowSpan| {
                let mut b = RowBlock {
                    g: Vec::new(),
                    r: Vec::new(),
                };
                row_block(problem, &pt, row, &mut b);
                b
            };
            let blocks: Vec<RowBlock> = if par.is_parallel() {
                problem.rows.par_iter().map(make).collect()
            } else {
                problem.rows.iter().map(make).collect()
            };
            blocks
                .chunks(ROW_GROUP)
                .zip(problem.rows.chunks(ROW_GROUP))
                .map(|(bs, rows)| {
                    let mut acc = Normal::zeros(p, n_phi);
                    for (b, row) in bs.iter().zip(rows) {
                        reduce_row(b, p, row.angle, &mut acc);
                    }
                    acc
                })
                .collect()
        }
        Strategy::Chunked => {
            // Tasks of about `chunk_size` cells (whole groups), each with one block buffer.
            let cells_per_group = (problem.n_cells() / groups.len().max(1)).max(1);
            let per_task = (chunk_size / cells_per_group).max(1);
            let run = |task: &[&[RowSpan]]| {
                let mut block = RowBlock {
                    g: Vec::new(),
                    r: Vec::new(),
                };
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
                let mut block = RowBlock {
                    g: Vec::new(),
                    r: Vec::new(),
                };
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

/// χ² per angle at `x` (both triangles, including the asymmetry constant), without
/// derivatives.
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

//! The fast evaluator: c2 as sums of outer products of per-time vectors.
//!
//! Because the transport integrals are differences of cumulative sums,
//! `exp(−q²(C[j] − C[i])) = exp(q²·C[i]) · exp(−q²·C[j])`, and the cross term's phase
//! splits as `cos(a_j − a_i) = cos a_j cos a_i + sin a_j sin a_i`. An element then costs
//! four multiply-adds per angle and no transcendental call.
//!
//! Two details keep this exact to the direct form of [`super::element`]:
//! - **Overflow.** The split exponentials are rebased per tile of `TILE` times: row
//!   factors are measured from the start of their own tile (bounded by the decay within
//!   one tile) and each tile pair carries one scalar `exp(−q²(C[j0] − C[i0]))`. A tile whose
//!   internal decay could overflow (> `MAX_TILE_EXPONENT` e-folds) is evaluated directly.
//! - **smooth_abs.** The reference uses `sqrt(x² + 1e-12)`, not `|x|`. Where the two differ
//!   by more than an ulp of the exponent (x < `band_threshold`, always including the
//!   diagonal) elements are evaluated directly. C is non-decreasing (rates are floored at
//!   0), so per row this band is one contiguous run starting at the diagonal.
//!
//! Only the upper triangle (tile pairs I ≤ J) is computed; each tile is written to its
//! own place and, transposed, to its mirror.

use rayon::prelude::*;

use super::element::{AngleTerms, SMOOTH_ABS_EPS, c2_element};
use super::factors::TimeFactors;
use crate::exec::Par;

/// Tile edge, in grid times: a tile of 3 angles fits in L1/L2 for the transposed copy.
const TILE: usize = 64;
/// Largest within-tile decay (in e-folds of the split exponentials) evaluated split;
/// `exp(300)` is far from overflow and products stay accurate.
const MAX_TILE_EXPONENT: f64 = 300.0;

/// Below this transport increment, Å², the split form `exp(−q²x)` differs from
/// `exp(−q²·sqrt(x² + ε))` by more than an ulp: `q²(sqrt(x²+ε) − x) ≤ q²ε/(2x) ≤ ε_mach`.
fn band_threshold(q2: f64) -> f64 {
    q2 * SMOOTH_ABS_EPS / (2.0 * f64::EPSILON)
}

/// Output pointer shared by the tile tasks.
///
/// Every element of the output is written by exactly one task: tile pair (I, J) with
/// I ≤ J owns block (I, J) and block (J, I), and distinct pairs own distinct blocks.
#[derive(Clone, Copy)]
struct SharedOut {
    ptr: *mut f64,
    len: usize,
}

// SAFETY: tasks write disjoint elements (see the type's docs); nothing reads the output
// while the tasks run.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// Writes `src` at `offset`.
    ///
    /// # Safety
    /// `offset + src.len() ≤ len`, and no other task writes these elements.
    unsafe fn write(&self, offset: usize, src: &[f64]) {
        assert!(offset + src.len() <= self.len);
        // SAFETY: in bounds (asserted) and exclusive (caller's contract).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(offset), src.len()) };
    }
}

/// Per-time vectors shared by all tiles.
struct Plan<'a> {
    f: &'a TimeFactors,
    q2: f64,
    angles: &'a [AngleTerms],
    n: usize,
    /// Row factors (f_r²/n)·exp(q²(C_r[i] − C_r[b(i)])), and the sample and cross analogues.
    row_r: Vec<f64>,
    row_s: Vec<f64>,
    row_x: Vec<f64>,
    /// Column factors (f_r²/n)·exp(−q²(C_r[j] − C_r[b(j)])), and analogues.
    col_r: Vec<f64>,
    col_s: Vec<f64>,
    /// Cross column factors times cos/sin of the phase, per angle.
    col_xc: Vec<Vec<f64>>,
    col_xs: Vec<Vec<f64>>,
    /// cos/sin of k·C_v[i] per angle.
    cos_a: Vec<Vec<f64>>,
    sin_a: Vec<Vec<f64>>,
    /// End (exclusive) of the direct-evaluation band of each row.
    band_end: Vec<usize>,
    /// Whether the tile's internal decay allows the split form.
    tile_split_ok: Vec<bool>,
}

impl<'a> Plan<'a> {
    fn new(f: &'a TimeFactors, q2: f64, angles: &'a [AngleTerms]) -> Self {
        let n = f.len();
        let base = |i: usize| (i / TILE) * TILE;
        let mut row_r = vec![0.0; n];
        let mut row_s = vec![0.0; n];
        let mut row_x = vec![0.0; n];
        let mut col_r = vec![0.0; n];
        let mut col_s = vec![0.0; n];
        let mut col_x = vec![0.0; n];
        for i in 0..n {
            let b = base(i);
            let fs = f.f_s[i];
            let fr = 1.0 - fs;
            let inv_n = 1.0 / (fs * fs + fr * fr);
            let dr = q2 * (f.c_r[i] - f.c_r[b]);
            let ds = q2 * (f.c_s[i] - f.c_s[b]);
            let dx = 0.5 * (dr + ds);
            let (wr, ws, wx) = (fr * fr * inv_n, fs * fs * inv_n, fr * fs * inv_n);
            row_r[i] = wr * dr.min(MAX_TILE_EXPONENT).exp();
            row_s[i] = ws * ds.min(MAX_TILE_EXPONENT).exp();
            row_x[i] = wx * dx.min(MAX_TILE_EXPONENT).exp();
            col_r[i] = wr * (-dr).exp();
            col_s[i] = ws * (-ds).exp();
            col_x[i] = wx * (-dx).exp();
        }
        let n_tiles = n.div_ceil(TILE);
        let tile_split_ok = (0..n_tiles)
            .map(|t| {
                let (lo, hi) = (t * TILE, ((t + 1) * TILE).min(n) - 1);
                let span = (f.c_r[hi] - f.c_r[lo]).max(f.c_s[hi] - f.c_s[lo]);
                q2 * span <= MAX_TILE_EXPONENT
            })
            .collect();
        let mut cos_a = Vec::with_capacity(angles.len());
        let mut sin_a = Vec::with_capacity(angles.len());
        let mut col_xc = Vec::with_capacity(angles.len());
        let mut col_xs = Vec::with_capacity(angles.len());
        for a in angles {
            let (s, c): (Vec<f64>, Vec<f64>) = f.c_v.iter().map(|&cv| (a.k * cv).sin_cos()).unzip();
            col_xc.push(c.iter().zip(&col_x).map(|(c, x)| c * x).collect());
            col_xs.push(s.iter().zip(&col_x).map(|(s, x)| s * x).collect());
            cos_a.push(c);
            sin_a.push(s);
        }
        let tau = band_threshold(q2);
        let near = |i: usize, j: usize| f.c_r[j] - f.c_r[i] < tau || f.c_s[j] - f.c_s[i] < tau;
        let band_end = (0..n)
            .map(|i| {
                // C is non-decreasing, so `near` holds on a prefix of i..n: bisect its end.
                let (mut lo, mut hi) = (i, n);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if near(i, mid) { lo = mid + 1 } else { hi = mid }
                }
                lo
            })
            .collect();
        Self {
            f,
            q2,
            angles,
            n,
            row_r,
            row_s,
            row_x,
            col_r,
            col_s,
            col_xc,
            col_xs,
            cos_a,
            sin_a,
            band_end,
            tile_split_ok,
        }
    }

    /// Fills `buf` ([angle][ii][jj], TILE×TILE per angle) with tile pair (ti ≤ tj); for the
    /// diagonal tile only jj ≥ ii is filled.
    fn fill_tile(&self, ti: usize, tj: usize, buf: &mut [f64]) {
        let (i0, i1) = (ti * TILE, ((ti + 1) * TILE).min(self.n));
        let (j0, j1) = (tj * TILE, ((tj + 1) * TILE).min(self.n));
        let f = self.f;
        let q2 = self.q2;
        let split = self.tile_split_ok[ti];
        let dr = q2 * (f.c_r[j0] - f.c_r[i0]);
        let ds = q2 * (f.c_s[j0] - f.c_s[i0]);
        let (s_r, s_s, s_x) = ((-dr).exp(), (-ds).exp(), (-0.5 * (dr + ds)).exp());
        for (ai, a) in self.angles.iter().enumerate() {
            let tile = &mut buf[ai * TILE * TILE..(ai + 1) * TILE * TILE];
            let (col_xc, col_xs) = (&self.col_xc[ai], &self.col_xs[ai]);
            for i in i0..i1 {
                let row = &mut tile[(i - i0) * TILE..(i - i0 + 1) * TILE];
                let start = j0.max(i);
                if split {
                    let c = a.contrast;
                    let rr = c * s_r * self.row_r[i];
                    let rs = c * s_s * self.row_s[i];
                    let rx = 2.0 * c * s_x * self.row_x[i];
                    let (rxc, rxs) = (rx * self.cos_a[ai][i], rx * self.sin_a[ai][i]);
                    let off = a.offset;
                    let cols = start..j1;
                    for ((((out, &cr), &cs), &cxc), &cxs) in row[start - j0..j1 - j0]
                        .iter_mut()
                        .zip(&self.col_r[cols.clone()])
                        .zip(&self.col_s[cols.clone()])
                        .zip(&col_xc[cols.clone()])
                        .zip(&col_xs[cols])
                    {
                        *out = off + (rr * cr + rs * cs + (rxc * cxc + rxs * cxs));
                    }
                    for j in start..self.band_end[i].min(j1) {
                        row[j - j0] = c2_element(f, q2, a, i, j);
                    }
                } else {
                    for j in start..j1 {
                        row[j - j0] = c2_element(f, q2, a, i, j);
                    }
                }
            }
        }
    }

    /// Writes the filled tile to block (ti, tj) and, transposed, to block (tj, ti).
    ///
    /// # Safety
    /// Only the task owning pair (ti, tj) may call this for that pair.
    unsafe fn store_tile(&self, ti: usize, tj: usize, buf: &mut [f64], out: SharedOut) {
        let n = self.n;
        let (i0, i1) = (ti * TILE, ((ti + 1) * TILE).min(n));
        let (j0, j1) = (tj * TILE, ((tj + 1) * TILE).min(n));
        let mut column = [0.0; TILE];
        for ai in 0..self.angles.len() {
            let tile = &mut buf[ai * TILE * TILE..(ai + 1) * TILE * TILE];
            let plane = ai * n * n;
            if ti == tj {
                // Mirror the upper part within the tile before storing whole rows.
                for ii in 0..i1 - i0 {
                    for jj in 0..ii {
                        tile[ii * TILE + jj] = tile[jj * TILE + ii];
                    }
                }
            }
            for i in i0..i1 {
                let row = &tile[(i - i0) * TILE..(i - i0) * TILE + (j1 - j0)];
                // SAFETY: block (ti, tj) belongs to this task.
                unsafe { out.write(plane + i * n + j0, row) };
            }
            if ti != tj {
                for j in j0..j1 {
                    for i in i0..i1 {
                        column[i - i0] = tile[(i - i0) * TILE + (j - j0)];
                    }
                    // SAFETY: block (tj, ti) belongs to this task.
                    unsafe { out.write(plane + j * n + i0, &column[..i1 - i0]) };
                }
            }
        }
    }
}

/// Writes c2 for every angle into `out` ([angle][t1][t2], `angles.len()·n·n` values).
pub(crate) fn c2_fast_into(
    f: &TimeFactors,
    q2: f64,
    angles: &[AngleTerms],
    par: Par,
    out: &mut [f64],
) {
    let n = f.len();
    assert_eq!(out.len(), angles.len() * n * n);
    let plan = Plan::new(f, q2, angles);
    let n_tiles = n.div_ceil(TILE);
    let pairs: Vec<(usize, usize)> = (0..n_tiles)
        .flat_map(|ti| (ti..n_tiles).map(move |tj| (ti, tj)))
        .collect();
    let shared = SharedOut {
        ptr: out.as_mut_ptr(),
        len: out.len(),
    };
    let buf_len = angles.len() * TILE * TILE;
    let run = |buf: &mut Vec<f64>, &(ti, tj): &(usize, usize)| {
        plan.fill_tile(ti, tj, buf);
        // SAFETY: each pair is visited by exactly one task.
        unsafe { plan.store_tile(ti, tj, buf, shared) };
    };
    if par.is_parallel() {
        pairs
            .par_iter()
            .for_each_init(|| vec![0.0; buf_len], |buf, pair| run(buf, pair));
    } else {
        let mut buf = vec![0.0; buf_len];
        pairs.iter().for_each(|pair| run(&mut buf, pair));
    }
}

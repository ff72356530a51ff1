//! The fast evaluator: c2 as sums of outer products of per-time vectors.
//!
//! Because the transport integrals are differences of cumulative sums,
//! `exp(−q²(C[j] − C[i])) = exp(q²·C[i]) · exp(−q²·C[j])`, and the cross term's phase
//! splits as `cos(a_j − a_i) = cos a_j cos a_i + sin a_j sin a_i`. An element then costs
//! four multiply-adds per angle and no transcendental call.
//!
//! Two details keep this exact to the direct form of [`super::element`]:
//! - **Overflow.** The split exponentials are rebased per *segment*: a maximal run of
//!   times over which neither transport decays by more than `MAX_SEGMENT_EXPONENT`
//!   e-folds. Row factors are measured from the start of their own segment (so they stay
//!   below e^300) and each segment pair carries one scalar `exp(−q²(C[b_Q] − C[b_P]))`.
//!   Segments follow the data, not the thread count; for typical data there is only one.
//! - **smooth_abs.** The reference uses `sqrt(x² + 1e-12)`, not `|x|`. Where the two differ
//!   by more than an ulp of the exponent (x below [`band_threshold`], always including
//!   the diagonal) elements are evaluated directly. C is non-decreasing (rates are floored
//!   at 0), so per row this band is one contiguous run starting at the diagonal.
//!
//! Symmetry: transcendental work is per time, per segment pair (P ≤ Q) or in the band,
//! and both mirror elements are formed from the same factors — row factors of the
//! earlier time times column factors of the later one — so the matrix is bitwise
//! symmetric. Each task owns whole output rows and writes them left to right: re-forming
//! a mirror element (four multiply-adds) costs less than a transposed store, and no two
//! tasks share an output element.

use rayon::prelude::*;

use super::element::{AngleTerms, SMOOTH_ABS_EPS, c2_element};
use super::factors::TimeFactors;
use crate::exec::Par;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 32;
/// Largest decay within one segment, in e-folds of the split exponentials: factors stay
/// below e^300, far from overflow, and products of two stay accurate.
pub(crate) const MAX_SEGMENT_EXPONENT: f64 = 300.0;

/// Below this transport increment, Å², the split form `exp(−q²x)` differs from
/// `exp(−q²·sqrt(x² + ε))` by more than an ulp: `q²(sqrt(x²+ε) − x) ≤ q²ε/(2x) ≤ ε_mach`.
pub(crate) fn band_threshold(q2: f64) -> f64 {
    q2 * SMOOTH_ABS_EPS / (2.0 * f64::EPSILON)
}

/// Per-time vectors shared by all tasks.
struct Plan<'a> {
    f: &'a TimeFactors,
    q2: f64,
    angles: &'a [AngleTerms],
    n: usize,
    /// Segment starts (first is 0), and one past the last time.
    seg_start: Vec<usize>,
    /// Segment index of each time.
    seg_of: Vec<usize>,
    /// Row factors (f_r²/n)·exp(q²(C_r[i] − C_r[b(i)])), and the sample and cross analogues.
    row_r: Vec<f64>,
    row_s: Vec<f64>,
    row_x: Vec<f64>,
    /// Column factors (f_r²/n)·exp(−q²(C_r[j] − C_r[b(j)])), and the sample analogue.
    col_r: Vec<f64>,
    col_s: Vec<f64>,
    /// Cross column factors times cos/sin of the phase, per angle.
    col_xc: Vec<Vec<f64>>,
    col_xs: Vec<Vec<f64>>,
    /// cos/sin of k·C_v[i] per angle.
    cos_a: Vec<Vec<f64>>,
    sin_a: Vec<Vec<f64>>,
    /// End (exclusive) of the direct-evaluation band of each row; non-decreasing.
    band_end: Vec<usize>,
    /// With a single segment, the lower-part row factors are the same for every task:
    /// one set per angle, computed once.
    shared_lower: Vec<LowerFactors>,
}

impl<'a> Plan<'a> {
    fn new(f: &'a TimeFactors, q2: f64, angles: &'a [AngleTerms]) -> Self {
        let n = f.len();
        // Greedy segments: extend while both decays stay within the cap. A one-time
        // segment has factors exactly 1, so every time fits somewhere.
        let mut seg_start = vec![0];
        let mut seg_of = vec![0; n];
        for i in 1..n {
            let b = seg_start[seg_start.len() - 1];
            let span = (f.c_r[i] - f.c_r[b]).max(f.c_s[i] - f.c_s[b]);
            if q2 * span > MAX_SEGMENT_EXPONENT {
                seg_start.push(i);
            }
            seg_of[i] = seg_start.len() - 1;
        }
        seg_start.push(n);

        let mut row_r = vec![0.0; n];
        let mut row_s = vec![0.0; n];
        let mut row_x = vec![0.0; n];
        let mut col_r = vec![0.0; n];
        let mut col_s = vec![0.0; n];
        let mut col_x = vec![0.0; n];
        for i in 0..n {
            let b = seg_start[seg_of[i]];
            let fs = f.f_s[i];
            let fr = 1.0 - fs;
            let inv_n = 1.0 / (fs * fs + fr * fr);
            let (wr, ws, wx) = (fr * fr * inv_n, fs * fs * inv_n, fr * fs * inv_n);
            let er = (q2 * (f.c_r[i] - f.c_r[b])).exp();
            let es = (q2 * (f.c_s[i] - f.c_s[b])).exp();
            let ex = (er * es).sqrt();
            row_r[i] = wr * er;
            row_s[i] = ws * es;
            row_x[i] = wx * ex;
            col_r[i] = wr / er;
            col_s[i] = ws / es;
            col_x[i] = wx / ex;
        }
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
                    if near(i, mid) {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo
            })
            .collect();
        let mut plan = Self {
            f,
            q2,
            angles,
            n,
            seg_start,
            seg_of,
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
            shared_lower: Vec::new(),
        };
        if plan.seg_start.len() == 2 {
            let s = plan.pair_scalars(0, 0);
            plan.shared_lower = (0..angles.len())
                .map(|ai| {
                    let mut lower = LowerFactors::new();
                    lower.fill(n, |j| plan.row_factors(ai, &s, j));
                    lower.seg = 0;
                    lower
                })
                .collect();
        }
        plan
    }

    /// Rebasing scalars `exp(−q²(C[b_q] − C[b_p]))` of segment pair (p ≤ q) for the
    /// reference, sample and cross terms.
    fn pair_scalars(&self, p: usize, q: usize) -> [f64; 3] {
        let f = self.f;
        let (a, b) = (self.seg_start[p], self.seg_start[q]);
        let er = (-self.q2 * (f.c_r[b] - f.c_r[a])).exp();
        let es = (-self.q2 * (f.c_s[b] - f.c_s[a])).exp();
        [er, es, (er * es).sqrt()]
    }

    /// Row factors of time `i` in a segment pair with scalars `s`, for angle `ai`:
    /// contrast, the pair scalar and the cross term's 2 folded in. Both mirror elements
    /// use exactly this arithmetic.
    #[inline(always)]
    fn row_factors(&self, ai: usize, s: &[f64; 3], i: usize) -> [f64; 4] {
        let c = self.angles[ai].contrast;
        let rx = 2.0 * c * s[2] * self.row_x[i];
        [
            c * s[0] * self.row_r[i],
            c * s[1] * self.row_s[i],
            rx * self.cos_a[ai][i],
            rx * self.sin_a[ai][i],
        ]
    }

    /// Fills whole rows `i0..` of angle `ai` (`rows` holds `rows.len() / n` rows), with
    /// the inner loops four lanes wide where the CPU has AVX2. Rust never contracts
    /// `a·b + c` into an FMA, so both builds give the same bits.
    fn fill_rows(&self, ai: usize, i0: usize, rows: &mut [f64], lower: &mut LowerFactors) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { self.fill_rows_avx2(ai, i0, rows, lower) };
        }
        self.fill_rows_body(ai, i0, rows, lower);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn fill_rows_avx2(&self, ai: usize, i0: usize, rows: &mut [f64], lower: &mut LowerFactors) {
        self.fill_rows_body(ai, i0, rows, lower);
    }

    #[inline(always)]
    fn fill_rows_body(&self, ai: usize, i0: usize, rows: &mut [f64], lower: &mut LowerFactors) {
        let (n, f, q2) = (self.n, self.f, self.q2);
        let a = &self.angles[ai];
        let i1 = i0 + rows.len() / n;
        let n_seg = self.seg_start.len() - 1;
        lower.seg = usize::MAX;
        for (i, row) in (i0..i1).zip(rows.chunks_exact_mut(n)) {
            let si = self.seg_of[i];
            let lower_v = match self.shared_lower.get(ai) {
                Some(shared) => &shared.v,
                None => {
                    if lower.seg != si {
                        // Row factors of every earlier time j for its pair with segment si.
                        let scalars: Vec<[f64; 3]> =
                            (0..=si).map(|sj| self.pair_scalars(sj, si)).collect();
                        let upto = i1.min(self.seg_start[si + 1]);
                        lower.fill(upto, |j| self.row_factors(ai, &scalars[self.seg_of[j]], j));
                        lower.seg = si;
                    }
                    &lower.v
                }
            };
            // Lower part, j < i: element (j, i) = off + row(j)·col(i).
            let col_i = [
                self.col_r[i],
                self.col_s[i],
                self.col_xc[ai][i],
                self.col_xs[ai][i],
            ];
            let [l0, l1, l2, l3] = lower_v;
            split_row(
                &mut row[..i],
                a.offset,
                col_i,
                [&l0[..i], &l1[..i], &l2[..i], &l3[..i]],
            );
            // Upper part, j ≥ i: element (i, j) = off + row(i)·col(j), per segment.
            for sj in si..n_seg {
                let start = self.seg_start[sj].max(i);
                let end = self.seg_start[sj + 1];
                let r = self.row_factors(ai, &self.pair_scalars(si, sj), i);
                let cols = [
                    &self.col_r[start..end],
                    &self.col_s[start..end],
                    &self.col_xc[ai][start..end],
                    &self.col_xs[ai][start..end],
                ];
                split_row(&mut row[start..end], a.offset, r, cols);
            }
            // The smooth_abs band, directly, always as element (min, max) so mirrors stay
            // bitwise equal. band_end is non-decreasing, so the earlier rows whose band
            // reaches i form one run.
            for j in i..self.band_end[i] {
                row[j] = c2_element(f, q2, a, i, j);
            }
            let band_start = self.band_end[..i].partition_point(|&e| e <= i);
            for j in band_start..i {
                row[j] = c2_element(f, q2, a, j, i);
            }
        }
    }
}

/// Row factors of earlier times for one later segment, reused across rows of a task.
struct LowerFactors {
    v: [Vec<f64>; 4],
    seg: usize,
}

impl LowerFactors {
    fn new() -> Self {
        Self {
            v: Default::default(),
            seg: usize::MAX,
        }
    }

    fn fill(&mut self, len: usize, factors: impl Fn(usize) -> [f64; 4]) {
        for v in &mut self.v {
            v.resize(len, 0.0);
        }
        for j in 0..len {
            for (v, x) in self.v.iter_mut().zip(factors(j)) {
                v[j] = x;
            }
        }
    }
}

/// `out[k] = off + (a0·b0[k] + a1·b1[k] + (a2·b2[k] + a3·b3[k]))`: four products of a
/// row factor with a column vector. The same association in both mirror elements keeps
/// them bitwise equal.
#[inline(always)]
fn split_row(out: &mut [f64], off: f64, a: [f64; 4], b: [&[f64]; 4]) {
    let [a0, a1, a2, a3] = a;
    let len = out.len();
    let (b0, b1, b2, b3) = (&b[0][..len], &b[1][..len], &b[2][..len], &b[3][..len]);
    for k in 0..len {
        out[k] = off + (a0 * b0[k] + a1 * b1[k] + (a2 * b2[k] + a3 * b3[k]));
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
    let task = |lower: &mut LowerFactors, (ai, block, rows): (usize, usize, &mut [f64])| {
        plan.fill_rows(ai, block * ROWS_PER_TASK, rows, lower)
    };
    if par.is_parallel() {
        out.par_chunks_mut(n * n)
            .enumerate()
            .flat_map(|(ai, plane)| {
                plane
                    .par_chunks_mut(ROWS_PER_TASK * n)
                    .enumerate()
                    .map(move |(block, rows)| (ai, block, rows))
            })
            .for_each_init(LowerFactors::new, task);
    } else {
        let mut lower = LowerFactors::new();
        for (ai, plane) in out.chunks_mut(n * n).enumerate() {
            for (block, rows) in plane.chunks_mut(ROWS_PER_TASK * n).enumerate() {
                task(&mut lower, (ai, block, rows));
            }
        }
    }
}

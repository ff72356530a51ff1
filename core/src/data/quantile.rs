//! Contrast and offset estimated from data quantiles (spec physics.md §6.1), used to
//! start the per-angle scaling of a fit.

/// NumPy's default `percentile` (linear interpolation) of `values` at `p` ∈ [0, 100];
/// `values` is reordered (a selection, not a full sort: O(n)). `None` when empty.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let pos = p / 100.0 * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    let (_, &mut at_lo, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
    // The next order statistic is the smallest value above the lo-th.
    let at_hi = if hi == lo {
        at_lo
    } else {
        above
            .iter()
            .copied()
            .min_by(f64::total_cmp)
            .unwrap_or(at_lo)
    };
    Some(at_lo + (at_hi - at_lo) * frac)
}

/// Cells beyond which [`off_diagonal_range`] takes every k-th cell: a colour scale
/// does not need all 16 M cells of an N = 4000 matrix, and a copy of them is 128 MB.
const RANGE_SAMPLE: usize = 1 << 22;

/// Colour limits for showing an `n×n` matrix: the `tail` and `1 − tail` quantiles of its
/// finite off-diagonal cells, robust against the diagonal of real data (every cell up
/// to 2²² cells, a regular subsample beyond). `None` without off-diagonal values.
pub fn off_diagonal_range(m: &[f64], n: usize, tail: f64) -> Option<(f64, f64)> {
    let stride = (n * n / RANGE_SAMPLE).max(1);
    let mut off: Vec<f64> = (0..n * n)
        .step_by(stride)
        .filter(|e| e / n != e % n)
        .map(|e| m[e])
        .filter(|v| v.is_finite())
        .collect();
    if off.is_empty() {
        return None;
    }
    let mut at = |p: f64| {
        let k = ((off.len() - 1) as f64 * p) as usize;
        *off.select_nth_unstable_by(k, f64::total_cmp).1
    };
    Some((at(tail), at(1.0 - tail)))
}

/// The reference's `estimate_contrast_offset_from_quantiles` for one `n×n` matrix with
/// frame times `t`: offset = 10th percentile of c2 at lags ≥ the 80th lag percentile,
/// ceiling = 90th percentile at lags ≤ the 20th lag percentile, contrast = ceiling − offset;
/// clipped to [0, 1] / [0.5, 1.5]. Fewer than 100 finite values → (0.5, 1.0).
pub fn contrast_offset_from_quantiles(c2: &[f64], n: usize, t: &[f64]) -> (f64, f64) {
    // Lags are recomputed where needed rather than stored beside the values: at
    // N = 4000 the cells of one matrix take 128 MB.
    let lag = |e: usize| (t[e / n] - t[e % n]).abs();
    let finite = |e: &usize| c2[*e].is_finite();
    let sorted = t[..n].windows(2).all(|w| w[0] <= w[1]);
    let (hi_lag, lo_lag) = if sorted && n * n >= 100 && c2[..n * n].iter().all(|v| v.is_finite()) {
        (lag_percentile(&t[..n], 80.0), lag_percentile(&t[..n], 20.0))
    } else {
        let mut lags: Vec<f64> = (0..n * n).filter(finite).map(lag).collect();
        if lags.len() < 100 {
            return (0.5, 1.0);
        }
        (
            percentile(&mut lags, 80.0).unwrap_or(0.0),
            percentile(&mut lags, 20.0).unwrap_or(0.0),
        )
    };
    let region = |keep: &dyn Fn(f64) -> bool| -> Vec<f64> {
        let sel: Vec<f64> = (0..n * n)
            .filter(|e| finite(e) && keep(lag(*e)))
            .map(|e| c2[e])
            .collect();
        if sel.len() >= 10 {
            sel
        } else {
            c2.iter().copied().filter(|v| v.is_finite()).collect()
        }
    };
    let offset = percentile(&mut region(&|l| l >= hi_lag), 10.0).unwrap_or(1.0);
    let ceiling = percentile(&mut region(&|l| l <= lo_lag), 90.0).unwrap_or(1.5);
    let offset = offset.clamp(0.5, 1.5);
    ((ceiling - offset).clamp(0.0, 1.0), offset)
}

/// [`percentile`] of the lags `|t_i − t_j|` over all n² pairs of the sorted times `t`,
/// without the n² array: each order statistic by bisection over the (non-negative) f64
/// values, counting per row with binary searches. The computed lag `fl(t_j − t_i)` is
/// monotone in j on either side of i, so the counts — and the result — are exactly those
/// of the array.
fn lag_percentile(t: &[f64], p: f64) -> f64 {
    let n = t.len();
    let count_le = |v: f64| -> usize {
        (0..n)
            .map(|i| {
                // j ≥ i: lag grows with j; j < i: lag grows as j falls.
                let right = t[i..].partition_point(|&tj| (t[i] - tj).abs() <= v);
                let left = i - t[..i].partition_point(|&tj| (t[i] - tj).abs() > v);
                left + right
            })
            .sum()
    };
    // The k-th smallest (0-based): the least v with more than k lags ≤ v.
    let kth = |k: usize| -> f64 {
        let (mut lo, mut hi) = (0u64, (t[n - 1] - t[0]).abs().to_bits());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if count_le(f64::from_bits(mid)) > k {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        f64::from_bits(lo)
    };
    let pos = p / 100.0 * (n * n - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let at_lo = kth(lo);
    let at_hi = if hi == lo { at_lo } else { kth(hi) };
    at_lo + (at_hi - at_lo) * (pos - lo as f64)
}

/// The reference's per-angle 5 %/95 % estimate (`per_angle_mode: constant`): offset = 5 %
/// quantile of all c2, contrast = 95 % − 5 % quantile; clipped to the registry bounds.
pub fn contrast_offset_5_95(c2: &[f64]) -> (f64, f64) {
    let mut vals: Vec<f64> = c2.iter().copied().filter(|v| v.is_finite()).collect();
    match (percentile(&mut vals, 5.0), percentile(&mut vals, 95.0)) {
        (Some(lo), Some(hi)) => ((hi - lo).clamp(0.0, 1.0), lo.clamp(0.5, 1.5)),
        _ => (0.5, 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_gives_the_sorted_percentiles() {
        // A deterministic shuffle with ties, against the definition on the sorted copy.
        let v: Vec<f64> = (0..1001).map(|k| ((k * 7919) % 211) as f64 * 0.5).collect();
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        for p in [0.0f64, 5.0, 10.0, 20.0, 33.3, 50.0, 80.0, 90.0, 95.0, 100.0] {
            let pos: f64 = p / 100.0 * 1000.0;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            let want = sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64);
            assert_eq!(percentile(&mut v.clone(), p), Some(want), "p = {p}");
        }
    }

    #[test]
    fn lag_percentiles_without_the_array_are_exact() {
        let uniform: Vec<f64> = (1..=57).map(|k| k as f64 * 0.1).collect();
        let uneven: Vec<f64> = (0..43)
            .map(|k| (k as f64).powf(1.3) * 0.37 + ((k * 7) % 5) as f64 * 1e-3)
            .collect();
        for t in [uniform, uneven] {
            let n = t.len();
            let mut all: Vec<f64> = (0..n * n).map(|e| (t[e / n] - t[e % n]).abs()).collect();
            for p in [0.0, 20.0, 50.0, 80.0, 99.0, 100.0] {
                let want = percentile(&mut all, p).expect("p");
                assert_eq!(lag_percentile(&t, p).to_bits(), want.to_bits(), "p = {p}");
            }
        }
    }

    #[test]
    fn numpy_linear_percentile() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&mut v, 50.0), Some(2.5));
        assert_eq!(percentile(&mut v, 0.0), Some(1.0));
        assert_eq!(percentile(&mut v, 100.0), Some(4.0));
        assert!((percentile(&mut v, 10.0).expect("p") - 1.3).abs() < 1e-12);
    }

    #[test]
    fn recovers_a_decaying_correlation() {
        let n = 60;
        let t: Vec<f64> = (1..=n).map(|k| k as f64).collect();
        let c2: Vec<f64> = (0..n * n)
            .map(|e| 1.0 + 0.2 * (-((t[e / n] - t[e % n]).abs() / 3.0)).exp())
            .collect();
        let (c, o) = contrast_offset_from_quantiles(&c2, n, &t);
        assert!((o - 1.0).abs() < 1e-3, "{o}");
        // A start value: the small-lag 90th percentile sits below the true ceiling.
        assert!(c > 0.1 && c <= 0.2, "{c}");
    }
}

//! Contrast and offset estimated from data quantiles (spec physics.md §6.1), used to
//! start the per-angle scaling of a fit.

/// NumPy's default `percentile` (linear interpolation) of `values` at `p` ∈ [0, 100];
/// `values` is sorted in place. `None` when empty.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let pos = p / 100.0 * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(values[lo] + (values[hi] - values[lo]) * frac)
}

/// Colour limits for showing an `n×n` matrix: the `tail` and `1 − tail` quantiles of its
/// finite off-diagonal cells, robust against the diagonal of real data. `None` without
/// off-diagonal values.
pub fn off_diagonal_range(m: &[f64], n: usize, tail: f64) -> Option<(f64, f64)> {
    let mut off: Vec<f64> = (0..n * n)
        .filter(|e| e / n != e % n)
        .map(|e| m[e])
        .filter(|v| v.is_finite())
        .collect();
    if off.is_empty() {
        return None;
    }
    off.sort_by(f64::total_cmp);
    let at = |p: f64| off[((off.len() - 1) as f64 * p) as usize];
    Some((at(tail), at(1.0 - tail)))
}

/// The reference's `estimate_contrast_offset_from_quantiles` for one `n×n` matrix with
/// frame times `t`: offset = 10th percentile of c2 at lags ≥ the 80th lag percentile,
/// ceiling = 90th percentile at lags ≤ the 20th lag percentile, contrast = ceiling − offset;
/// clipped to [0, 1] / [0.5, 1.5]. Fewer than 100 finite values → (0.5, 1.0).
pub fn contrast_offset_from_quantiles(c2: &[f64], n: usize, t: &[f64]) -> (f64, f64) {
    let mut lags = Vec::with_capacity(n * n);
    let mut vals = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            let v = c2[i * n + j];
            if v.is_finite() {
                lags.push((t[i] - t[j]).abs());
                vals.push(v);
            }
        }
    }
    if vals.len() < 100 {
        return (0.5, 1.0);
    }
    let mut sorted_lags = lags.clone();
    let hi_lag = percentile(&mut sorted_lags, 80.0).unwrap_or(0.0);
    let lo_lag = percentile(&mut sorted_lags, 20.0).unwrap_or(0.0);
    let region = |keep: &dyn Fn(f64) -> bool| -> Vec<f64> {
        let sel: Vec<f64> = lags
            .iter()
            .zip(&vals)
            .filter(|(l, _)| keep(**l))
            .map(|(_, v)| *v)
            .collect();
        if sel.len() >= 10 { sel } else { vals.clone() }
    };
    let offset = percentile(&mut region(&|l| l >= hi_lag), 10.0).unwrap_or(1.0);
    let ceiling = percentile(&mut region(&|l| l <= lo_lag), 90.0).unwrap_or(1.5);
    let offset = offset.clamp(0.5, 1.5);
    ((ceiling - offset).clamp(0.0, 1.0), offset)
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

//! Line plots as SVG: the shared scaling of series into a plot box.

/// The range of the finite values of `values`, widened to ±1 around a single value.
pub fn finite_range<'a>(values: impl IntoIterator<Item = &'a f64>) -> (f64, f64) {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 1.0, lo + 1.0)
    } else {
        (0.0, 1.0)
    }
}

/// The SVG `points` of `ys` (one per step along x) in a `w×h` box with a 4-pixel margin,
/// `lo..hi` from bottom to top; non-finite values are left out.
pub fn points(ys: &[f64], lo: f64, hi: f64, w: f64, h: f64) -> String {
    let n = ys.len().max(2) as f64 - 1.0;
    ys.iter()
        .enumerate()
        .filter(|(_, y)| y.is_finite())
        .map(|(i, y)| {
            let x = 4.0 + (w - 8.0) * i as f64 / n;
            let v = h - 4.0 - (h - 8.0) * (y - lo) / (hi - lo);
            format!("{x:.1},{v:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_fill_the_box() {
        assert_eq!(
            points(&[0.0, 1.0], 0.0, 1.0, 108.0, 108.0),
            "4.0,104.0 104.0,4.0"
        );
        assert_eq!(finite_range(&[f64::NAN, 2.0, 5.0]), (2.0, 5.0));
        assert_eq!(finite_range(&[3.0]), (2.0, 4.0));
        assert_eq!(finite_range(&[]), (0.0, 1.0));
    }
}

//! Cuts through a C2 matrix, data against fit: along constant lags (c2(t, t + lag) over t)
//! and across the diagonal at the middle of the window (c2(m − k, m + k) over k), as
//! SVG line plots.

use leptos::prelude::*;

const W: f64 = 300.0;
const H: f64 = 180.0;
const COLOURS: [&str; 3] = ["#1f77b4", "#d62728", "#2ca02c"];

/// The SVG `points` of `ys` scaled into the plot box with limits `lo..hi`.
fn points(ys: &[f64], lo: f64, hi: f64) -> String {
    let n = ys.len().max(2) as f64 - 1.0;
    ys.iter()
        .enumerate()
        .filter(|(_, y)| y.is_finite())
        .map(|(i, y)| {
            let x = 4.0 + (W - 8.0) * i as f64 / n;
            let v = H - 4.0 - (H - 8.0) * (y - lo) / (hi - lo);
            format!("{x:.1},{v:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The series of one cut: (label, data, fit).
fn series(data: &[f64], fit: &[f64], n: usize) -> Vec<(String, Vec<f64>, Vec<f64>)> {
    let mut out = Vec::new();
    for lag in [1, (n / 8).max(2), (n / 4).max(3)] {
        if lag >= n {
            continue;
        }
        let at = |m: &[f64]| (0..n - lag).map(|t| m[t * n + t + lag]).collect::<Vec<_>>();
        out.push((format!("lag {lag}"), at(data), at(fit)));
    }
    let mid = n / 2;
    let across = |m: &[f64]| {
        (0..mid.min(n - mid))
            .map(|k| m[(mid - k) * n + mid + k])
            .collect::<Vec<_>>()
    };
    out.push(("across the diagonal".to_string(), across(data), across(fit)));
    out
}

/// Constant-lag and across-diagonal cuts of `data` (points) and `fit` (dashed), `n×n`.
#[component]
pub fn Cuts(
    /// Caption.
    title: String,
    /// Measured matrix.
    data: Vec<f64>,
    /// Fitted matrix.
    fit: Vec<f64>,
    /// Side.
    n: usize,
) -> impl IntoView {
    series(&data, &fit, n)
        .into_iter()
        .enumerate()
        .map(|(k, (label, d, f))| {
            let all: Vec<f64> = d.iter().chain(&f).copied().filter(|v| v.is_finite()).collect();
            let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 1.0, lo + 1.0) };
            let colour = COLOURS[k % COLOURS.len()];
            view! {
                <figure class="cut">
                    <figcaption>{format!("{title}: {label}")}</figcaption>
                    <svg width=W.to_string() height=H.to_string() role="img"
                        aria-label=format!("{title}: {label}, data and fit")>
                        <rect x="0" y="0" width=W.to_string() height=H.to_string() fill="none" stroke="#ccc"/>
                        <polyline points=points(&d, lo, hi) fill="none" stroke=colour stroke-width="1" opacity="0.6"/>
                        <polyline points=points(&f, lo, hi) fill="none" stroke="#111" stroke-width="1.5" stroke-dasharray="4 2"/>
                    </svg>
                    <div class="limits"><span>{format!("{lo:.4}")}</span><span>"data (colour) · fit (dashed)"</span><span>{format!("{hi:.4}")}</span></div>
                </figure>
            }
        })
        .collect_view()
}

//! Cuts through a C2 matrix, data against fit: along constant lags (c2(t, t + lag) over t)
//! and across the diagonal at the middle of the window (c2(m − k, m + k) over k), as
//! SVG line plots.

use leptos::prelude::*;

use super::svg::{finite_range, points};

const W: f64 = 300.0;
const H: f64 = 180.0;
const COLOURS: [&str; 3] = ["#1f77b4", "#d62728", "#2ca02c"];

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
            let (lo, hi) = finite_range(d.iter().chain(&f));
            let colour = COLOURS[k % COLOURS.len()];
            view! {
                <figure class="cut">
                    <figcaption>{format!("{title}: {label}")}</figcaption>
                    <svg width=W.to_string() height=H.to_string() role="img"
                        aria-label=format!("{title}: {label}, data and fit")>
                        <rect x="0" y="0" width=W.to_string() height=H.to_string() fill="none" stroke="#ccc"/>
                        <polyline points=points(&d, lo, hi, W, H) fill="none" stroke=colour stroke-width="1" opacity="0.6"/>
                        <polyline points=points(&f, lo, hi, W, H) fill="none" stroke="#111" stroke-width="1.5" stroke-dasharray="4 2"/>
                    </svg>
                    <div class="limits"><span>{format!("{lo:.4}")}</span><span>"data (colour) · fit (dashed)"</span><span>{format!("{hi:.4}")}</span></div>
                </figure>
            }
        })
        .collect_view()
}

//! Plots of a posterior: traces with marginal histograms, rank plots, a corner plot, and
//! the posterior against the NLSQ estimate.

use std::path::Path;

use plotters::prelude::*;

use super::plots::ensure_font;

/// One quantity's draws per chain, `[chain][draw]`, with its name.
pub struct Series<'a> {
    /// Name shown on the panel.
    pub name: &'a str,
    /// Draws per chain.
    pub chains: Vec<Vec<f64>>,
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn chain_color(c: usize) -> RGBColor {
    const C: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
    ];
    C[c % C.len()]
}

fn range_of<'a>(v: impl Iterator<Item = &'a f64>) -> (f64, f64) {
    let (lo, hi) = v
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    if lo.is_nan() || hi.is_nan() || lo >= hi {
        let c = if lo.is_finite() { lo } else { 0.0 };
        let w = c.abs().max(1e-12) * 1e-3;
        return (c - w, c + w);
    }
    let pad = 0.02 * (hi - lo);
    (lo - pad, hi + pad)
}

fn histogram(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    let mut h = vec![0.0; bins];
    for &v in values {
        if v.is_finite() {
            let b = (((v - lo) / (hi - lo)) * bins as f64).floor();
            if b >= 0.0 && (b as usize) < bins {
                h[b as usize] += 1.0;
            }
        }
    }
    h
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn trace_panel(area: &Area<'_>, s: &Series<'_>) -> Result<(), String> {
    let n = s.chains.iter().map(Vec::len).max().unwrap_or(0).max(2) as f64;
    let (lo, hi) = range_of(s.chains.iter().flatten());
    let mut chart = ChartBuilder::on(area)
        .caption(s.name, ("sans-serif", 15))
        .margin(5)
        .x_label_area_size(22)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(4)
        .y_labels(4)
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(err)?;
    for (c, chain) in s.chains.iter().enumerate() {
        chart
            .draw_series(LineSeries::new(
                chain.iter().enumerate().map(|(t, v)| (t as f64, *v)),
                chain_color(c).mix(0.7).stroke_width(1),
            ))
            .map_err(err)?;
    }
    Ok(())
}

fn hist_panel(area: &Area<'_>, s: &Series<'_>) -> Result<(), String> {
    let (lo, hi) = range_of(s.chains.iter().flatten());
    let bins = 30;
    let hists: Vec<Vec<f64>> = s
        .chains
        .iter()
        .map(|c| histogram(c, lo, hi, bins))
        .collect();
    let top = hists.iter().flatten().fold(1.0_f64, |a, &b| a.max(b)) * 1.05;
    let mut chart = ChartBuilder::on(area)
        .margin(5)
        .x_label_area_size(22)
        .y_label_area_size(10)
        .build_cartesian_2d(lo..hi, 0.0..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(3)
        .y_labels(1)
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(err)?;
    let w = (hi - lo) / bins as f64;
    for (c, h) in hists.iter().enumerate() {
        chart
            .draw_series(LineSeries::new(
                h.iter().enumerate().flat_map(|(b, v)| {
                    let x = lo + b as f64 * w;
                    [(x, *v), (x + w, *v)]
                }),
                chain_color(c).stroke_width(1),
            ))
            .map_err(err)?;
    }
    Ok(())
}

fn rank_panel(area: &Area<'_>, s: &Series<'_>) -> Result<(), String> {
    // Ranks over all chains pooled; each chain's rank histogram should be flat.
    let mut all: Vec<(f64, usize)> = s
        .chains
        .iter()
        .enumerate()
        .flat_map(|(c, v)| v.iter().map(move |x| (*x, c)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len().max(1);
    let bins = 20;
    let mut h = vec![vec![0.0; bins]; s.chains.len()];
    for (rank, (_, c)) in all.iter().enumerate() {
        h[*c][(rank * bins / n).min(bins - 1)] += 1.0;
    }
    let expected = n as f64 / (bins * s.chains.len().max(1)) as f64;
    let top = h.iter().flatten().fold(expected * 1.5, |a, &b| a.max(b)) * 1.05;
    let rows = area.split_evenly((s.chains.len().max(1), 1));
    for (c, row) in rows.iter().enumerate() {
        let mut chart = ChartBuilder::on(row)
            .caption(
                if c == 0 { s.name } else { "" },
                ("sans-serif", if c == 0 { 14 } else { 1 }),
            )
            .margin(2)
            .y_label_area_size(30)
            .build_cartesian_2d(0.0..bins as f64, 0.0..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(1)
            .y_labels(1)
            .y_desc(format!("c{c}"))
            .label_style(("sans-serif", 10))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(h[c].iter().enumerate().map(|(b, v)| {
                Rectangle::new(
                    [(b as f64, 0.0), (b as f64 + 1.0, *v)],
                    chain_color(c).mix(0.6).filled(),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, expected), (bins as f64, expected)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
    }
    Ok(())
}

/// Traces (left) and per-chain marginal histograms (right), one row per quantity.
pub fn plot_traces(path: &Path, series: &[Series<'_>]) -> Result<(), String> {
    ensure_font()?;
    let rows = series.len().max(1);
    let root = BitMapBackend::new(path, (1200, (130 * rows) as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    for (s, area) in series.iter().zip(root.split_evenly((rows, 1))) {
        let (left, right) = area.split_horizontally(820);
        trace_panel(&left, s)?;
        hist_panel(&right, s)?;
    }
    root.present().map_err(err)
}

/// Rank plots: per quantity, each chain's histogram of pooled ranks (flat when mixed).
pub fn plot_ranks(path: &Path, series: &[Series<'_>]) -> Result<(), String> {
    ensure_font()?;
    let cols = 4;
    let rows = series.len().div_ceil(cols).max(1);
    let root = BitMapBackend::new(path, (1200, (200 * rows) as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    for (s, area) in series.iter().zip(root.split_evenly((rows, cols))) {
        rank_panel(&area, s)?;
    }
    root.present().map_err(err)
}

/// Corner plot: pairwise scatter of (thinned) draws below the diagonal, histograms on it.
pub fn plot_corner(path: &Path, series: &[Series<'_>]) -> Result<(), String> {
    ensure_font()?;
    let p = series.len().max(1);
    let side = (120 * p).clamp(400, 2000) as u32;
    let root = BitMapBackend::new(path, (side, side)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let pooled: Vec<Vec<f64>> = series
        .iter()
        .map(|s| s.chains.iter().flatten().copied().collect())
        .collect();
    let n = pooled.first().map_or(0, Vec::len);
    let step = (n / 800).max(1);
    let ranges: Vec<(f64, f64)> = pooled.iter().map(|v| range_of(v.iter())).collect();
    let cells = root.split_evenly((p, p));
    for i in 0..p {
        for j in 0..p {
            let area = &cells[i * p + j];
            if j > i {
                continue;
            }
            let label_x = i == p - 1;
            let label_y = j == 0 && i > 0;
            let mut builder = ChartBuilder::on(area);
            builder
                .margin(2)
                .x_label_area_size(if label_x { 30 } else { 0 })
                .y_label_area_size(if label_y { 30 } else { 0 });
            if i == j {
                let (lo, hi) = ranges[i];
                let h = histogram(&pooled[i], lo, hi, 30);
                let top = h.iter().fold(1.0_f64, |a, &b| a.max(b)) * 1.05;
                let mut chart = builder
                    .caption(series[i].name, ("sans-serif", 12))
                    .build_cartesian_2d(lo..hi, 0.0..top)
                    .map_err(err)?;
                chart
                    .configure_mesh()
                    .disable_mesh()
                    .x_labels(if label_x { 2 } else { 0 })
                    .y_labels(1)
                    .label_style(("sans-serif", 9))
                    .draw()
                    .map_err(err)?;
                let w = (hi - lo) / 30.0;
                chart
                    .draw_series(h.iter().enumerate().map(|(b, v)| {
                        let x = lo + b as f64 * w;
                        Rectangle::new([(x, 0.0), (x + w, *v)], chain_color(0).mix(0.6).filled())
                    }))
                    .map_err(err)?;
            } else {
                let (xlo, xhi) = ranges[j];
                let (ylo, yhi) = ranges[i];
                let mut chart = builder
                    .build_cartesian_2d(xlo..xhi, ylo..yhi)
                    .map_err(err)?;
                chart
                    .configure_mesh()
                    .disable_mesh()
                    .x_labels(if label_x { 2 } else { 0 })
                    .y_labels(if label_y { 2 } else { 0 })
                    .label_style(("sans-serif", 9))
                    .draw()
                    .map_err(err)?;
                chart
                    .draw_series((0..n).step_by(step).map(|t| {
                        Circle::new((pooled[j][t], pooled[i][t]), 1, BLACK.mix(0.3).filled())
                    }))
                    .map_err(err)?;
            }
        }
    }
    root.present().map_err(err)
}

/// One row of [`plot_versus_nlsq`].
pub struct Comparison<'a> {
    /// Name.
    pub name: &'a str,
    /// Posterior mean, std and 94 % HDI.
    pub post: (f64, f64, f64, f64),
    /// NLSQ value and standard error (if any).
    pub nlsq: (f64, Option<f64>),
}

/// Posterior mean and 94 % HDI against the NLSQ value ± 2σ, in units of the posterior
/// std around the posterior mean (so every row shares one axis).
pub fn plot_versus_nlsq(path: &Path, rows: &[Comparison<'_>]) -> Result<(), String> {
    ensure_font()?;
    let n = rows.len().max(1);
    let root = BitMapBackend::new(path, (900, (60 + 34 * n) as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let z = |r: &Comparison<'_>, v: f64| (v - r.post.0) / r.post.1.max(f64::MIN_POSITIVE);
    let lim = rows
        .iter()
        .flat_map(|r| {
            let (v, s) = r.nlsq;
            [
                z(r, r.post.2).abs(),
                z(r, r.post.3).abs(),
                z(r, v - 2.0 * s.unwrap_or(0.0)).abs(),
                z(r, v + 2.0 * s.unwrap_or(0.0)).abs(),
            ]
        })
        .filter(|v| v.is_finite())
        .fold(3.0_f64, f64::max)
        .min(50.0)
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "posterior (blue: mean, 94 % HDI) vs NLSQ (orange: value ± 2σ)",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(20)
        .build_cartesian_2d(-lim..lim, 0.0..n as f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("(value − posterior mean) / posterior std")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    // Row names inside the plot, at the left edge above each row.
    chart
        .draw_series(rows.iter().enumerate().map(|(k, r)| {
            let y = (n - 1 - k) as f64 + 0.95;
            Text::new(r.name.to_string(), (-lim * 0.98, y), ("sans-serif", 13))
        }))
        .map_err(err)?;
    let blue = chain_color(0);
    let orange = chain_color(1);
    for (k, r) in rows.iter().enumerate() {
        let y = (n - 1 - k) as f64 + 0.5;
        let clip = |v: f64| v.clamp(-lim, lim);
        chart
            .draw_series(LineSeries::new(
                [
                    (clip(z(r, r.post.2)), y + 0.1),
                    (clip(z(r, r.post.3)), y + 0.1),
                ],
                blue.stroke_width(3),
            ))
            .map_err(err)?;
        chart
            .draw_series([Circle::new((0.0, y + 0.1), 4, blue.filled())])
            .map_err(err)?;
        let (v, s) = r.nlsq;
        if let Some(s) = s {
            chart
                .draw_series(LineSeries::new(
                    [
                        (clip(z(r, v - 2.0 * s)), y - 0.15),
                        (clip(z(r, v + 2.0 * s)), y - 0.15),
                    ],
                    orange.stroke_width(2),
                ))
                .map_err(err)?;
        }
        chart
            .draw_series([Circle::new((clip(z(r, v)), y - 0.15), 4, orange.filled())])
            .map_err(err)?;
    }
    root.present().map_err(err)
}

//! PNG plots with plotters: per-angle heatmaps of data, fit and residuals with colour
//! bars, and cuts through the two-time matrix (constant lag vs age, and across the
//! diagonal at mid age) comparing data and fit.
//!
//! Text needs a TrueType font: the first of a few common system fonts is loaded at run
//! time (`fonts-dejavu-core` on Debian). Without one, plots are skipped with a message.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
];

/// Registers a system font for plot text once; `Err` names what was looked for.
pub(crate) fn ensure_font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        for path in FONT_CANDIDATES {
            if let Ok(bytes) = std::fs::read(path) {
                // plotters keeps fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                return plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                    .map_err(|_| format!("{path}: not a usable TrueType font"));
            }
        }
        Err(format!(
            "no TrueType font found (looked for {})",
            FONT_CANDIDATES.join(", ")
        ))
    })
    .clone()
}

fn viridis(v: f64) -> RGBColor {
    use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};
    ViridisRGB.get_color(v.clamp(0.0, 1.0))
}

/// Blue – white – red for residuals, `v` in [−1, 1].
fn diverging(v: f64) -> RGBColor {
    let v = v.clamp(-1.0, 1.0);
    let mix = |a: u8, b: u8, s: f64| (a as f64 + (b as f64 - a as f64) * s).round() as u8;
    if v < 0.0 {
        let s = -v;
        RGBColor(mix(255, 33, s), mix(255, 102, s), mix(255, 172, s))
    } else {
        RGBColor(mix(255, 178, v), mix(255, 24, v), mix(255, 43, v))
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// One heatmap with its colour bar; `color` maps a value to a colour, `range` is the
/// value range of the bar.
fn heatmap(
    area: &Area<'_>,
    title: &str,
    n: usize,
    t: &[f64],
    values: &dyn Fn(usize) -> f64,
    range: (f64, f64),
    color: &dyn Fn(f64) -> RGBColor,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let (main, bar) = area.split_horizontally(area.dim_in_pixel().0 as i32 - 90);
    let (t0, t1) = (t[0], t[n - 1]);
    let mut chart = ChartBuilder::on(&main)
        .caption(title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(t0..t1, t0..t1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("t2 (s)")
        .y_desc("t1 (s)")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    let plot = chart.plotting_area();
    let (px, py) = plot.dim_in_pixel();
    let (lo, hi) = range;
    let span = if hi > lo { hi - lo } else { 1.0 };
    // One rectangle per output pixel (nearest cell), so large matrices stay cheap.
    let (w, h) = (px.max(1) as usize, py.max(1) as usize);
    let cell = |k: usize, size: usize| ((k as f64 + 0.5) / size as f64 * n as f64) as usize;
    let dt_px_x = (t1 - t0) / w as f64;
    let dt_px_y = (t1 - t0) / h as f64;
    for yi in 0..h {
        let i = cell(h - 1 - yi, h).min(n - 1);
        for xi in 0..w {
            let j = cell(xi, w).min(n - 1);
            let v = values(i * n + j);
            let c = color((v - lo) / span);
            let x = t0 + xi as f64 * dt_px_x;
            let y = t1 - (yi + 1) as f64 * dt_px_y;
            plot.draw(&Rectangle::new(
                [(x, y), (x + dt_px_x, y + dt_px_y)],
                c.filled(),
            ))
            .map_err(e)?;
        }
    }
    let mut cb = ChartBuilder::on(&bar)
        .margin_top(36)
        .margin_bottom(44)
        .margin_right(4)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..1.0, lo..lo + span)
        .map_err(e)?;
    cb.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_label_style(("sans-serif", 11))
        .y_label_formatter(&|v| format!("{v:.4}"))
        .draw()
        .map_err(e)?;
    let steps = 128;
    for s in 0..steps {
        let a = lo + span * s as f64 / steps as f64;
        let b = lo + span * (s + 1) as f64 / steps as f64;
        cb.draw_series(std::iter::once(Rectangle::new(
            [(0.0, a), (1.0, b)],
            color((a - lo) / span).filled(),
        )))
        .map_err(e)?;
    }
    Ok(())
}

fn finite_range(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// Colour range of data and fit: robust against the diagonal spike of real data (the
/// 0.5th–99.5th percentile of the off-diagonal cells).
fn display_range(n: usize, data: &[f64]) -> (f64, f64) {
    heterodyne_core::data::quantile::off_diagonal_range(data, n, 0.005)
        .unwrap_or_else(|| finite_range(data))
}

/// Data, fit and residual heatmaps of one angle.
pub fn plot_fit_heatmaps(
    path: &Path,
    phi: f64,
    n: usize,
    t: &[f64],
    data: &[f64],
    fit: &[f64],
) -> Result<(), String> {
    ensure_font()?;
    let root = BitMapBackend::new(path, (1560, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((1, 3));
    let range = display_range(n, data);
    // Residuals where a pixel or the colour scale needs them: a residual matrix would
    // be one more copy of the data.
    let resid = |e: usize| data[e] - fit[e];
    let rmax = {
        let stride = (n * n / (1 << 22)).max(1);
        let mut a: Vec<f64> = (0..n * n)
            .step_by(stride)
            .filter(|e| e / n != e % n)
            .map(|e| resid(e).abs())
            .collect();
        let k = ((a.len().max(1) - 1) as f64 * 0.995) as usize;
        if k < a.len() {
            a.select_nth_unstable_by(k, f64::total_cmp).1.max(1e-12)
        } else {
            1.0
        }
    };
    heatmap(
        &panels[0],
        &format!("data  φ = {phi}°"),
        n,
        t,
        &|e| data[e],
        range,
        &viridis,
    )?;
    heatmap(
        &panels[1],
        &format!("fit  φ = {phi}°"),
        n,
        t,
        &|e| fit[e],
        range,
        &viridis,
    )?;
    heatmap(
        &panels[2],
        "residual (data − fit)",
        n,
        t,
        &resid,
        (-rmax, rmax),
        &|v| diverging(2.0 * v - 1.0),
    )?;
    root.present().map_err(|e| e.to_string())
}

/// Data heatmap of one angle (no fit).
pub fn plot_data_heatmap(
    path: &Path,
    phi: f64,
    n: usize,
    t: &[f64],
    data: &[f64],
) -> Result<(), String> {
    ensure_font()?;
    let root = BitMapBackend::new(path, (600, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    heatmap(
        &root,
        &format!("c2  φ = {phi}°"),
        n,
        t,
        &|e| data[e],
        display_range(n, data),
        &viridis,
    )?;
    root.present().map_err(|e| e.to_string())
}

/// Cuts of one angle: c2(t, t + τ) against t for a few lags τ, and c2 across the
/// diagonal at mid age, c2(t_m − τ/2, t_m + τ/2) against τ; data as points, fit as lines.
pub fn plot_cuts(
    path: &Path,
    phi: f64,
    n: usize,
    t: &[f64],
    data: &[f64],
    fit: &[f64],
) -> Result<(), String> {
    ensure_font()?;
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let root = BitMapBackend::new(path, (1200, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let (left, right) = root.split_horizontally(600);
    let dt = if n > 1 { t[1] - t[0] } else { 1.0 };
    let lags: Vec<usize> = [1, n / 10, n / 4]
        .into_iter()
        .filter(|&l| l >= 1 && l < n)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let palette = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
    ];
    let (lo, hi) = display_range(n, data);
    let pad = 0.05 * (hi - lo).max(1e-12);
    let mut chart = ChartBuilder::on(&left)
        .caption(format!("constant-lag cuts  φ = {phi}°"), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(t[0]..t[n - 1], (lo - pad)..(hi + pad))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("age t1 (s)")
        .y_desc("c2(t1, t1 + τ)")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    for (k, &lag) in lags.iter().enumerate() {
        let col = palette[k % palette.len()];
        let pts: Vec<(f64, f64, f64)> = (0..n - lag)
            .map(|i| (t[i], data[i * n + i + lag], fit[i * n + i + lag]))
            .collect();
        chart
            .draw_series(
                pts.iter()
                    .map(|&(x, d, _)| Circle::new((x, d), 2, col.mix(0.6).filled())),
            )
            .map_err(e)?
            .label(format!("τ = {:.3} s", lag as f64 * dt))
            .legend(move |(x, y)| Circle::new((x + 8, y), 3, col.filled()));
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|&(x, _, f)| (x, f)),
                col.stroke_width(2),
            ))
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    let mid = n / 2;
    let max_half = mid.min(n - 1 - mid);
    let pts: Vec<(f64, f64, f64)> = (0..=max_half)
        .map(|h| {
            let (i, j) = (mid - h, mid + h);
            (2.0 * h as f64 * dt, data[i * n + j], fit[i * n + j])
        })
        .collect();
    let tau_max = pts.last().map_or(1.0, |p| p.0.max(dt));
    let mut chart = ChartBuilder::on(&right)
        .caption(
            format!("across the diagonal at t = {:.3} s", t[mid]),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..tau_max, (lo - pad)..(hi + pad))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("lag τ = t2 − t1 (s)")
        .y_desc("c2")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    chart
        .draw_series(
            pts.iter()
                .map(|&(x, d, _)| Circle::new((x, d), 2, palette[0].mix(0.6).filled())),
        )
        .map_err(e)?;
    chart
        .draw_series(LineSeries::new(
            pts.iter().map(|&(x, _, f)| (x, f)),
            palette[1].stroke_width(2),
        ))
        .map_err(e)?;
    root.present().map_err(e)
}

//! One C2 matrix on a canvas: viridis-like colours between robust limits, a colour bar,
//! and the value under the pointer.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

/// Colour of `x` in [0, 1]: a perceptually ordered dark-blue → green → yellow ramp.
fn colour(x: f64) -> [u8; 3] {
    const STOPS: [[f64; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    let x = if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let s = x * 4.0;
    let i = (s.floor() as usize).min(3);
    let f = s - i as f64;
    let mut out = [0u8; 3];
    for c in 0..3 {
        out[c] = (STOPS[i][c] + f * (STOPS[i + 1][c] - STOPS[i][c])).round() as u8;
    }
    out
}

/// 1st and 99th percentiles of the off-diagonal cells (the diagonal is corrected data).
pub fn limits(m: &[f64], n: usize) -> (f64, f64) {
    match heterodyne_core::data::quantile::off_diagonal_range(m, n, 0.01) {
        Some((lo, hi)) if hi > lo => (lo, hi),
        Some((lo, _)) => (lo, lo + 1.0),
        None => (0.0, 1.0),
    }
}

fn draw(canvas: &HtmlCanvasElement, m: &[f64], n: usize, lo: f64, hi: f64) {
    canvas.set_width(n as u32);
    canvas.set_height(n as u32);
    let Ok(Some(ctx)) = canvas.get_context("2d") else {
        return;
    };
    let Ok(ctx) = ctx.dyn_into::<CanvasRenderingContext2d>() else {
        return;
    };
    let mut px = vec![0u8; n * n * 4];
    // Row t1 from the bottom, so that t1 grows upwards as in the CLI's plots.
    for i in 0..n {
        for j in 0..n {
            let c = colour((m[i * n + j] - lo) / (hi - lo));
            let k = ((n - 1 - i) * n + j) * 4;
            px[k..k + 3].copy_from_slice(&c);
            px[k + 3] = 255;
        }
    }
    // A copy in JavaScript's own memory: in the threaded build wasm memory is a
    // SharedArrayBuffer, which ImageData refuses.
    let pixels = js_sys::Uint8ClampedArray::new_with_length(px.len() as u32);
    pixels.copy_from(&px);
    if let Ok(img) = ImageData::new_with_js_u8_clamped_array_and_sh(&pixels, n as u32, n as u32) {
        let _ = ctx.put_image_data(&img, 0.0, 0.0);
    }
}

/// A heatmap of `matrix` (`n×n`) titled `title`, coloured between `lo` and `hi`.
#[component]
pub fn Heatmap(
    /// Caption.
    title: String,
    /// The matrix, row-major `[t1][t2]`.
    matrix: Vec<f64>,
    /// Side.
    n: usize,
    /// Colour limits.
    lo: f64,
    /// Colour limits.
    hi: f64,
    /// Element id prefix for tests and links.
    id: String,
) -> impl IntoView {
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let (hover, set_hover) = signal(String::from("point at a cell"));
    let m = matrix.clone();
    Effect::new(move |_| {
        if let Some(c) = canvas.get() {
            draw(&c, &m, n, lo, hi);
        }
    });
    let on_move = move |ev: web_sys::MouseEvent| {
        let Some(c) = canvas.get() else { return };
        let rect = c.get_bounding_client_rect();
        let (x, y) = (
            f64::from(ev.client_x()) - rect.left(),
            f64::from(ev.client_y()) - rect.top(),
        );
        let j = ((x / rect.width()) * n as f64).floor() as isize;
        let i = n as isize - 1 - ((y / rect.height()) * n as f64).floor() as isize;
        if (0..n as isize).contains(&i) && (0..n as isize).contains(&j) {
            let v = matrix[i as usize * n + j as usize];
            set_hover.set(format!("t1 = {i}, t2 = {j}: {v:.5}"));
        }
    };
    let bar: Vec<String> = (0..=10)
        .map(|k| {
            let [r, g, b] = colour(f64::from(k) / 10.0);
            format!("rgb({r},{g},{b})")
        })
        .collect();
    let gradient = format!("background: linear-gradient(to right, {});", bar.join(","));
    view! {
        <figure class="heatmap" id=id.clone()>
            <figcaption>{title}</figcaption>
            <canvas node_ref=canvas class="c2" aria-label="C2 heatmap" on:mousemove=on_move></canvas>
            <div class="colourbar" style=gradient></div>
            <div class="limits"><span>{format!("{lo:.4}")}</span><span>{format!("{hi:.4}")}</span></div>
            <output class="readout">{hover}</output>
        </figure>
    }
}

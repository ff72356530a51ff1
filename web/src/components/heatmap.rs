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

/// The cells shown: rows `r0..r1` (t1) and columns `c0..c1` (t2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First row.
    pub r0: usize,
    /// Past the last row.
    pub r1: usize,
    /// First column.
    pub c0: usize,
    /// Past the last column.
    pub c1: usize,
}

impl Window {
    /// The whole `n×n` matrix.
    pub fn full(n: usize) -> Self {
        Self {
            r0: 0,
            r1: n,
            c0: 0,
            c1: n,
        }
    }

    /// The window spanning cells `a` and `b` (row, column), both included.
    pub fn spanning(a: (usize, usize), b: (usize, usize)) -> Self {
        Self {
            r0: a.0.min(b.0),
            r1: a.0.max(b.0) + 1,
            c0: a.1.min(b.1),
            c1: a.1.max(b.1) + 1,
        }
    }

    /// Scaled by `factor` about its centre (< 1 zooms in), kept inside `n×n` and at least
    /// 2×2.
    pub fn scaled(self, factor: f64, n: usize) -> Self {
        if n < 2 {
            return self;
        }
        let axis = |a: usize, b: usize| {
            let centre = (a + b) as f64 / 2.0;
            let half = ((b - a) as f64 * factor / 2.0).clamp(1.0, n as f64 / 2.0);
            let lo = (centre - half).round().clamp(0.0, n as f64 - 2.0 * half) as usize;
            (lo, (lo + (2.0 * half).round() as usize).min(n))
        };
        let (r0, r1) = axis(self.r0, self.r1);
        let (c0, c1) = axis(self.c0, self.c1);
        Self { r0, r1, c0, c1 }
    }

    /// Moved by (`rows`, `cols`) cells, kept inside `n×n`.
    pub fn moved(self, rows: isize, cols: isize, n: usize) -> Self {
        let shift = |a: usize, b: usize, by: isize| {
            let lo = (a as isize + by).clamp(0, (n - (b - a)) as isize) as usize;
            (lo, lo + (b - a))
        };
        let (r0, r1) = shift(self.r0, self.r1, rows);
        let (c0, c1) = shift(self.c0, self.c1, cols);
        Self { r0, r1, c0, c1 }
    }

    fn rows(&self) -> usize {
        self.r1 - self.r0
    }

    fn cols(&self) -> usize {
        self.c1 - self.c0
    }
}

fn draw(canvas: &HtmlCanvasElement, m: &[f64], n: usize, w: Window, lo: f64, hi: f64) {
    let (rows, cols) = (w.rows(), w.cols());
    canvas.set_width(cols as u32);
    canvas.set_height(rows as u32);
    let Ok(Some(ctx)) = canvas.get_context("2d") else {
        return;
    };
    let Ok(ctx) = ctx.dyn_into::<CanvasRenderingContext2d>() else {
        return;
    };
    let mut px = vec![0u8; rows * cols * 4];
    // Row t1 from the bottom, so that t1 grows upwards as in the CLI's plots.
    for i in 0..rows {
        for j in 0..cols {
            let c = colour((m[(w.r0 + i) * n + w.c0 + j] - lo) / (hi - lo));
            let k = ((rows - 1 - i) * cols + j) * 4;
            px[k..k + 3].copy_from_slice(&c);
            px[k + 3] = 255;
        }
    }
    // A copy in JavaScript's own memory: in the threaded build wasm memory is a
    // SharedArrayBuffer, which ImageData refuses.
    let pixels = js_sys::Uint8ClampedArray::new_with_length(px.len() as u32);
    pixels.copy_from(&px);
    if let Ok(img) =
        ImageData::new_with_js_u8_clamped_array_and_sh(&pixels, cols as u32, rows as u32)
    {
        let _ = ctx.put_image_data(&img, 0.0, 0.0);
    }
}

/// A heatmap of `matrix` (`n×n`) titled `title`, coloured between `lo` and `hi`. Drag a
/// rectangle to zoom into it; on the focused canvas `+`/`-` zoom, the arrows pan and `0`
/// shows the whole matrix again.
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
    let (hover, set_hover) = signal(String::from("point at a cell; drag to zoom"));
    let window = RwSignal::new(Window::full(n));
    let drag_from = RwSignal::new(None::<(usize, usize)>);
    // Shared by the painter and the readout, not copied.
    let matrix: std::sync::Arc<[f64]> = matrix.into();
    let m = std::sync::Arc::clone(&matrix);
    Effect::new(move |_| {
        let w = window.get();
        if let Some(c) = canvas.get() {
            draw(&c, &m, n, w, lo, hi);
        }
    });
    // The cell (row t1, column t2) under the pointer.
    let cell_at = move |ev: &web_sys::MouseEvent| -> Option<(usize, usize)> {
        let c = canvas.get()?;
        let rect = c.get_bounding_client_rect();
        let w = window.get_untracked();
        let fx = (f64::from(ev.client_x()) - rect.left()) / rect.width();
        let fy = (f64::from(ev.client_y()) - rect.top()) / rect.height();
        if !(0.0..1.0).contains(&fx) || !(0.0..1.0).contains(&fy) {
            return None;
        }
        let j = w.c0 + (fx * w.cols() as f64).floor() as usize;
        let i = w.r1 - 1 - (fy * w.rows() as f64).floor() as usize;
        Some((i.min(n - 1), j.min(n - 1)))
    };
    let on_move = move |ev: web_sys::MouseEvent| {
        if let Some((i, j)) = cell_at(&ev) {
            let v = matrix[i * n + j];
            set_hover.set(format!("t1 = {i}, t2 = {j}: {v:.5}"));
        }
    };
    let on_down = move |ev: web_sys::MouseEvent| {
        ev.prevent_default();
        drag_from.set(cell_at(&ev));
    };
    let on_up = move |ev: web_sys::MouseEvent| {
        let (Some(a), Some(b)) = (drag_from.get_untracked(), cell_at(&ev)) else {
            return;
        };
        drag_from.set(None);
        let w = Window::spanning(a, b);
        // A click (or a sliver) is not a zoom.
        if w.rows() >= 2 && w.cols() >= 2 {
            window.set(w);
        }
    };
    let on_key = move |ev: web_sys::KeyboardEvent| {
        let w = window.get_untracked();
        let step = (w.rows().max(w.cols()) / 8).max(1) as isize;
        let next = match ev.key().as_str() {
            "+" | "=" => w.scaled(0.5, n),
            "-" | "_" => w.scaled(2.0, n),
            "0" => Window::full(n),
            "ArrowUp" => w.moved(step, 0, n),
            "ArrowDown" => w.moved(-step, 0, n),
            "ArrowLeft" => w.moved(0, -step, n),
            "ArrowRight" => w.moved(0, step, n),
            _ => return,
        };
        ev.prevent_default();
        window.set(next);
    };
    let bar: Vec<String> = (0..=10)
        .map(|k| {
            let [r, g, b] = colour(f64::from(k) / 10.0);
            format!("rgb({r},{g},{b})")
        })
        .collect();
    let gradient = format!("background: linear-gradient(to right, {});", bar.join(","));
    let shown = move || {
        let w = window.get();
        format!("t1 {}–{}, t2 {}–{}", w.r0, w.r1 - 1, w.c0, w.c1 - 1)
    };
    view! {
        <figure class="heatmap" id=id.clone()>
            <figcaption>{title}</figcaption>
            <canvas node_ref=canvas class="c2" tabindex="0"
                aria-label="C2 heatmap: drag to zoom; + and - zoom, arrows pan, 0 resets"
                on:mousemove=on_move on:mousedown=on_down on:mouseup=on_up on:keydown=on_key></canvas>
            <div class="colourbar" style=gradient></div>
            <div class="limits"><span>{format!("{lo:.4}")}</span><span>{format!("{hi:.4}")}</span></div>
            <div class="zoom">
                <span class="window">{shown}</span>
                <button class="reset" on:click=move |_| window.set(Window::full(n))
                    disabled=move || window.get() == Window::full(n)>"whole matrix"</button>
            </div>
            <output class="readout">{hover}</output>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zooming_stays_inside_the_matrix() {
        let full = Window::full(100);
        let z = full.scaled(0.5, 100);
        assert_eq!((z.rows(), z.cols()), (50, 50));
        assert_eq!(z.scaled(4.0, 100), full);
        let corner = Window::spanning((0, 0), (9, 9)).moved(-5, -5, 100);
        assert_eq!(corner, Window::spanning((0, 0), (9, 9)));
        let far = Window::spanning((90, 90), (99, 99)).moved(5, 5, 100);
        assert_eq!(far, Window::spanning((90, 90), (99, 99)));
        let tiny = Window::spanning((4, 4), (5, 5)).scaled(0.1, 100);
        assert!(tiny.rows() >= 2 && tiny.cols() >= 2, "{tiny:?}");
    }
}

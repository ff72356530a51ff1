//! Cumulative trapezoid integrals on the model grid (spec physics.md §4).

/// Cumulative trapezoid of samples `g` with step `dt`, written into `out` (same length):
/// `out[0] = 0`, `out[k] = (Σ_{i<k} (g[i] + g[i+1]) / 2) · dt` — summed first, then scaled
/// by `dt`, as the reference does.
pub fn trapezoid_cumsum_into(g: &[f64], dt: f64, out: &mut [f64]) {
    debug_assert_eq!(g.len(), out.len());
    let mut acc = 0.0;
    if let Some(first) = out.first_mut() {
        *first = 0.0;
    }
    for k in 1..g.len() {
        acc += (g[k - 1] + g[k]) / 2.0;
        out[k] = acc * dt;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_for_linear_rates() {
        let dt = 0.5;
        let g: Vec<f64> = (0..5).map(|k| 2.0 + 3.0 * k as f64 * dt).collect();
        let mut c = vec![0.0; 5];
        trapezoid_cumsum_into(&g, dt, &mut c);
        for (k, &ck) in c.iter().enumerate() {
            let t = k as f64 * dt;
            assert!((ck - (2.0 * t + 1.5 * t * t)).abs() < 1e-12);
        }
    }
}

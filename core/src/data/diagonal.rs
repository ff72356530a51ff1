//! The reference's mandatory diagonal correction (spec physics.md §9.2, method "basic",
//! width 1): the diagonal is replaced by the average of the neighbouring side-band values,
//! where the side band averages both first off-diagonals.

/// Corrects the diagonal of one `n×n` matrix in place; `n ≤ 1` is left unchanged.
pub fn correct_diagonal(c2: &mut [f64], n: usize) {
    debug_assert_eq!(c2.len(), n * n);
    if n <= 1 {
        return;
    }
    let side: Vec<f64> = (0..n - 1)
        .map(|i| (c2[i * n + i + 1] + c2[(i + 1) * n + i]) / 2.0)
        .collect();
    c2[0] = side[0];
    for i in 1..n - 1 {
        c2[i * n + i] = (side[i - 1] + side[i]) / 2.0;
    }
    c2[(n - 1) * n + n - 1] = side[n - 2];
}

/// Corrects every matrix of a `[phi][n][n]` stack.
pub fn correct_diagonal_stack(c2: &mut [f64], n: usize) {
    for m in c2.chunks_exact_mut(n * n) {
        correct_diagonal(m, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_band_rule() {
        // 3×3 with distinct off-diagonals.
        let mut m = vec![9.0, 1.0, 5.0, 3.0, 9.0, 2.0, 5.0, 4.0, 9.0];
        correct_diagonal(&mut m, 3);
        // s = [(1+3)/2, (2+4)/2] = [2, 3]
        assert_eq!([m[0], m[4], m[8]], [2.0, 2.5, 3.0]);
        assert_eq!(m[1], 1.0);
    }
}

//! What a reader returns: matrices as stored (after the half-matrix rebuild) with the q
//! and φ of each, before any selection.

/// The correlation matrices of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct RawStack {
    /// Values `[matrix][t1][t2]`, float64.
    pub c2: Vec<f64>,
    /// Matrix size.
    pub n: usize,
    /// q of each matrix, 1/Å, when the file says.
    pub q: Vec<Option<f64>>,
    /// φ of each matrix, degrees, when the file says.
    pub phi: Vec<Option<f64>>,
    /// Frame times as stored (often frame indices), if any.
    pub t: Option<Vec<f64>>,
    /// Frame spacing from the file's metadata, s, if any.
    pub frame_time: Option<f64>,
    /// Which layout was read.
    pub layout: &'static str,
    /// Notes for the user (a full matrix detected where a half was expected, …).
    pub notes: Vec<String>,
}

impl RawStack {
    /// Number of matrices.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Whether there is no matrix.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Matrix `k`.
    pub fn matrix(&self, k: usize) -> &[f64] {
        &self.c2[k * self.n * self.n..(k + 1) * self.n * self.n]
    }

    /// A stack stored as one `(N, N)` or `(n, N, N)` array with optional q, φ and time
    /// arrays (one value per matrix, or one for all). `Err` describes a bad shape.
    pub fn from_array(
        shape: &[usize],
        c2: Vec<f64>,
        q: Option<Vec<f64>>,
        phi: Option<Vec<f64>>,
        t: Option<Vec<f64>>,
        layout: &'static str,
    ) -> Result<Self, String> {
        let (k, n, _) = stack_shape(shape)?;
        if c2.len() != k * n * n {
            return Err(format!("holds {} values for its shape {shape:?}", c2.len()));
        }
        let per = |v| per_matrix(v, k);
        Ok(Self {
            c2,
            n,
            q: per(q),
            phi: per(phi),
            t,
            frame_time: None,
            layout,
            notes: Vec::new(),
        })
    }
}

/// Matrices and size of a stack stored as one `(N, N)` or `(k, N, N)` array: (k, N,
/// whether it is 3-D). `Err` describes a bad shape.
pub fn stack_shape(shape: &[usize]) -> Result<(usize, usize, bool), String> {
    match *shape {
        [a, b] if a == b && a > 0 => Ok((1, a, false)),
        [k, a, b] if a == b && a > 0 => Ok((k, a, true)),
        _ => Err(format!(
            "expected a square two-time array, (N, N) or (n, N, N); found shape {shape:?}"
        )),
    }
}

/// One value per matrix from a per-matrix array (`k` values) or a single value for all.
pub fn per_matrix(v: Option<Vec<f64>>, k: usize) -> Vec<Option<f64>> {
    match v {
        Some(v) if v.len() == k => v.into_iter().map(Some).collect(),
        Some(v) if !v.is_empty() => vec![Some(v[0]); k],
        _ => vec![None; k],
    }
}

/// Rebuilds a full symmetric matrix from one stored as a triangle: `M + Mᵀ − diag(M)`
/// (spec data-format.md §4) — unless the matrix already holds both triangles, which the
/// reference would double. Returns whether the input was already full.
pub fn rebuild_half_matrix(m: &mut [f64], n: usize) -> bool {
    let (mut upper, mut lower, mut mismatch) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..n {
        for j in i + 1..n {
            let (u, l) = (m[i * n + j], m[j * n + i]);
            upper += u.abs();
            lower += l.abs();
            mismatch += (u - l).abs();
        }
    }
    let full = upper > 0.0 && lower > 0.0 && mismatch <= 1e-6 * upper.max(lower);
    if full {
        return true;
    }
    for i in 0..n {
        for j in i + 1..n {
            let s = m[i * n + j] + m[j * n + i];
            m[i * n + j] = s;
            m[j * n + i] = s;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_and_full_matrices() {
        let mut upper = vec![1.0, 2.0, 3.0, 0.0, 1.0, 4.0, 0.0, 0.0, 1.0];
        assert!(!rebuild_half_matrix(&mut upper, 3));
        assert_eq!(upper, vec![1.0, 2.0, 3.0, 2.0, 1.0, 4.0, 3.0, 4.0, 1.0]);
        let mut full = upper.clone();
        assert!(rebuild_half_matrix(&mut full, 3));
        assert_eq!(full, upper);
        let mut lower = vec![1.0, 0.0, 0.0, 2.0, 1.0, 0.0, 3.0, 4.0, 1.0];
        rebuild_half_matrix(&mut lower, 3);
        assert_eq!(lower, upper);
    }
}

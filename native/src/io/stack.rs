//! A stack of two-time correlation matrices with its axes, as read from or written to a
//! file.

/// c2 for several angles of one q, `[phi][t1][t2]`.
#[derive(Debug, Clone, PartialEq)]
pub struct C2Stack {
    /// Values, row-major `[phi][t1][t2]`.
    pub c2: Vec<f64>,
    /// Matrix size N (frames).
    pub n: usize,
    /// Time of each frame, s (or frame indices when the file has no time axis).
    pub t: Vec<f64>,
    /// Detector angle of each matrix, degrees.
    pub phi: Vec<f64>,
    /// Wavevector, 1/Å.
    pub q: f64,
    /// Frame spacing, s, when known.
    pub dt: Option<f64>,
}

impl C2Stack {
    /// Number of angles.
    pub fn n_phi(&self) -> usize {
        self.phi.len()
    }

    /// Matrix of angle `a`.
    pub fn matrix(&self, a: usize) -> &[f64] {
        &self.c2[a * self.n * self.n..(a + 1) * self.n * self.n]
    }
}

//! Detector angles: normalisation, circular distance, and the `phi_filtering` ranges with
//! wrap-around (spec data-format.md §6, physics.md §7). Degrees throughout.

/// `((a + 180) mod 360) − 180` with Python's modulo: [−180, 180), 180 → −180.
pub fn normalize_angle(a: f64) -> f64 {
    (a + 180.0).rem_euclid(360.0) - 180.0
}

/// Circular distance |a − b| on the circle, in [0, 180].
pub fn circular_distance(a: f64, b: f64) -> f64 {
    normalize_angle(normalize_angle(a) - normalize_angle(b)).abs()
}

/// Index of the angle in `available` closest to `target` on the circle (first on ties).
pub fn nearest_angle(available: &[f64], target: f64) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, &a) in available.iter().enumerate() {
        let d = circular_distance(a, target);
        if best.is_none_or(|(_, bd)| d < bd) {
            best = Some((i, d));
        }
    }
    best.map(|(i, _)| i)
}

/// One `phi_filtering.target_ranges` entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AngleRange {
    /// Inclusive `[lo, hi]`; `lo > hi` (after normalisation to (−180, 180]) wraps around.
    Range {
        /// Lower edge, degrees.
        lo: f64,
        /// Upper edge, degrees.
        hi: f64,
    },
    /// `centre ± tolerance`.
    Centre {
        /// Centre, degrees.
        centre: f64,
        /// Half width, degrees.
        tolerance: f64,
    },
}

/// Normalises to (−180, 180], the convention of the reference's range test.
fn half_open_up(a: f64) -> f64 {
    let x = normalize_angle(a);
    if x == -180.0 { 180.0 } else { x }
}

impl AngleRange {
    /// Whether `angle` lies in the range.
    pub fn contains(&self, angle: f64) -> bool {
        match *self {
            AngleRange::Range { lo, hi } => {
                let (lo, hi, a) = (half_open_up(lo), half_open_up(hi), half_open_up(angle));
                if lo <= hi {
                    lo <= a && a <= hi
                } else {
                    a >= lo || a <= hi
                }
            }
            AngleRange::Centre { centre, tolerance } => {
                circular_distance(angle, centre) <= tolerance
            }
        }
    }
}

/// Indices of `angles` inside any of `ranges`.
pub fn filter_angles(angles: &[f64], ranges: &[AngleRange]) -> Vec<usize> {
    (0..angles.len())
        .filter(|&i| ranges.iter().any(|r| r.contains(angles[i])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_follows_python_modulo() {
        assert_eq!(normalize_angle(180.0), -180.0);
        assert_eq!(normalize_angle(-180.0), -180.0);
        assert_eq!(normalize_angle(190.0), -170.0);
        assert_eq!(normalize_angle(-190.0), 170.0);
        assert!((circular_distance(179.0, -179.0) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn wrap_around_ranges() {
        let r = AngleRange::Range {
            lo: 170.0,
            hi: -170.0,
        };
        assert!(r.contains(175.0) && r.contains(-175.0) && r.contains(180.0));
        assert!(!r.contains(0.0));
        let angles = [0.0, 45.0, 90.0, 179.0];
        let c = AngleRange::Centre {
            centre: -178.0,
            tolerance: 5.0,
        };
        assert_eq!(filter_angles(&angles, &[c]), vec![3]);
        assert_eq!(nearest_angle(&angles, -179.5), Some(3));
    }
}

//! Choosing what to fit from a stack of matrices: the frame window, the q-bin and the
//! angles (spec data-format.md §5–6).

use super::angles::{AngleRange, circular_distance, filter_angles, nearest_angle};
use crate::error::{Error, Result};

/// Checks the 1-based inclusive frame window `start..=end` against `n` frames.
pub fn window_check(n: usize, start: usize, end: usize) -> Result<()> {
    if start < 1 {
        return Err(Error::invalid(
            "start_frame",
            format!("must be ≥ 1 (frames are 1-based), got {start}"),
        ));
    }
    if end < start {
        return Err(Error::invalid(
            "end_frame",
            format!("{end} is before start_frame {start}"),
        ));
    }
    if end > n {
        return Err(Error::invalid(
            "end_frame",
            format!("{end} is beyond the {n} frames in the data (no silent clamping)"),
        ));
    }
    Ok(())
}

/// Indices of the matrices of the q-bin nearest to `target` among those within
/// `tolerance` (1/Å). Matrices without a q are kept only when no matrix has one.
pub fn select_q(q: &[Option<f64>], target: f64, tolerance: f64) -> Result<Vec<usize>> {
    if q.iter().all(Option::is_none) {
        return Ok((0..q.len()).collect());
    }
    let nearest = q
        .iter()
        .flatten()
        .copied()
        .filter(|v| (v - target).abs() <= tolerance)
        .min_by(|a, b| (a - target).abs().total_cmp(&(b - target).abs()));
    match nearest {
        Some(bin) => Ok((0..q.len()).filter(|&k| q[k] == Some(bin)).collect()),
        None => {
            let mut avail: Vec<f64> = q.iter().flatten().copied().collect();
            avail.sort_by(f64::total_cmp);
            avail.dedup();
            Err(Error::invalid(
                "wavevector_q",
                format!("no q-bin within {tolerance:.3e} 1/Å of {target} (available: {avail:?})"),
            ))
        }
    }
}

/// How angles are chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum AngleRequest {
    /// Every angle present.
    All,
    /// These angles (degrees): each takes the nearest matrix on the circle.
    Angles(Vec<f64>),
    /// The `phi_filtering` ranges; with `fallback`, no match means all angles.
    Filter {
        /// Ranges.
        ranges: Vec<AngleRange>,
        /// Use every angle when nothing matches.
        fallback: bool,
    },
}

/// Result of angle selection: matrix indices and remarks.
#[derive(Debug, Clone, PartialEq)]
pub struct AngleChoice {
    /// Chosen matrix indices (into the candidates' stack), unique, in request order.
    pub indices: Vec<usize>,
    /// Remarks for the user.
    pub notes: Vec<String>,
}

/// Picks matrices among `candidates` (with angles `phi`, degrees) for `request`.
pub fn select_angles(
    candidates: &[usize],
    phi: &[f64],
    request: &AngleRequest,
) -> Result<AngleChoice> {
    let cand_phi: Vec<f64> = candidates.iter().map(|&k| phi[k]).collect();
    let mut notes = Vec::new();
    let mut pick: Vec<usize> = match request {
        AngleRequest::All => (0..candidates.len()).collect(),
        AngleRequest::Angles(want) => {
            let mut v = Vec::new();
            for &w in want {
                let i = nearest_angle(&cand_phi, w)
                    .ok_or_else(|| Error::invalid("phi_angles", "the data hold no matrix"))?;
                let dist = circular_distance(cand_phi[i], w);
                if dist > 1e-9 {
                    notes.push(format!(
                        "requested φ = {w}° uses the matrix at φ = {}° ({dist:.3}° away)",
                        cand_phi[i]
                    ));
                }
                v.push(i);
            }
            v
        }
        AngleRequest::Filter { ranges, fallback } => {
            let hit = filter_angles(&cand_phi, ranges);
            if hit.is_empty() {
                if *fallback {
                    notes.push(
                        "phi_filtering matched no angle: using all angles (fallback_to_all_angles)"
                            .into(),
                    );
                    (0..candidates.len()).collect()
                } else {
                    return Err(Error::invalid(
                        "phi_filtering",
                        format!(
                            "target_ranges match none of the data angles {cand_phi:?} and fallback_to_all_angles is false"
                        ),
                    ));
                }
            } else {
                hit
            }
        }
    };
    let mut seen = Vec::new();
    pick.retain(|i| {
        let new = !seen.contains(i);
        seen.push(*i);
        new
    });
    Ok(AngleChoice {
        indices: pick.into_iter().map(|i| candidates[i]).collect(),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_inside_the_frames_only() {
        assert!(window_check(4, 2, 3).is_ok());
        assert!(window_check(4, 2, 5).is_err());
        assert!(window_check(4, 0, 2).is_err());
        assert!(window_check(4, 3, 2).is_err());
    }

    #[test]
    fn q_bins_and_angles() {
        let q = [Some(0.0054), Some(0.0054), Some(0.0081), Some(0.0081)];
        assert_eq!(select_q(&q, 0.0055, 0.001).expect("q"), vec![0, 1]);
        assert!(select_q(&q, 0.02, 0.001).is_err());
        let phi = [0.0, 90.0, 0.0, 90.0];
        let c = select_angles(&[0, 1], &phi, &AngleRequest::Angles(vec![89.0, 0.0])).expect("phi");
        assert_eq!(c.indices, vec![1, 0]);
        let none = AngleRequest::Filter {
            ranges: vec![AngleRange::Range { lo: 30.0, hi: 40.0 }],
            fallback: false,
        };
        assert!(select_angles(&[0, 1], &phi, &none).is_err());
    }
}

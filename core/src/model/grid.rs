//! The model time grid (spec physics.md §2): `t[k] = k·dt + t_start`, k = 0..N−1, built
//! from the config, never from the times stored in a data file.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where the first frame of the analysed window sits in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeOrigin {
    /// The first frame of the window sits at `t = dt`, whatever `start_frame` is (the
    /// released `heterodyne` 2.0.1 and `xpcsjax`).
    #[default]
    Window,
    /// Frame i (1-based) of the file sits at `t = i·dt`, so a window starting at
    /// `start_frame = s` starts at `t = s·dt` (physically right when t = 0 is the start of
    /// flow; an unreleased version of the reference).
    Absolute,
}

/// A uniform grid of `n` times, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeGrid {
    /// Frame spacing, s (also the trapezoid step).
    pub dt: f64,
    /// Time of the first grid point, s.
    pub t_start: f64,
    /// Number of frames.
    pub n: usize,
}

impl TimeGrid {
    /// The grid for the 1-based inclusive frame window `start_frame..=end_frame`.
    pub fn from_frames(
        dt: f64,
        start_frame: usize,
        end_frame: usize,
        origin: TimeOrigin,
    ) -> Result<Self> {
        if start_frame < 1 {
            return Err(Error::invalid(
                "start_frame",
                format!("must be ≥ 1 (frames are 1-based), got {start_frame}"),
            ));
        }
        if end_frame < start_frame {
            return Err(Error::invalid(
                "end_frame",
                format!("{end_frame} is before start_frame {start_frame}"),
            ));
        }
        let t_start = match origin {
            TimeOrigin::Window => dt,
            TimeOrigin::Absolute => start_frame as f64 * dt,
        };
        Self::new(dt, t_start, end_frame - start_frame + 1)
    }

    /// The window-relative grid `dt, 2·dt, …, n·dt`.
    pub fn window(dt: f64, n: usize) -> Result<Self> {
        Self::new(dt, dt, n)
    }

    /// A grid with an explicit first time.
    pub fn new(dt: f64, t_start: f64, n: usize) -> Result<Self> {
        if !(dt.is_finite() && dt > 0.0) {
            return Err(Error::invalid("dt", format!("must be > 0 s, got {dt}")));
        }
        if !t_start.is_finite() {
            return Err(Error::invalid(
                "t_start",
                format!("must be finite, got {t_start}"),
            ));
        }
        if n == 0 {
            return Err(Error::invalid("n_frames", "the window holds no frame"));
        }
        Ok(Self { dt, t_start, n })
    }

    /// Time of grid point `k`, evaluated as the reference does: `fl(fl(k·dt) + t_start)`.
    pub fn t(&self, k: usize) -> f64 {
        k as f64 * self.dt + self.t_start
    }

    /// All grid times.
    pub fn times(&self) -> Vec<f64> {
        (0..self.n).map(|k| self.t(k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ignores_start_frame_absolute_does_not() {
        let w = TimeGrid::from_frames(0.001, 51, 250, TimeOrigin::Window).expect("grid");
        let a = TimeGrid::from_frames(0.001, 51, 250, TimeOrigin::Absolute).expect("grid");
        assert_eq!(w.n, 200);
        assert_eq!(w.t(0), 0.001);
        assert_eq!(a.t(0), 51.0 * 0.001);
        let w1 = TimeGrid::from_frames(0.5, 1, 100, TimeOrigin::Window).expect("grid");
        let a1 = TimeGrid::from_frames(0.5, 1, 100, TimeOrigin::Absolute).expect("grid");
        assert_eq!(w1, a1);
    }

    #[test]
    fn rejects_bad_windows() {
        assert!(TimeGrid::from_frames(0.0, 1, 10, TimeOrigin::Window).is_err());
        assert!(TimeGrid::from_frames(0.1, 0, 10, TimeOrigin::Window).is_err());
        assert!(TimeGrid::from_frames(0.1, 11, 10, TimeOrigin::Window).is_err());
    }
}

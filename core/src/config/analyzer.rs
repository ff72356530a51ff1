//! `analyzer_parameters`: frame spacing, frame window, wavevector, angles, time origin.

use crate::model::{TimeGrid, TimeOrigin};

use super::Warnings;
use super::error::ConfigError;
use super::node::Node;

/// What the model needs from `analyzer_parameters` (spec interfaces.md §3.3).
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzerParameters {
    /// Frame spacing, s.
    pub dt: f64,
    /// First analysed frame, 1-based inclusive.
    pub start_frame: usize,
    /// Last analysed frame, 1-based inclusive.
    pub end_frame: usize,
    /// Wavevector of the model, 1/Å (the model never takes q from the data file).
    pub wavevector_q: f64,
    /// Detector angles to analyse, degrees (`scattering.phi_angles`), if given.
    pub phi_angles: Option<Vec<f64>>,
    /// Time origin of the model grid (our addition; default `window` as the reference).
    pub time_origin: TimeOrigin,
}

const KNOWN: &[&str] = &[
    "dt",
    "start_frame",
    "end_frame",
    "scattering",
    "geometry",
    "temporal",
    "time_origin",
];

impl AnalyzerParameters {
    /// Reads the section (legacy `temporal.dt` and top-level `scattering` accepted).
    pub fn read(root: &Node<'_>, warnings: &mut Warnings) -> Result<Self, ConfigError> {
        let ap = root
            .get("analyzer_parameters")
            .ok_or_else(|| root.error("missing section 'analyzer_parameters'"))?;
        for (name, _) in ap.children()? {
            if !KNOWN.contains(&name) {
                warnings.push(format!("unknown key '{}' ignored", ap.child_key(name)));
            }
        }
        let dt = match ap
            .get("dt")
            .or_else(|| ap.get("temporal").and_then(|t| t.get("dt")))
        {
            Some(n) => {
                let dt = n.f64()?;
                if dt <= 0.0 {
                    return Err(n.error(format!("must be > 0 s, got {dt}")));
                }
                dt
            }
            None => return Err(ap.error("missing key 'dt' (frame spacing in seconds)")),
        };
        let start_frame = match ap.get("start_frame") {
            Some(n) => {
                let s = n.usize()?;
                if s < 1 {
                    return Err(n.error("must be ≥ 1 (frames are 1-based)"));
                }
                s
            }
            None => 1,
        };
        let end_node = ap
            .get("end_frame")
            .ok_or_else(|| ap.error("missing key 'end_frame' (last frame, 1-based inclusive)"))?;
        let end_frame = end_node.usize()?;
        if end_frame < start_frame {
            return Err(end_node.error(format!(
                "end_frame {end_frame} is before start_frame {start_frame}"
            )));
        }
        let scattering = ap.get("scattering").or_else(|| root.get("scattering"));
        let q_node = scattering
            .as_ref()
            .and_then(|s| s.get("wavevector_q"))
            .ok_or_else(|| ap.error("missing key 'scattering.wavevector_q' (1/Å)"))?;
        let wavevector_q = q_node.f64()?;
        if wavevector_q <= 0.0 {
            return Err(q_node.error(format!("must be > 0 1/Å, got {wavevector_q}")));
        }
        let phi_angles = scattering
            .as_ref()
            .and_then(|s| s.get("phi_angles"))
            .map(|n| n.f64_list())
            .transpose()?;
        let time_origin = match ap.get("time_origin") {
            Some(n) => parse_time_origin(&n)?,
            None => TimeOrigin::Window,
        };
        Ok(Self {
            dt,
            start_frame,
            end_frame,
            wavevector_q,
            phi_angles,
            time_origin,
        })
    }

    /// Number of frames in the window.
    pub fn n_frames(&self) -> usize {
        self.end_frame - self.start_frame + 1
    }

    /// The model grid of the window.
    pub fn grid(&self) -> Result<TimeGrid, crate::Error> {
        TimeGrid::from_frames(self.dt, self.start_frame, self.end_frame, self.time_origin)
    }
}

fn parse_time_origin(n: &Node<'_>) -> Result<TimeOrigin, ConfigError> {
    match n.str()? {
        "window" => Ok(TimeOrigin::Window),
        "absolute" => Ok(TimeOrigin::Absolute),
        other => Err(n.error(format!("expected 'window' or 'absolute', found {other:?}"))),
    }
}

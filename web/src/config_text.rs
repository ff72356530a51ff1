//! The YAML config the page edits: written from the form (analyzer settings and the
//! parameter table) in the CLI's schema, and read back with the CLI's own reader
//! (`heterodyne_core::config`), so a config made here runs on the CLI and back.

use heterodyne_core::config::Config;
use heterodyne_core::model::params::{Group, PHYSICS};

/// One row of the parameter table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Canonical name (`D0_ref` …).
    pub name: &'static str,
    /// Start value.
    pub value: f64,
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
    /// Free in the fit.
    pub vary: bool,
}

/// Analyzer settings of the form.
#[derive(Debug, Clone, PartialEq)]
pub struct Analyzer {
    /// Frame spacing, s.
    pub dt: f64,
    /// Wavevector, 1/Å.
    pub q: f64,
    /// First frame (1-based).
    pub start_frame: usize,
    /// Last frame (inclusive).
    pub end_frame: usize,
    /// Angles to fit, degrees (`None`: every angle at this q).
    pub phi: Option<Vec<f64>>,
}

/// The registry's defaults and bounds.
pub fn default_rows() -> Vec<Row> {
    PHYSICS
        .iter()
        .map(|p| Row {
            name: p.name,
            value: p.default,
            min: p.min,
            max: p.max,
            vary: true,
        })
        .collect()
}

/// The YAML of the form.
pub fn to_yaml(a: &Analyzer, rows: &[Row]) -> String {
    let mut y = format!(
        "analyzer_parameters:\n  dt: {}\n  start_frame: {}\n  end_frame: {}\n  scattering:\n    wavevector_q: {}\n",
        a.dt, a.start_frame, a.end_frame, a.q
    );
    if let Some(phi) = &a.phi {
        let list: Vec<String> = phi.iter().map(f64::to_string).collect();
        y += &format!("    phi_angles: [{}]\n", list.join(", "));
    }
    y += "parameters:\n";
    for group in [
        Group::Reference,
        Group::Sample,
        Group::Velocity,
        Group::Fraction,
        Group::Angle,
    ] {
        y += &format!("  {}:\n", group.key());
        for (spec, row) in PHYSICS.iter().zip(rows) {
            if spec.group == group {
                y += &format!(
                    "    {}: {{value: {}, min: {}, max: {}, vary: {}}}\n",
                    row.name, row.value, row.min, row.max, row.vary
                );
            }
        }
    }
    y
}

/// Reads a config (the CLI's reader) into the form's analyzer settings and rows.
pub fn from_yaml(text: &str) -> Result<(Config, Analyzer, Vec<Row>), String> {
    let config = Config::parse(std::path::Path::new("config"), text).map_err(|e| e.to_string())?;
    let a = Analyzer {
        dt: config.analyzer.dt,
        q: config.analyzer.wavevector_q,
        start_frame: config.analyzer.start_frame,
        end_frame: config.analyzer.end_frame,
        phi: config.analyzer.phi_angles.clone(),
    };
    let rows = config
        .parameters
        .physics
        .iter()
        .map(|p| Row {
            name: p.name,
            value: p.value,
            min: p.min,
            max: p.max,
            vary: p.vary,
        })
        .collect();
    Ok((config, a, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_round_trips_through_the_cli_reader() {
        let a = Analyzer {
            dt: 0.5,
            q: 0.0054,
            start_frame: 1,
            end_frame: 100,
            phi: Some(vec![0.0, 45.0]),
        };
        let mut rows = default_rows();
        rows[0].value = 550.0;
        rows[3].vary = false;
        let (config, a2, rows2) = from_yaml(&to_yaml(&a, &rows)).expect("parse");
        assert_eq!(a2, a);
        assert_eq!(rows2, rows);
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }
}

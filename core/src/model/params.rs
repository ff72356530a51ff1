//! The parameter space: the 14 physics parameters and the 2 per-angle scaling
//! parameters, with names, order, defaults, bounds, priors and units exactly as the
//! reference registry (`heterodyne` 2.0.1, spec physics.md §1).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Number of physics parameters (the kernel's `params[0..13]`).
pub const N_PHYSICS: usize = 14;

/// Length of a per-element gradient: the 14 physics parameters, then `contrast`, `offset`.
pub const GRAD_LEN: usize = N_PHYSICS + 2;

/// Index of `contrast` in a gradient vector.
pub const CONTRAST: usize = N_PHYSICS;
/// Index of `offset` in a gradient vector.
pub const OFFSET: usize = N_PHYSICS + 1;

/// Parameter group, as in the `parameters.<group>` section of a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// Reference transport J_r(t) = D0_ref t^alpha_ref + D_offset_ref.
    Reference,
    /// Sample transport J_s(t) = D0_sample t^alpha_sample + D_offset_sample.
    Sample,
    /// Velocity v(t) = v0 t^beta + v_offset.
    Velocity,
    /// Sample fraction f_s(t) = smooth_clip(f0 exp(f1 (t − f2)) + f3, 0, 1).
    Fraction,
    /// Flow angle phi0.
    Angle,
    /// Per-angle contrast and offset.
    Scaling,
}

impl Group {
    /// The group's key in the config.
    pub fn key(self) -> &'static str {
        match self {
            Group::Reference => "reference",
            Group::Sample => "sample",
            Group::Velocity => "velocity",
            Group::Fraction => "fraction",
            Group::Angle => "angle",
            Group::Scaling => "scaling",
        }
    }
}

/// Everything the registry knows about one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamSpec {
    /// Canonical name (`D0_ref`, `alpha_sample`, …).
    pub name: &'static str,
    /// Config group.
    pub group: Group,
    /// Registry default value.
    pub default: f64,
    /// Registry lower bound.
    pub min: f64,
    /// Registry upper bound.
    pub max: f64,
    /// Mean of the default (truncated normal) prior.
    pub prior_mean: f64,
    /// Standard deviation of the default prior.
    pub prior_std: f64,
    /// Whether the reference samples/scales it in log space.
    pub log_space: bool,
    /// Dimensionally consistent unit (spec physics.md §1.1), e.g. `Å²·s^-(α+1)`.
    pub unit: &'static str,
}

const fn spec(
    name: &'static str,
    group: Group,
    default: f64,
    (min, max): (f64, f64),
    (prior_mean, prior_std): (f64, f64),
    log_space: bool,
    unit: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        group,
        default,
        min,
        max,
        prior_mean,
        prior_std,
        log_space,
        unit,
    }
}

/// The 14 physics parameters in kernel order.
pub const PHYSICS: [ParamSpec; N_PHYSICS] = [
    spec(
        "D0_ref",
        Group::Reference,
        1e4,
        (100.0, 1e6),
        (1e4, 1e4),
        true,
        "Å²·s^-(α+1)",
    ),
    spec(
        "alpha_ref",
        Group::Reference,
        0.0,
        (-5.0, 5.0),
        (0.0, 1.0),
        false,
        "",
    ),
    spec(
        "D_offset_ref",
        Group::Reference,
        0.0,
        (-1e5, 1e5),
        (0.0, 1e3),
        false,
        "Å²/s",
    ),
    spec(
        "D0_sample",
        Group::Sample,
        1e4,
        (100.0, 1e6),
        (1e4, 1e4),
        true,
        "Å²·s^-(α+1)",
    ),
    spec(
        "alpha_sample",
        Group::Sample,
        0.0,
        (-5.0, 5.0),
        (0.0, 1.0),
        false,
        "",
    ),
    spec(
        "D_offset_sample",
        Group::Sample,
        0.0,
        (-1e5, 1e5),
        (0.0, 1e3),
        false,
        "Å²/s",
    ),
    spec(
        "v0",
        Group::Velocity,
        1e3,
        (1e-6, 1e4),
        (1e3, 1000.0),
        true,
        "Å·s^-(β+1)",
    ),
    spec(
        "beta",
        Group::Velocity,
        0.0,
        (-2.0, 2.0),
        (0.0, 1.0),
        false,
        "",
    ),
    spec(
        "v_offset",
        Group::Velocity,
        0.0,
        (-100.0, 100.0),
        (0.0, 25.0),
        false,
        "Å/s",
    ),
    spec(
        "f0",
        Group::Fraction,
        0.5,
        (0.0, 1.0),
        (0.5, 0.25),
        false,
        "",
    ),
    spec(
        "f1",
        Group::Fraction,
        0.0,
        (-10.0, 10.0),
        (0.0, 5.0),
        false,
        "1/s",
    ),
    spec(
        "f2",
        Group::Fraction,
        0.0,
        (-1e4, 1e4),
        (0.0, 1e3),
        false,
        "s",
    ),
    spec(
        "f3",
        Group::Fraction,
        0.0,
        (0.0, 1.0),
        (0.0, 0.5),
        false,
        "",
    ),
    spec(
        "phi0",
        Group::Angle,
        0.0,
        (-10.0, 10.0),
        (0.0, 5.0),
        false,
        "degrees",
    ),
];

/// The per-angle scaling parameters: `contrast`, then `offset`.
pub const SCALING: [ParamSpec; 2] = [
    spec(
        "contrast",
        Group::Scaling,
        0.5,
        (0.0, 1.0),
        (0.5, 0.25),
        false,
        "",
    ),
    spec(
        "offset",
        Group::Scaling,
        1.0,
        (0.5, 1.5),
        (1.0, 0.25),
        false,
        "",
    ),
];

/// Names accepted for a physics parameter besides its canonical name (the reference's
/// `PARAMETER_NAME_MAPPING`).
const ALIASES: &[(&str, &str)] = &[
    ("D0_reference", "D0_ref"),
    ("alpha_reference", "alpha_ref"),
    ("D_offset_reference", "D_offset_ref"),
    ("velocity", "v0"),
    ("v_0", "v0"),
    ("fraction_0", "f0"),
    ("fraction_1", "f1"),
    ("fraction_2", "f2"),
    ("fraction_3", "f3"),
    ("angle_phi0", "phi0"),
    ("phi_0", "phi0"),
];

/// Looks a parameter up by canonical name or alias: `Ok(Some(i))` for physics index `i`,
/// `Ok(None)` for a scaling name (`contrast`, `offset`).
pub fn lookup(name: &str) -> Result<Option<usize>> {
    let canonical = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, c)| *c);
    if let Some(i) = PHYSICS.iter().position(|s| s.name == canonical) {
        return Ok(Some(i));
    }
    if SCALING.iter().any(|s| s.name == canonical) {
        return Ok(None);
    }
    let known: Vec<&str> = PHYSICS
        .iter()
        .chain(SCALING.iter())
        .map(|s| s.name)
        .collect();
    Err(Error::UnknownParameter {
        name: name.to_string(),
        known: known.join(", "),
    })
}

/// Canonical name of a physics parameter or scaling entry by gradient index.
pub fn grad_name(index: usize) -> &'static str {
    match index {
        i if i < N_PHYSICS => PHYSICS[i].name,
        CONTRAST => "contrast",
        _ => "offset",
    }
}

/// Values of the 14 physics parameters, named as in the reference's configs and results.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // each field is documented by its registry entry, see PHYSICS
pub struct PhysicsParams {
    /// Reference transport prefactor, Å²·s^-(α+1).
    #[serde(rename = "D0_ref")]
    pub d0_ref: f64,
    /// Reference transport exponent.
    pub alpha_ref: f64,
    /// Reference transport offset, Å²/s.
    #[serde(rename = "D_offset_ref")]
    pub d_offset_ref: f64,
    /// Sample transport prefactor, Å²·s^-(α+1).
    #[serde(rename = "D0_sample")]
    pub d0_sample: f64,
    /// Sample transport exponent.
    pub alpha_sample: f64,
    /// Sample transport offset, Å²/s.
    #[serde(rename = "D_offset_sample")]
    pub d_offset_sample: f64,
    /// Velocity prefactor, Å·s^-(β+1).
    pub v0: f64,
    /// Velocity exponent.
    pub beta: f64,
    /// Velocity offset, Å/s.
    pub v_offset: f64,
    /// Fraction amplitude.
    pub f0: f64,
    /// Fraction rate, 1/s.
    pub f1: f64,
    /// Fraction time shift, s (on the model grid).
    pub f2: f64,
    /// Fraction baseline.
    pub f3: f64,
    /// Flow angle, degrees (Φ = φ + phi0).
    pub phi0: f64,
}

impl Default for PhysicsParams {
    fn default() -> Self {
        Self::from_array(PHYSICS.map(|s| s.default))
    }
}

impl PhysicsParams {
    /// From the kernel-order array.
    pub fn from_array(a: [f64; N_PHYSICS]) -> Self {
        let [
            d0_ref,
            alpha_ref,
            d_offset_ref,
            d0_sample,
            alpha_sample,
            d_offset_sample,
            v0,
            beta,
            v_offset,
            f0,
            f1,
            f2,
            f3,
            phi0,
        ] = a;
        Self {
            d0_ref,
            alpha_ref,
            d_offset_ref,
            d0_sample,
            alpha_sample,
            d_offset_sample,
            v0,
            beta,
            v_offset,
            f0,
            f1,
            f2,
            f3,
            phi0,
        }
    }

    /// The kernel-order array.
    pub fn to_array(&self) -> [f64; N_PHYSICS] {
        [
            self.d0_ref,
            self.alpha_ref,
            self.d_offset_ref,
            self.d0_sample,
            self.alpha_sample,
            self.d_offset_sample,
            self.v0,
            self.beta,
            self.v_offset,
            self.f0,
            self.f1,
            self.f2,
            self.f3,
            self.phi0,
        ]
    }

    /// Value by canonical name or alias.
    pub fn get(&self, name: &str) -> Result<f64> {
        match lookup(name)? {
            Some(i) => Ok(self.to_array()[i]),
            None => Err(Error::invalid(name, "is a per-angle scaling parameter")),
        }
    }

    /// Sets a value by canonical name or alias.
    pub fn set(&mut self, name: &str, value: f64) -> Result<()> {
        match lookup(name)? {
            Some(i) => {
                let mut a = self.to_array();
                a[i] = value;
                *self = Self::from_array(a);
                Ok(())
            }
            None => Err(Error::invalid(name, "is a per-angle scaling parameter")),
        }
    }

    /// Checks every value is finite and inside its registry bounds (a fixed `v0 = 0`,
    /// the reference's "velocity off" sentinel, is allowed).
    pub fn validate(&self) -> Result<()> {
        for (spec, v) in PHYSICS.iter().zip(self.to_array()) {
            check_in_bounds(
                spec.name,
                v,
                spec.min,
                spec.max,
                spec.name == "v0" && v == 0.0,
            )?;
        }
        Ok(())
    }
}

/// Checks that `value` is finite and in `[min, max]` (unless `allowed_sentinel`).
pub fn check_in_bounds(
    name: &str,
    value: f64,
    min: f64,
    max: f64,
    allowed_sentinel: bool,
) -> Result<()> {
    if !value.is_finite() {
        return Err(Error::invalid(name, format!("value {value} is not finite")));
    }
    if !allowed_sentinel && !(min..=max).contains(&value) {
        return Err(Error::invalid(
            name,
            format!("value {value} is outside its bounds [{min}, {max}]"),
        ));
    }
    Ok(())
}

/// Per-angle `contrast` and `offset` (one entry per angle, in angle order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// Contrast per angle (registry bounds [0, 1]).
    pub contrast: Vec<f64>,
    /// Baseline per angle (registry bounds [0.5, 1.5]).
    pub offset: Vec<f64>,
}

impl Scaling {
    /// The same pair for `n_phi` angles.
    pub fn uniform(n_phi: usize, contrast: f64, offset: f64) -> Self {
        Self {
            contrast: vec![contrast; n_phi],
            offset: vec![offset; n_phi],
        }
    }

    /// Checks lengths against `n_phi` and values against the registry bounds.
    pub fn validate(&self, n_phi: usize) -> Result<()> {
        for (spec, values) in SCALING.iter().zip([&self.contrast, &self.offset]) {
            if values.len() != n_phi {
                return Err(Error::invalid(
                    spec.name,
                    format!("{} values given for {n_phi} angles", values.len()),
                ));
            }
            for &v in values {
                check_in_bounds(spec.name, v, spec.min, spec.max, false)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde() {
        let p = PhysicsParams::default();
        let json = serde_json::to_value(p).expect("serialise");
        for spec in PHYSICS {
            assert_eq!(
                json[spec.name].as_f64(),
                Some(spec.default),
                "{}",
                spec.name
            );
        }
        let back: PhysicsParams = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, p);
    }

    #[test]
    fn aliases_and_unknown_names() {
        assert_eq!(lookup("velocity"), Ok(Some(6)));
        assert_eq!(lookup("angle_phi0"), Ok(Some(13)));
        assert_eq!(lookup("contrast"), Ok(None));
        assert!(matches!(lookup("D0"), Err(Error::UnknownParameter { .. })));
    }

    #[test]
    fn bounds_are_checked_with_v0_sentinel() {
        let mut p = PhysicsParams {
            v0: 0.0,
            ..Default::default()
        };
        assert!(p.validate().is_ok());
        p.alpha_ref = 6.0;
        assert!(p.validate().is_err());
    }
}

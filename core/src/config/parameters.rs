//! `parameters` (grouped) and `initial_parameters` (flat): values, bounds, vary flags and
//! priors of the 14 physics parameters and the scaling pair (spec interfaces.md §3.4–3.5).

use std::collections::HashSet;

use crate::mcmc::prior::Prior;
use crate::model::PhysicsParams;
use crate::model::params::{Group, N_PHYSICS, PHYSICS, ParamSpec, SCALING, lookup};

use super::Warnings;
use super::error::ConfigError;
use super::node::Node;

/// Prior families the reference accepts.
const PRIORS: &[&str] = &[
    "uniform",
    "normal",
    "truncated_normal",
    "lognormal",
    "halfnormal",
    "exponential",
    "beta_scaled",
];
const PARAM_KEYS: &[&str] = &[
    "value",
    "min",
    "max",
    "vary",
    "prior",
    "prior_params",
    "unit",
    "description",
];

/// One parameter as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSetting {
    /// Canonical name.
    pub name: &'static str,
    /// Value (initial value for a fit, the value for a simulation).
    pub value: f64,
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
    /// Whether a fit varies it.
    pub vary: bool,
    /// Prior for CMC, if set explicitly (`prior` + `prior_params`).
    pub prior: Option<Prior>,
}

impl ParamSetting {
    fn from_spec(spec: &ParamSpec) -> Self {
        Self {
            name: spec.name,
            value: spec.default,
            min: spec.min,
            max: spec.max,
            vary: true,
            prior: None,
        }
    }
}

/// All 16 parameters with config overrides applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterSettings {
    /// The 14 physics parameters in kernel order.
    pub physics: Vec<ParamSetting>,
    /// Contrast (one value for every angle unless the fit says otherwise).
    pub contrast: ParamSetting,
    /// Offset.
    pub offset: ParamSetting,
}

impl Default for ParameterSettings {
    fn default() -> Self {
        Self {
            physics: PHYSICS.iter().map(ParamSetting::from_spec).collect(),
            contrast: ParamSetting::from_spec(&SCALING[0]),
            offset: ParamSetting::from_spec(&SCALING[1]),
        }
    }
}

impl ParameterSettings {
    /// Reads `initial_parameters` then `parameters` (grouped wins) over the registry.
    pub fn read(root: &Node<'_>, warnings: &mut Warnings) -> Result<Self, ConfigError> {
        let mut s = Self::default();
        if let Some(flat) = root.get("initial_parameters") {
            s.apply_flat(&flat)?;
        }
        let params = root
            .get("parameters")
            .ok_or_else(|| root.error("missing section 'parameters'"))?;
        for (group_name, group) in params.children()? {
            let Some(group_kind) = group_of(group_name) else {
                warnings.push(format!(
                    "unknown parameter group '{}' ignored (groups: reference, sample, velocity, fraction, angle, scaling)",
                    group.key
                ));
                continue;
            };
            let mut seen = HashSet::new();
            for (name, node) in group.children()? {
                let setting = s.setting_mut(name, &node)?;
                let spec_group = PHYSICS
                    .iter()
                    .chain(SCALING.iter())
                    .find(|p| p.name == setting.name)
                    .map(|p| p.group);
                if spec_group != Some(group_kind) {
                    return Err(node.error(format!(
                        "'{}' belongs to group '{}', not '{group_name}'",
                        setting.name,
                        spec_group.map_or("?", Group::key)
                    )));
                }
                if !seen.insert(setting.name) {
                    return Err(node.error(format!(
                        "'{}' is given twice in this group (through an alias)",
                        setting.name
                    )));
                }
                apply_entry(setting, &node, warnings)?;
            }
        }
        s.validate(&params)?;
        Ok(s)
    }

    fn setting_mut(
        &mut self,
        name: &str,
        node: &Node<'_>,
    ) -> Result<&mut ParamSetting, ConfigError> {
        match lookup(name).map_err(|e| node.error(e.to_string()))? {
            Some(i) => Ok(&mut self.physics[i]),
            None if name == "contrast" => Ok(&mut self.contrast),
            None => Ok(&mut self.offset),
        }
    }

    fn apply_flat(&mut self, flat: &Node<'_>) -> Result<(), ConfigError> {
        let Some(names) = flat.get("parameter_names") else {
            return Ok(());
        };
        let name_list: Vec<String> = match names.value.as_array() {
            Some(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| names.error("expected a list of parameter names"))?,
            None => return Err(names.error("expected a list of parameter names")),
        };
        if let Some(values) = flat.get("values") {
            let items = values
                .value
                .as_array()
                .ok_or_else(|| values.error("expected a list of numbers"))?;
            if items.len() != name_list.len() {
                return Err(values.error(format!(
                    "{} values for {} parameter_names",
                    items.len(),
                    name_list.len()
                )));
            }
            for (i, (name, v)) in name_list.iter().zip(items).enumerate() {
                if v.is_null() {
                    continue;
                }
                let node = Node {
                    path: values.path,
                    key: format!("{}[{i}]", values.key),
                    value: v,
                };
                let value = node.f64()?;
                self.setting_mut(name, &node)?.value = value;
            }
        }
        if let Some(active) = flat.get("active_parameters") {
            let items = active
                .value
                .as_array()
                .ok_or_else(|| active.error("expected a list of parameter names"))?;
            let mut active_names = Vec::new();
            for v in items {
                let name = v.as_str().ok_or_else(|| active.error("expected names"))?;
                active_names.push(self.setting_mut(name, &active)?.name);
            }
            for p in self.physics.iter_mut() {
                p.vary = active_names.contains(&p.name);
            }
        }
        Ok(())
    }

    fn validate(&self, params: &Node<'_>) -> Result<(), ConfigError> {
        for p in self.physics.iter().chain([&self.contrast, &self.offset]) {
            let sentinel = p.name == "v0" && p.value == 0.0 && !p.vary;
            if !sentinel && !(p.min..=p.max).contains(&p.value) {
                return Err(params.error(format!(
                    "{}: value {} is outside its bounds [{}, {}]",
                    p.name, p.value, p.min, p.max
                )));
            }
        }
        Ok(())
    }

    /// The physics values.
    pub fn values(&self) -> PhysicsParams {
        let mut a = [0.0; N_PHYSICS];
        for (v, p) in a.iter_mut().zip(&self.physics) {
            *v = p.value;
        }
        PhysicsParams::from_array(a)
    }
}

fn group_of(name: &str) -> Option<Group> {
    [
        Group::Reference,
        Group::Sample,
        Group::Velocity,
        Group::Fraction,
        Group::Angle,
        Group::Scaling,
    ]
    .into_iter()
    .find(|g| g.key() == name)
}

fn apply_entry(
    setting: &mut ParamSetting,
    node: &Node<'_>,
    warnings: &mut Warnings,
) -> Result<(), ConfigError> {
    if !node.value.is_object() {
        setting.value = node.f64()?;
        return Ok(());
    }
    for (key, child) in node.children()? {
        if !PARAM_KEYS.contains(&key) {
            warnings.push(format!("unknown key '{}' ignored", child.key));
        }
    }
    if let Some(v) = node.get("value") {
        setting.value = v.f64()?;
    }
    match (node.get("min"), node.get("max")) {
        (Some(lo), Some(hi)) => {
            let (min, max) = (lo.f64()?, hi.f64()?);
            if !min.is_finite() {
                return Err(lo.error(format!("must be finite, got {min}")));
            }
            if !max.is_finite() {
                return Err(hi.error(format!("must be finite, got {max}")));
            }
            if min >= max {
                return Err(lo.error(format!("min {min} must be below max {max}")));
            }
            setting.min = min;
            setting.max = max;
        }
        (None, None) => {}
        (Some(one), None) | (None, Some(one)) => {
            return Err(one.error("give both min and max, or neither"));
        }
    }
    if let Some(v) = node.get("vary") {
        setting.vary = v.bool()?;
    }
    if let Some(p) = node.get("prior") {
        let prior = read_prior(setting, &p, node.get("prior_params").as_ref())?;
        prior
            .validate(setting.name, setting.min, setting.max)
            .map_err(|e| p.error(e.to_string()))?;
        setting.prior = Some(prior);
    } else if let Some(pp) = node.get("prior_params") {
        return Err(pp.error("prior_params without prior"));
    }
    Ok(())
}

/// The registry's prior mean and std of a setting (scaling: contrast 0.5 ± 0.25, offset
/// 1 ± 0.25, as the reference's CMC uses).
fn registry_prior(name: &str) -> (f64, f64) {
    match PHYSICS.iter().find(|p| p.name == name) {
        Some(spec) => (spec.prior_mean, spec.prior_std),
        None if name == "contrast" => (0.5, 0.25),
        None => (1.0, 0.25),
    }
}

/// `prior` with `prior_params` — a mapping (`{mean, std}`, `{mu, sigma}`, `{scale}`,
/// `{rate}`, `{alpha, beta}`) or a list in that order; missing parameters come from the
/// registry's mean and std.
fn read_prior(
    setting: &ParamSetting,
    kind: &Node<'_>,
    params: Option<&Node<'_>>,
) -> Result<Prior, ConfigError> {
    let family = kind.str()?;
    let names: &[&str] = match family {
        "uniform" => &[],
        "normal" | "truncated_normal" => &["mean", "std"],
        "lognormal" => &["mu", "sigma"],
        "halfnormal" => &["scale"],
        "exponential" => &["rate"],
        "beta_scaled" => &["alpha", "beta"],
        other => {
            return Err(kind.error(format!(
                "unknown prior {other:?} (known: {})",
                PRIORS.join(", ")
            )));
        }
    };
    let mut given: Vec<Option<f64>> = vec![None; names.len()];
    if let Some(pp) = params.filter(|p| !p.is_null()) {
        if pp.value.is_array() {
            let list = pp.f64_list()?;
            if list.len() != names.len() {
                return Err(pp.error(format!(
                    "a {family} prior takes {} parameters ({}), got {}",
                    names.len(),
                    names.join(", "),
                    list.len()
                )));
            }
            given = list.into_iter().map(Some).collect();
        } else {
            for (key, child) in pp.children()? {
                match names.iter().position(|n| *n == key) {
                    Some(i) => given[i] = Some(child.f64()?),
                    None => {
                        return Err(child.error(format!(
                            "not a parameter of a {family} prior (expected: {})",
                            names.join(", ")
                        )));
                    }
                }
            }
        }
    }
    let (mean, std) = registry_prior(setting.name);
    let get = |i: usize, default: f64| given.get(i).copied().flatten().unwrap_or(default);
    Ok(match family {
        "uniform" => Prior::Uniform,
        "normal" | "truncated_normal" => Prior::Normal {
            mean: get(0, mean),
            std: get(1, std),
        },
        "lognormal" => Prior::LogNormal {
            mu: get(0, mean.max(f64::MIN_POSITIVE).ln()),
            sigma: get(1, 1.0),
        },
        "halfnormal" => Prior::HalfNormal { scale: get(0, std) },
        "exponential" => Prior::Exponential {
            rate: get(0, 1.0 / if mean > 0.0 { mean } else { std }),
        },
        _ => Prior::BetaScaled {
            alpha: get(0, 2.0),
            beta: get(1, 2.0),
        },
    })
}

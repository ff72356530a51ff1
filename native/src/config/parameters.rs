//! `parameters` (grouped) and `initial_parameters` (flat): values, bounds, vary flags and
//! priors of the 14 physics parameters and the scaling pair (spec interfaces.md §3.4–3.5).

use std::collections::HashSet;

use heterodyne_core::model::PhysicsParams;
use heterodyne_core::model::params::{Group, N_PHYSICS, PHYSICS, ParamSpec, SCALING, lookup};

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
    /// Prior family, if set explicitly.
    pub prior: Option<String>,
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
        let kind = p.str()?;
        if !PRIORS.contains(&kind) {
            return Err(p.error(format!(
                "unknown prior {kind:?} (known: {})",
                PRIORS.join(", ")
            )));
        }
        setting.prior = Some(kind.to_string());
    }
    Ok(())
}

//! The YAML config the page edits. The form (analyzer settings, the parameter table, the
//! per-angle scaling and the sampler) is laid over the imported document, so keys the form
//! does not show (tolerances, priors, `output` …) survive an import → export round trip.
//! The result is read back with the CLI's own reader (`heterodyne_core::config`), so a
//! config made here runs on the CLI and back.

use heterodyne_core::config::Config;
use heterodyne_core::mcmc::cmc::ShardCount;
use heterodyne_core::model::params::{PHYSICS, SCALING};
use heterodyne_core::nlsq::PerAngleMode;
use serde_json::{Map, Value, json};

/// One row of the parameter table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Canonical name (`D0_ref` …, `contrast`, `offset`).
    pub name: &'static str,
    /// Start value (for contrast/offset: the value a `fixed` scaling holds).
    pub value: f64,
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
    /// Free in the fit (physics parameters; scaling follows the per-angle mode).
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

/// The sampler settings the form shows (`optimization.cmc`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    /// Warm-up draws per chain.
    pub num_warmup: u64,
    /// Kept draws per chain.
    pub num_samples: u64,
    /// Chains per shard.
    pub num_chains: usize,
    /// Shards (`None`: the reference's automatic rule).
    pub num_shards: Option<usize>,
}

/// Everything the page edits.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    /// `analyzer_parameters`.
    pub analyzer: Analyzer,
    /// The 14 physics parameters, in kernel order.
    pub rows: Vec<Row>,
    /// Contrast and offset (`parameters.scaling`).
    pub scaling: [Row; 2],
    /// `optimization.nlsq.per_angle_mode`.
    pub per_angle_mode: PerAngleMode,
    /// `optimization.cmc`.
    pub sampler: Sampler,
    /// The imported document the form is laid over (empty before an import).
    pub base: Value,
}

/// Per-angle modes in the order the page offers them.
pub const MODES: [PerAngleMode; 6] = [
    PerAngleMode::Auto,
    PerAngleMode::Averaged,
    PerAngleMode::Individual,
    PerAngleMode::Constant,
    PerAngleMode::Fourier,
    PerAngleMode::Fixed,
];

impl Default for Form {
    /// The registry's defaults and bounds, every angle, the reference's sampler.
    fn default() -> Self {
        let row = |p: &heterodyne_core::model::params::ParamSpec| Row {
            name: p.name,
            value: p.default,
            min: p.min,
            max: p.max,
            vary: true,
        };
        let cmc = heterodyne_core::config::CmcOptions::default();
        Self {
            analyzer: Analyzer {
                dt: 1.0,
                q: 0.005,
                start_frame: 1,
                end_frame: 1,
                phi: None,
            },
            rows: PHYSICS.iter().map(row).collect(),
            scaling: [row(&SCALING[0]), row(&SCALING[1])],
            per_angle_mode: PerAngleMode::Auto,
            sampler: Sampler {
                num_warmup: cmc.num_warmup,
                num_samples: cmc.num_samples,
                num_chains: cmc.num_chains,
                num_shards: None,
            },
            base: Value::Object(Map::new()),
        }
    }
}

/// `value` as an object, replacing whatever else it held.
fn as_object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("made an object above"),
    }
}

/// `root[path…]` as an object, created (or replacing a scalar) on the way.
fn object_at<'a>(root: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    path.iter().fold(as_object(root), |map, key| {
        as_object(map.entry(key.to_string()).or_insert(Value::Null))
    })
}

/// Sets `value`, `min`, `max` (and `vary`) of `row` in `group`, keeping its other keys
/// (`prior`, `prior_params` …) and dropping aliases of the same parameter.
fn put_row(doc: &mut Value, group: &str, row: &Row, with_vary: bool) {
    let entries = object_at(doc, &["parameters", group]);
    entries.retain(|name, _| {
        name == row.name
            || heterodyne_core::model::params::lookup(name)
                .ok()
                .flatten()
                .is_none_or(|k| PHYSICS[k].name != row.name)
    });
    let e = as_object(entries.entry(row.name.to_string()).or_insert(Value::Null));
    e.insert("value".into(), json!(row.value));
    e.insert("min".into(), json!(row.min));
    e.insert("max".into(), json!(row.max));
    if with_vary {
        e.insert("vary".into(), json!(row.vary));
    }
}

impl Form {
    /// The config document of the form (the imported one with the form laid over it).
    pub fn document(&self) -> Value {
        let mut doc = self.base.clone();
        let a = &self.analyzer;
        let analyzer = object_at(&mut doc, &["analyzer_parameters"]);
        analyzer.insert("dt".into(), json!(a.dt));
        analyzer.insert("start_frame".into(), json!(a.start_frame));
        analyzer.insert("end_frame".into(), json!(a.end_frame));
        let scattering = object_at(&mut doc, &["analyzer_parameters", "scattering"]);
        scattering.insert("wavevector_q".into(), json!(a.q));
        match &a.phi {
            Some(phi) => {
                scattering.insert("phi_angles".into(), json!(phi));
            }
            None => {
                scattering.remove("phi_angles");
            }
        }
        // The flat section would be applied under `parameters`; the form says it all.
        as_object(&mut doc).remove("initial_parameters");
        for (spec, row) in PHYSICS.iter().zip(&self.rows) {
            put_row(&mut doc, spec.group.key(), row, true);
        }
        for row in &self.scaling {
            put_row(&mut doc, "scaling", row, false);
        }
        object_at(&mut doc, &["optimization", "nlsq"])
            .insert("per_angle_mode".into(), json!(self.per_angle_mode.name()));
        let s = &self.sampler;
        let cmc = object_at(&mut doc, &["optimization", "cmc"]);
        // Flat keys win over the nested sections (`per_shard_mcmc`, `sharding`).
        cmc.insert("num_warmup".into(), json!(s.num_warmup));
        cmc.insert("num_samples".into(), json!(s.num_samples));
        cmc.insert("num_chains".into(), json!(s.num_chains));
        cmc.insert(
            "num_shards".into(),
            s.num_shards.map_or(json!("auto"), |k| json!(k)),
        );
        doc
    }

    /// The YAML of the form.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(&self.document())
            .unwrap_or_else(|e| format!("# the form could not be written as YAML: {e}\n"))
    }

    /// The form's config, read by the CLI's reader.
    pub fn config(&self) -> Result<Config, String> {
        Config::parse(std::path::Path::new("config"), &self.to_yaml()).map_err(|e| e.to_string())
    }

    /// Reads a config (the CLI's reader) into the form.
    pub fn from_yaml(text: &str) -> Result<(Config, Form), String> {
        let config =
            Config::parse(std::path::Path::new("config"), text).map_err(|e| e.to_string())?;
        let row = |p: &heterodyne_core::config::ParamSetting| Row {
            name: p.name,
            value: p.value,
            min: p.min,
            max: p.max,
            vary: p.vary,
        };
        let c = &config.cmc;
        let form = Form {
            analyzer: Analyzer {
                dt: config.analyzer.dt,
                q: config.analyzer.wavevector_q,
                start_frame: config.analyzer.start_frame,
                end_frame: config.analyzer.end_frame,
                phi: config.analyzer.phi_angles.clone(),
            },
            rows: config.parameters.physics.iter().map(row).collect(),
            scaling: [
                row(&config.parameters.contrast),
                row(&config.parameters.offset),
            ],
            per_angle_mode: config.fit.nlsq.per_angle_mode,
            sampler: Sampler {
                num_warmup: c.num_warmup,
                num_samples: c.num_samples,
                num_chains: c.num_chains,
                num_shards: match c.shards {
                    ShardCount::Fixed(k) => Some(k),
                    ShardCount::Auto { .. } => None,
                },
            },
            base: config.document.clone(),
        };
        Ok((config, form))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_round_trips_through_the_cli_reader() {
        let mut form = Form {
            analyzer: Analyzer {
                dt: 0.5,
                q: 0.0054,
                start_frame: 1,
                end_frame: 100,
                phi: Some(vec![0.0, 45.0]),
            },
            ..Form::default()
        };
        form.rows[0].value = 550.0;
        form.rows[3].vary = false;
        form.scaling[0].value = 0.2;
        form.scaling[1].max = 1.4;
        form.per_angle_mode = PerAngleMode::Individual;
        form.sampler.num_chains = 2;
        form.sampler.num_shards = Some(3);
        let (config, back) = Form::from_yaml(&form.to_yaml()).expect("parse");
        assert_eq!(back.analyzer, form.analyzer);
        assert_eq!(back.rows, form.rows);
        assert_eq!(back.scaling, form.scaling);
        assert_eq!(back.per_angle_mode, PerAngleMode::Individual);
        assert_eq!(back.sampler, form.sampler);
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }

    #[test]
    fn keys_the_form_does_not_show_survive_an_import() {
        let text = "analyzer_parameters:\n  dt: 0.1\n  start_frame: 1\n  end_frame: 50\n  scattering:\n    wavevector_q: 0.005\nparameters:\n  velocity:\n    v0: {value: 40, min: 1, max: 100, prior: normal, prior_params: [40, 5]}\noptimization:\n  nlsq:\n    max_iterations: 77\n  cmc:\n    per_shard_mcmc:\n      num_warmup: 300\n    target_accept_prob: 0.8\n";
        let (config, form) = Form::from_yaml(text).expect("parse");
        assert_eq!(form.sampler.num_warmup, 300);
        let v0 = PHYSICS.iter().position(|p| p.name == "v0").expect("v0");
        let mut edited = form.clone();
        edited.rows[v0].value = 41.0;
        let again = edited.config().expect("reparse");
        assert_eq!(again.parameters.physics[v0].value, 41.0);
        assert!(config.parameters.physics[v0].prior.is_some());
        assert_eq!(
            again.parameters.physics[v0].prior, config.parameters.physics[v0].prior,
            "the prior of v0 survives"
        );
        assert_eq!(again.fit.nlsq.tolerances, config.fit.nlsq.tolerances);
        assert_eq!(again.cmc.target_accept_prob, 0.8);
        assert_eq!(again.cmc.num_warmup, 300);
    }
}

//! The heterodyne YAML config, read so that a config written for the reference package
//! runs unchanged (spec interfaces.md §3). Errors name the file and the dotted key.

mod analyzer;
mod cmc;
mod error;
mod fit;
mod node;
mod parameters;
pub mod problem;
pub mod settings;
mod slurm;

use std::path::{Path, PathBuf};

pub use analyzer::AnalyzerParameters;
pub use cmc::{BackendKind, CmcOptions, NoiseKind};
pub use error::ConfigError;
pub use fit::{FitAngles, FitSettings, NlsqOptions};
pub use node::Node;
pub use parameters::{ParamSetting, ParameterSettings};
pub use slurm::SlurmOptions;

/// Non-fatal remarks collected while reading (unknown keys, defaults).
pub type Warnings = Vec<String>;

/// Top-level sections the reference knows (read or not); anything else gets a warning.
const KNOWN_SECTIONS: &[&str] = &[
    "metadata",
    "experimental_data",
    "analyzer_parameters",
    "parameters",
    "initial_parameters",
    "scaling",
    "phi_filtering",
    "optimization",
    "output",
    "parameter_space",
    "noise_estimation",
    "performance",
    "logging",
    "quality_control",
    "plotting",
    "validation",
    "temporal",
    "scattering",
];

/// A parsed config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// `analyzer_parameters`.
    pub analyzer: AnalyzerParameters,
    /// `parameters` / `initial_parameters` over the registry.
    pub parameters: ParameterSettings,
    /// `experimental_data`, `phi_filtering`, `optimization.nlsq`, `output`.
    pub fit: FitSettings,
    /// `optimization.cmc`.
    pub cmc: CmcOptions,
    /// `optimization.method` (`nlsq`, `cmc` or `both`), if given.
    pub method: Option<String>,
    /// Remarks for the user (unknown keys …).
    pub warnings: Warnings,
    /// The whole document, for sections read by later stages.
    pub document: serde_json::Value,
}

impl Config {
    /// Parses YAML text as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        // Non-finite spellings (`.nan`, `.inf`) come through as strings, so that the key
        // holding one is named by the reader below instead of a bare line and column.
        let mut options = serde_saphyr::Options::default();
        options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::AsString;
        let document: serde_json::Value = serde_saphyr::from_str_with_options(text, options)
            .map_err(|e| {
                let msg = e.to_string();
                let first = msg.lines().next().unwrap_or("invalid YAML").to_string();
                ConfigError::new(path, "", format!("not valid YAML: {first}"))
            })?;
        let root = Node::root(path, &document);
        if !document.is_object() {
            return Err(root.error("expected a mapping of sections at the top level"));
        }
        let mut warnings = Warnings::new();
        for (name, _) in root.children()? {
            if !KNOWN_SECTIONS.contains(&name) {
                warnings.push(format!("unknown section '{name}' ignored"));
            }
        }
        let analyzer = AnalyzerParameters::read(&root, &mut warnings)?;
        let parameters = ParameterSettings::read(&root, &mut warnings)?;
        let fit = FitSettings::read(&root, &mut warnings)?;
        let cmc = CmcOptions::read(&root, &mut warnings)?;
        let method = match root.get("optimization").and_then(|o| o.get("method")) {
            Some(n) => match n.str()? {
                m @ ("nlsq" | "cmc" | "both") => Some(m.to_string()),
                other => {
                    return Err(n.error(format!("unknown method {other:?} (nlsq, cmc, both)")));
                }
            },
            None => None,
        };
        Ok(Self {
            cmc,
            method,
            path: path.to_path_buf(),
            analyzer,
            parameters,
            fit,
            warnings,
            document,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("c.yaml"), text)
    }

    const BASE: &str = "analyzer_parameters:\n  dt: 0.1\n  start_frame: 1\n  end_frame: 50\n  scattering:\n    wavevector_q: 0.0054\n";

    #[test]
    fn grouped_parameters_override_the_registry() {
        let c = parse(&format!(
            "{BASE}parameters:\n  reference:\n    D0_ref: {{value: 1e3, min: 100, max: 5e4}}\n  velocity:\n    velocity: 20.0\n"
        ))
        .expect("parse");
        let p = c.parameters.values();
        assert_eq!(p.d0_ref, 1000.0);
        assert_eq!(p.v0, 20.0);
        assert_eq!(c.parameters.physics[0].max, 5e4);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn errors_name_the_key() {
        let e =
            parse(&format!("{BASE}parameters:\n  reference:\n    D0: 5\n")).expect_err("unknown");
        assert_eq!(e.key, "parameters.reference.D0");
        let e = parse(&format!(
            "{BASE}parameters:\n  reference:\n    D0_ref: {{value: 1e7}}\n"
        ))
        .expect_err("bounds");
        assert!(e.reason.contains("outside its bounds"), "{e}");
        let e = parse(&format!(
            "{BASE}parameters:\n  sample:\n    D0_sample: {{min: 5}}\n"
        ))
        .expect_err("min only");
        assert_eq!(e.key, "parameters.sample.D0_sample.min");
        let e = parse("analyzer_parameters:\n  dt: 0\n  end_frame: 5\nparameters: {}\n")
            .expect_err("dt");
        assert_eq!(e.key, "analyzer_parameters.dt");
        let e = parse("analyzer_parameters:\n  dt: 0.1\n  start_frame: 9\n  end_frame: 5\n  scattering: {wavevector_q: 0.01}\nparameters: {}\n")
            .expect_err("frames");
        assert_eq!(e.key, "analyzer_parameters.end_frame");
    }

    #[test]
    fn unknown_keys_warn() {
        let c = parse(&format!("{BASE}parameters: {{}}\nfoo: 1\n")).expect("parse");
        assert_eq!(
            c.warnings,
            vec!["unknown section 'foo' ignored".to_string()]
        );
    }
}

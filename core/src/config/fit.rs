//! The sections a fit reads besides the model: `experimental_data`, `phi_filtering`,
//! `optimization.nlsq` and `output` (spec interfaces.md §3), plus our additions.

use std::path::{Path, PathBuf};

use crate::data::angles::AngleRange;
use crate::nlsq::{PerAngleMode, ResidualSupport, Strategy, Tolerances};

use super::Warnings;
use super::error::ConfigError;
use super::node::Node;

/// Whether angles are fitted jointly or one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitAngles {
    /// One physics vector for all angles (the reference's CLI).
    Joint,
    /// Each angle on its own.
    Separate,
}

/// `optimization.nlsq`.
#[derive(Debug, Clone, PartialEq)]
pub struct NlsqOptions {
    /// Per-angle contrast/offset handling.
    pub per_angle_mode: PerAngleMode,
    /// `auto` → `averaged` from this many angles.
    pub constant_scaling_threshold: usize,
    /// Order of the `fourier` mode.
    pub fourier_order: usize,
    /// Stopping rules.
    pub tolerances: Tolerances,
    /// Latin-hypercube multistart.
    pub multistart: bool,
    /// Number of starts; `None`: 2P + 1 (every parameter moved down and up once).
    pub multistart_n: Option<usize>,
    /// Seed of the starts.
    pub seed: u64,
    /// Memory strategy.
    pub strategy: Strategy,
    /// Cells per chunk.
    pub chunk_size: usize,
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// Joint or separate angles.
    pub fit_angles: FitAngles,
    /// Residual support.
    pub support: ResidualSupport,
}

impl Default for NlsqOptions {
    fn default() -> Self {
        Self {
            per_angle_mode: PerAngleMode::Auto,
            constant_scaling_threshold: 3,
            fourier_order: 2,
            tolerances: Tolerances::default(),
            multistart: false,
            multistart_n: None,
            seed: 0,
            strategy: Strategy::Auto,
            chunk_size: 65_536,
            threads: 0,
            fit_angles: FitAngles::Joint,
            support: ResidualSupport::default(),
        }
    }
}

/// Everything a fit reads from the config apart from the model sections.
#[derive(Debug, Clone, PartialEq)]
pub struct FitSettings {
    /// Data file, if the config names one.
    pub data_file: Option<PathBuf>,
    /// `phi_filtering` when enabled: ranges and the fallback flag.
    pub phi_filter: Option<(Vec<AngleRange>, bool)>,
    /// Largest |q_bin − q| accepted, 1/Å (default 10 % of q, as the reference).
    pub q_tolerance: Option<f64>,
    /// `optimization.nlsq`.
    pub nlsq: NlsqOptions,
    /// `output.output_dir`.
    pub output_dir: Option<PathBuf>,
}

/// `optimization.nlsq` keys of the reference that we read.
const NLSQ_USED: &[&str] = &[
    "per_angle_mode",
    "constant_scaling_threshold",
    "fourier_order",
    "ftol",
    "xtol",
    "gtol",
    "max_iterations",
    "max_nfev",
    "multistart",
    "multistart_n",
    "anti_degeneracy",
    "loss",
    "method",
    "chunk_size",
    // Our additions.
    "strategy",
    "threads",
    "fit_angles",
    "seed",
    "skip_first_frame",
    "include_diagonal",
];
/// Keys the reference accepts that change nothing here (its own solver internals).
const NLSQ_IGNORED: &[&str] = &[
    "tolerance",
    "verbose",
    "use_jac",
    "x_scale",
    "diff_step",
    "workflow",
    "goal",
    "enable_streaming",
    "streaming_chunk_size",
    "enable_stratified",
    "target_chunk_size",
    "enable_recovery",
    "max_recovery_attempts",
    "recovery",
    "enable_diagnostics",
    "enable_anti_degeneracy",
    "x_scale_map",
    "loss_weights",
    "loss_scale",
    "tr_solver",
    "step_bound",
    "fourier_auto_threshold",
    "enable_hierarchical",
    "regularization_mode",
    "enable_gradient_monitoring",
    "enable_cmaes",
    "cmaes",
    "progress",
    "hybrid_streaming",
    "multi_start",
    "quality_validation",
    "validation",
    "use_nlsq_library",
    "n_params",
    "analysis_mode",
    "trust_region_scale",
];

fn parse_mode(n: &Node<'_>) -> Result<PerAngleMode, ConfigError> {
    Ok(match n.str()? {
        "auto" => PerAngleMode::Auto,
        "averaged" | "constant_averaged" => PerAngleMode::Averaged,
        "constant" => PerAngleMode::Constant,
        "individual" | "independent" => PerAngleMode::Individual,
        "fourier" => PerAngleMode::Fourier,
        "fixed" => PerAngleMode::Fixed,
        other => {
            return Err(n.error(format!(
                "unknown per_angle_mode {other:?} (auto, averaged, constant, individual, fourier, fixed)"
            )));
        }
    })
}

fn parse_strategy(n: &Node<'_>) -> Result<Strategy, ConfigError> {
    Ok(match n.str()? {
        "auto" => Strategy::Auto,
        "dense" => Strategy::Dense,
        "chunked" => Strategy::Chunked,
        "streaming" => Strategy::Streaming,
        "separable" => Strategy::Separable,
        other => {
            return Err(n.error(format!(
                "unknown strategy {other:?} (auto, dense, chunked, streaming, separable)"
            )));
        }
    })
}

fn positive(n: &Node<'_>) -> Result<f64, ConfigError> {
    let v = n.f64()?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(n.error(format!("must be > 0, got {v}")))
    }
}

fn read_nlsq(root: &Node<'_>, warnings: &mut Warnings) -> Result<NlsqOptions, ConfigError> {
    let mut o = NlsqOptions::default();
    let Some(nl) = root.get("optimization").and_then(|op| op.get("nlsq")) else {
        return Ok(o);
    };
    for (key, child) in nl.children()? {
        if !NLSQ_USED.contains(&key) && !NLSQ_IGNORED.contains(&key) {
            warnings.push(format!("unknown key '{}' ignored", child.key));
        }
    }
    let anti = nl.get("anti_degeneracy");
    let pick = |name: &str| {
        nl.get(name)
            .or_else(|| anti.as_ref().and_then(|a| a.get(name)))
    };
    if let Some(n) = pick("per_angle_mode") {
        o.per_angle_mode = parse_mode(&n)?;
    }
    if let Some(n) = pick("constant_scaling_threshold") {
        o.constant_scaling_threshold = n.usize()?;
    }
    if let Some(n) = pick("fourier_order") {
        o.fourier_order = n.usize()?;
    }
    for (name, slot) in [
        ("ftol", &mut o.tolerances.ftol),
        ("xtol", &mut o.tolerances.xtol),
        ("gtol", &mut o.tolerances.gtol),
    ] {
        if let Some(n) = nl.get(name) {
            *slot = positive(&n)?;
        }
    }
    if let Some(n) = nl.get("max_iterations").or_else(|| nl.get("max_nfev")) {
        o.tolerances.max_iterations = n.usize()?.max(1);
    }
    if let Some(n) = nl.get("multistart") {
        o.multistart = n.bool()?;
    }
    if let Some(n) = nl.get("multistart_n") {
        let k = n.usize()?;
        if k < 1 {
            return Err(n.error("must be ≥ 1"));
        }
        o.multistart_n = Some(k);
    }
    if let Some(n) = nl.get("seed") {
        o.seed = n.usize()? as u64;
    }
    if let Some(n) = nl.get("strategy") {
        o.strategy = parse_strategy(&n)?;
    }
    if let Some(n) = nl.get("chunk_size") {
        let k = n.usize()?;
        if k < 1 {
            return Err(n.error("must be ≥ 1"));
        }
        o.chunk_size = k;
    }
    if let Some(n) = nl.get("threads") {
        o.threads = n.usize()?;
    }
    if let Some(n) = nl.get("fit_angles") {
        o.fit_angles = match n.str()? {
            "joint" => FitAngles::Joint,
            "separate" => FitAngles::Separate,
            other => {
                return Err(n.error(format!("expected 'joint' or 'separate', found {other:?}")));
            }
        };
    }
    if let Some(n) = nl.get("skip_first_frame") {
        o.support.skip_first_frame = n.bool()?;
    }
    if let Some(n) = nl.get("include_diagonal") {
        o.support.include_diagonal = n.bool()?;
    }
    if let Some(n) = nl.get("loss") {
        let loss = n.str()?;
        if loss != "linear" {
            warnings.push(format!(
                "{}: '{loss}' is not used: the fit minimises the plain least-squares χ² (Gaussian noise); a robust loss would bias the χ² and the errors",
                n.key
            ));
        }
    }
    Ok(o)
}

fn read_phi_filter(root: &Node<'_>) -> Result<Option<(Vec<AngleRange>, bool)>, ConfigError> {
    let Some(pf) = root.get("phi_filtering") else {
        return Ok(None);
    };
    if !pf
        .get("enabled")
        .map(|n| n.bool())
        .transpose()?
        .unwrap_or(false)
    {
        return Ok(None);
    }
    let tolerance = pf
        .get("tolerance")
        .map(|n| n.f64())
        .transpose()?
        .unwrap_or(5.0);
    let fallback = pf
        .get("fallback_to_all_angles")
        .map(|n| n.bool())
        .transpose()?
        .unwrap_or(true);
    let mut ranges = Vec::new();
    if let Some(list) = pf.get("target_ranges") {
        let items = list
            .value
            .as_array()
            .ok_or_else(|| list.error("expected a list of ranges"))?;
        for (i, item) in items.iter().enumerate() {
            let n = Node {
                path: list.path,
                key: format!("{}[{i}]", list.key),
                value: item,
            };
            let range = if item.is_object() {
                let lo = n
                    .get("min_angle")
                    .map(|v| v.f64())
                    .transpose()?
                    .unwrap_or(-10.0);
                let hi = n
                    .get("max_angle")
                    .map(|v| v.f64())
                    .transpose()?
                    .unwrap_or(10.0);
                AngleRange::Range { lo, hi }
            } else if item.is_array() {
                match n.f64_list()?.as_slice() {
                    [lo, hi] => AngleRange::Range { lo: *lo, hi: *hi },
                    _ => return Err(n.error("expected [min_angle, max_angle]")),
                }
            } else {
                AngleRange::Centre {
                    centre: n.f64()?,
                    tolerance,
                }
            };
            ranges.push(range);
        }
    }
    if ranges.is_empty() {
        return Err(pf.error("enabled, but target_ranges is empty"));
    }
    Ok(Some((ranges, fallback)))
}

impl FitSettings {
    /// Reads the fit sections; relative paths are resolved later.
    pub fn read(root: &Node<'_>, warnings: &mut Warnings) -> Result<Self, ConfigError> {
        let data_file = match root.get("experimental_data") {
            Some(ed) => match ed.get("file_path") {
                Some(n) => Some(PathBuf::from(n.str()?)),
                None => match (ed.get("data_folder_path"), ed.get("data_file_name")) {
                    (Some(dir), Some(name)) => Some(Path::new(dir.str()?).join(name.str()?)),
                    (None, Some(name)) => Some(PathBuf::from(name.str()?)),
                    _ => None,
                },
            },
            None => None,
        };
        let q_tolerance = root
            .get("analyzer_parameters")
            .and_then(|a| a.get("scattering"))
            .and_then(|s| s.get("q_tolerance"))
            .map(|n| positive(&n))
            .transpose()?;
        let output_dir = root
            .get("output")
            .and_then(|o| o.get("output_dir"))
            .map(|n| n.str().map(PathBuf::from))
            .transpose()?;
        Ok(Self {
            data_file,
            phi_filter: read_phi_filter(root)?,
            q_tolerance,
            nlsq: read_nlsq(root, warnings)?,
            output_dir,
        })
    }
}

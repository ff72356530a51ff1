//! `heterodyne simulate`: the model for a config's parameters, written as `.npz`, `.npy`
//! or HDF5 (flat or APS-U layout), optionally with reproducible noise.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use heterodyne_core::model::params::SCALING;
use heterodyne_core::model::{HeterodyneModel, Scaling, TimeOrigin};

use crate::io::{self, C2Stack};

/// HDF5 layout of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Layout {
    /// Root datasets c2, t, q, phi.
    Flat,
    /// APS-U twotime (`xpcs/twotime/correlation_map`, upper-triangle matrices).
    ApsU,
}

/// Time origin, as on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OriginArg {
    /// First frame of the window at t = dt (the reference 2.0.1).
    Window,
    /// Frame i of the file at t = i·dt.
    Absolute,
}

/// Arguments of `heterodyne simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// YAML config (analyzer_parameters and parameters sections).
    #[arg(long)]
    pub config: PathBuf,
    /// Output file: .npz (c2, t, phi, q), .npy (c2 only) or .h5/.hdf/.hdf5.
    #[arg(long)]
    pub out: PathBuf,
    /// Detector angles in degrees (default: analyzer_parameters.scattering.phi_angles).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub phi: Option<Vec<f64>>,
    /// Contrast: one value for every angle or one per angle (default: config, else 0.5).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub contrast: Option<Vec<f64>>,
    /// Offset: one value for every angle or one per angle (default: config, else 1.0).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub offset: Option<Vec<f64>>,
    /// HDF5 layout.
    #[arg(long, value_enum, default_value = "flat")]
    pub layout: Layout,
    /// Relative Gaussian noise: c2·(1 + REL·Z), Z symmetric standard normal.
    #[arg(long, value_name = "REL", allow_negative_numbers = true)]
    pub noise: Option<f64>,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Time origin of the model grid (default: analyzer_parameters.time_origin, else window).
    #[arg(long, value_enum)]
    pub time_origin: Option<OriginArg>,
    /// Worker threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// No messages on success.
    #[arg(long)]
    pub quiet: bool,
}

/// Output format chosen from the extension.
enum Format {
    Npz,
    Npy,
    Hdf5,
}

fn format_of(path: &Path) -> anyhow::Result<Format> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "npz" => Format::Npz,
        "npy" => Format::Npy,
        "h5" | "hdf" | "hdf5" => Format::Hdf5,
        _ => bail!(
            "--out {}: unknown extension (expected .npz, .npy, .h5, .hdf or .hdf5)",
            path.display()
        ),
    })
}

/// One value per angle from `given` (one value or one per angle) or the config default.
fn per_angle(
    name: &str,
    given: Option<Vec<f64>>,
    default: f64,
    n_phi: usize,
) -> anyhow::Result<Vec<f64>> {
    let values = match given {
        None => vec![default; n_phi],
        Some(v) if v.len() == 1 => vec![v[0]; n_phi],
        Some(v) if v.len() == n_phi => v,
        Some(v) => bail!(
            "--{name}: {} values given for {n_phi} angles (give 1 or {n_phi})",
            v.len()
        ),
    };
    let spec = SCALING
        .iter()
        .find(|s| s.name == name)
        .context("scaling parameter")?;
    if let Some(bad) = values.iter().find(|v| !(spec.min..=spec.max).contains(*v)) {
        bail!(
            "--{name}: value {bad} is outside its bounds [{}, {}]",
            spec.min,
            spec.max
        );
    }
    Ok(values)
}

/// Runs the command.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let format = format_of(&args.out)?;
    let config = crate::config::load(&args.config)?;
    if !args.quiet {
        for w in &config.warnings {
            eprintln!("warning: {}: {w}", config.path.display());
        }
    }
    let mut analyzer = config.analyzer.clone();
    if let Some(origin) = args.time_origin {
        analyzer.time_origin = match origin {
            OriginArg::Window => TimeOrigin::Window,
            OriginArg::Absolute => TimeOrigin::Absolute,
        };
    }
    let phi = match args.phi.clone().or_else(|| analyzer.phi_angles.clone()) {
        Some(p) if !p.is_empty() => p,
        _ => bail!(
            "{}: no angles: give --phi or analyzer_parameters.scattering.phi_angles",
            config.path.display()
        ),
    };
    let n_phi = phi.len();
    let scaling = Scaling {
        contrast: per_angle(
            "contrast",
            args.contrast,
            config.parameters.contrast.value,
            n_phi,
        )?,
        offset: per_angle("offset", args.offset, config.parameters.offset.value, n_phi)?,
    };
    if let Some(rel) = args.noise
        && !(rel.is_finite() && rel >= 0.0)
    {
        bail!("--noise: expected a relative level ≥ 0, got {rel}");
    }
    let grid = analyzer.grid()?;
    let model = HeterodyneModel::new(grid, analyzer.wavevector_q, phi.clone())?;
    let params = config.parameters.values();
    let placement = crate::hw::pool::Placement {
        threads: args.threads,
        ..Default::default()
    };
    let (pool, par, warning) = placement.pool()?;
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    let mut c2 = pool.install(|| model.c2(&params, &scaling, par))?;
    if let Some(rel) = args.noise {
        crate::noise::add_symmetric_noise(&mut c2, grid.n, rel, args.seed);
    }
    let stack = C2Stack {
        c2,
        n: grid.n,
        t: grid.times(),
        phi,
        q: analyzer.wavevector_q,
        dt: Some(analyzer.dt),
    };
    match (format, args.layout) {
        (Format::Npz, _) => io::write_npz(&args.out, &stack)?,
        (Format::Npy, _) => io::write_npy(&args.out, &stack)?,
        (Format::Hdf5, Layout::Flat) => io::hdf5::write_flat(&args.out, &stack)?,
        (Format::Hdf5, Layout::ApsU) => io::hdf5::write_aps_u(&args.out, &stack)?,
    }
    if !args.quiet {
        eprintln!(
            "wrote {} ({} angle(s) × {}×{} frames, q = {} 1/Å)",
            args.out.display(),
            n_phi,
            grid.n,
            grid.n,
            stack.q
        );
    }
    Ok(())
}

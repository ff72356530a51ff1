//! `heterodyne plot`: heatmaps of the data a config selects (after trimming and the
//! diagonal correction), no fit — the reference's `hexp`.

use std::path::PathBuf;

use clap::Args;

use super::fit::load;
use crate::io::{Staging, plots};

/// Arguments of `heterodyne plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// YAML config.
    #[arg(long)]
    pub config: PathBuf,
    /// Data file (default: experimental_data.file_path).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output directory (default: output.output_dir, else ./output).
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// Angles, degrees (default: config, else all).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub phi: Option<Vec<f64>>,
    /// No messages.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs the command.
pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    let (config, _, _, data) = load(
        &args.config,
        args.data.as_deref(),
        args.phi.as_deref(),
        args.quiet,
    )?;
    let out = args
        .output_dir
        .or_else(|| config.fit.output_dir.clone())
        .unwrap_or_else(|| PathBuf::from("output"));
    let mut grid = config.analyzer.grid()?;
    grid.n = data.n;
    let t = grid.times();
    let nn = data.n * data.n;
    let staging = Staging::new(&out)?;
    for (a, phi) in data.phi.iter().enumerate() {
        let path = staging.path(&format!("data_phi_{phi:+07.2}.png"));
        plots::plot_data_heatmap(&path, *phi, data.n, &t, &data.c2[a * nn..(a + 1) * nn])
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    staging.commit()?;
    if !args.quiet {
        eprintln!("wrote {} plot(s) to {}", data.phi.len(), out.display());
    }
    Ok(())
}

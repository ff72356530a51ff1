//! `heterodyne plot`: heatmaps of the data a config selects (after trimming and the
//! diagonal correction), no fit — the reference's `hexp`.

use clap::Args;

use super::fit::{DataArgs, open};
use crate::io::{Staging, plots};

/// Arguments of `heterodyne plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Config, data, output, angles.
    #[command(flatten)]
    pub input: DataArgs,
    /// No messages.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs the command.
pub fn run(args: PlotArgs) -> anyhow::Result<()> {
    let input = &args.input;
    let (config, data_path) = open(input, args.quiet)?;
    let (_, data) = crate::job::load(&config, &data_path, input.phi.as_deref())?;
    if !args.quiet {
        for note in &data.notes {
            eprintln!("note: {}: {note}", data_path.display());
        }
    }
    let out = input.output_dir(&config);
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

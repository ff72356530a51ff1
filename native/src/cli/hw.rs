//! `heterodyne hw`: the machine and the thread settings that suit it.

use clap::Args;

/// Arguments of `heterodyne hw`.
#[derive(Debug, Args)]
pub struct HwArgs {
    /// Print `export VAR=value` lines for `eval "$(heterodyne hw --export)"`.
    #[arg(long, conflicts_with = "json")]
    pub export: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command.
pub fn run(args: HwArgs) -> anyhow::Result<()> {
    let machine = crate::hw::detect()?;
    if args.export {
        print!("{}", machine.export_lines());
    } else if args.json {
        println!("{}", serde_json::to_string_pretty(&machine)?);
    } else {
        print!("{}", machine.report());
    }
    Ok(())
}

//! `heterodyne config`: write a commented template, or validate a config with the same
//! reader the fit uses.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use crate::io::write_atomically;

/// Arguments of `heterodyne config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Write a commented template here.
    #[arg(long, conflicts_with = "validate")]
    pub output: Option<PathBuf>,
    /// Check this config (exit 0 if usable, 2 with the first problem otherwise).
    #[arg(long)]
    pub validate: Option<PathBuf>,
}

/// The template: the reference's grouped schema with our additions documented.
pub const TEMPLATE: &str = include_str!("template.yaml");

/// Runs the command.
pub fn run(args: ConfigArgs) -> anyhow::Result<()> {
    match (args.output, args.validate) {
        (Some(out), None) => {
            write_atomically(&out, |tmp| {
                std::fs::write(tmp, TEMPLATE).map_err(|e| crate::io::IoError::file(&out, e))
            })?;
            eprintln!("wrote {}", out.display());
            Ok(())
        }
        (None, Some(path)) => {
            let config = crate::config::load(&path)?;
            for w in &config.warnings {
                eprintln!("warning: {}: {w}", path.display());
            }
            config.analyzer.grid()?;
            println!("{}: valid", path.display());
            Ok(())
        }
        _ => bail!("give --output FILE (write a template) or --validate FILE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_a_valid_config() {
        let c = crate::config::Config::parse(std::path::Path::new("template.yaml"), TEMPLATE)
            .expect("template parses");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }
}

//! The `heterodyne` binary: parse, run, and turn any error into one line and exit code 2.

use std::process::ExitCode;

use clap::Parser;
use heterodyne::cli::{Cli, NOT_CONVERGED, Outcome, run};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // Usage errors: clap's first line (it names the argument), then a pointer.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("{first} (see --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::NotConverged) => {
            eprintln!("warning: the fit did not converge (results written; see result.json)");
            ExitCode::from(NOT_CONVERGED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

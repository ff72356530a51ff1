//! `heterodyne export-app DIR`: the browser app built into this binary, as plain files —
//! to host it on any static server, or to edit the page and serve it with
//! `heterodyne serve --web-dir DIR`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::server::app;

/// Arguments of `heterodyne export-app`.
#[derive(Debug, Args)]
pub struct ExportAppArgs {
    /// Directory to write `index.html` and `app/<hash>/…` into (created if missing).
    pub dir: PathBuf,
}

/// Writes the app.
pub fn run(args: ExportAppArgs) -> anyhow::Result<()> {
    let n = app::export(&args.dir).with_context(|| format!("{}", args.dir.display()))?;
    println!(
        "wrote the browser app ({n} files, assets app/{}/) to {}",
        app::hash(),
        args.dir.display()
    );
    Ok(())
}

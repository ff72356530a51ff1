//! The YAML config. The schema and its reader live in `heterodyne_core::config`, shared
//! with the browser app; this module adds reading the file.

use std::path::Path;

pub use heterodyne_core::config::*;

/// Reads and checks the YAML config at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path, "", format!("cannot read: {e}")))?;
    Config::parse(path, &text)
}

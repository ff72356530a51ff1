//! The error of config reading: which file, which key, what was expected.

use std::path::PathBuf;

use thiserror::Error;

/// A config that cannot be used, naming the key (dotted path) and the problem.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{}: {}{reason}", path.display(), if key.is_empty() { String::new() } else { format!("{key}: ") })]
pub struct ConfigError {
    /// The config file.
    pub path: PathBuf,
    /// Dotted key path, e.g. `parameters.reference.D0_ref.value` (empty: the whole file).
    pub key: String,
    /// What was expected and what was found.
    pub reason: String,
}

impl ConfigError {
    /// An error for `key` in `path`.
    pub fn new(
        path: impl Into<PathBuf>,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

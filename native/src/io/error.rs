//! The error of reading and writing data files: which file, which dataset, what happened.

use std::path::PathBuf;

use thiserror::Error;

/// A data file that cannot be read or written.
#[derive(Debug, Error)]
#[error("{}{}: {kind}", path.display(), dataset.as_ref().map(|d| format!(" [{d}]")).unwrap_or_default())]
pub struct IoError {
    /// The file.
    pub path: PathBuf,
    /// The dataset or array inside it, if the problem is about one.
    pub dataset: Option<String>,
    /// What went wrong.
    pub kind: String,
}

impl IoError {
    /// An error about the whole file.
    pub fn file(path: impl Into<PathBuf>, kind: impl std::fmt::Display) -> Self {
        Self {
            path: path.into(),
            dataset: None,
            kind: kind.to_string(),
        }
    }

    /// A core data error (`DataError`: the dataset, if any, and the reason) of file `path`.
    pub fn of_data(path: impl Into<PathBuf>, e: heterodyne_core::data::prepare::DataError) -> Self {
        Self {
            path: path.into(),
            dataset: e.dataset,
            kind: e.reason,
        }
    }

    /// An error about one dataset.
    pub fn dataset(
        path: impl Into<PathBuf>,
        dataset: impl Into<String>,
        kind: impl std::fmt::Display,
    ) -> Self {
        Self {
            path: path.into(),
            dataset: Some(dataset.into()),
            kind: kind.to_string(),
        }
    }
}

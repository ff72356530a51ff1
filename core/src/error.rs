//! The one error type of the core crate.

use thiserror::Error;

/// Everything the core can refuse. Non-convergence is *not* an error (it is reported by
/// the fit result); these are inputs that cannot be evaluated at all.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A named parameter or setting has a value the model cannot use.
    #[error("{name}: {reason}")]
    InvalidValue {
        /// The parameter or setting, spelled as in the config (`dt`, `wavevector_q`, `D0_ref`).
        name: String,
        /// What was expected, with the value found.
        reason: String,
    },
    /// A parameter name that the model does not know.
    #[error("unknown parameter '{name}' (known: {known})")]
    UnknownParameter {
        /// The name as given.
        name: String,
        /// Comma-separated list of accepted names.
        known: String,
    },
    /// A buffer or array has the wrong length or shape.
    #[error("{what}: expected {expected} elements, got {actual}")]
    Shape {
        /// Which buffer.
        what: String,
        /// Expected number of elements.
        expected: usize,
        /// Number of elements given.
        actual: usize,
    },
    /// The caller's observer asked to stop.
    #[error("cancelled")]
    Cancelled,
    /// Work handed to an outside executor (another process, a cluster scheduler) failed;
    /// the message names the piece of work and the executor's reason.
    #[error("{0}")]
    Executor(String),
}

/// Result alias of the core crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::InvalidValue`].
    pub fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidValue {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

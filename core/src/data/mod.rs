//! Preparing measured c2 for a fit: the stack of matrices a reader returns
//! ([`stack`]), frame/q/φ selection and the mandatory diagonal correction ([`prepare`]),
//! quantile estimates of contrast and offset, and angle bookkeeping (wrap-aware). Pure
//! functions; reading files is the callers' job (the native crate, the browser app).

pub mod angles;
pub mod diagonal;
pub mod hdf5;
#[cfg(feature = "pure-hdf5")]
pub mod hdf5_bytes;
pub mod npz;
pub mod prepare;
pub mod quantile;
pub mod select;
pub mod stack;

//! Preparing measured c2 for a fit: the mandatory diagonal correction, quantile
//! estimates of contrast and offset, and angle bookkeeping (wrap-aware). Pure functions;
//! reading files is the native crate's job.

pub mod angles;
pub mod diagonal;
pub mod quantile;
pub mod select;

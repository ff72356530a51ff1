//! # heterodyne-core
//!
//! The heterodyne XPCS model of He et al. (PNAS 2024, 2025) as released in the Python
//! package `heterodyne` 2.0.1: the 14 physics parameters, the model time grid, the
//! two-time correlation `c2(φ, t1, t2)` and its exact derivatives.
//!
//! The crate is pure: no file or network I/O, no clock, no threads of its own. Long work
//! receives an [`exec::Par`] from the caller and runs rayon calls on whatever pool the
//! caller entered, so native code can pin its pool and the browser can hand in its
//! wasm-bindgen-rayon pool.
//!
//! ```
//! use heterodyne_core::model::{HeterodyneModel, PhysicsParams, Scaling, TimeGrid};
//! use heterodyne_core::exec::Par;
//!
//! let grid = TimeGrid::window(0.001, 50).unwrap();
//! let model = HeterodyneModel::new(grid, 0.0054, vec![0.0, 45.0, 90.0]).unwrap();
//! let params = PhysicsParams::default();
//! let scaling = Scaling::uniform(3, 0.5, 1.0);
//! let c2 = model.c2(&params, &scaling, Par::Seq).unwrap();
//! assert_eq!(c2.len(), 3 * 50 * 50);
//! ```
#![warn(missing_docs)]

pub mod config;
pub mod data;
pub mod error;
pub mod exec;
pub mod mcmc;
pub mod model;
pub mod nlsq;

pub use error::{Error, Result};

//! NLSQ on synthetic data made by the model itself (the fixture-file tests run through
//! the CLI in the workspace `tests/`).

mod recovery;
#[allow(dead_code)] // Helpers shared with the MCMC tests.
mod synthetic;

//! NLSQ on synthetic data made by the model itself (the fixture-file tests run through
//! the CLI in the workspace `tests/`).

mod recovery;
mod synthetic;

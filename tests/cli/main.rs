//! End-to-end tests of the `heterodyne` binary: real processes, real files in temporary
//! directories, fixtures from `tests/data` (copied from the shared reference fixtures).

mod calibration;
mod cmc;
mod common;
mod fit;
mod fit_errors;
mod hw;
mod node;
mod scale;
mod simulate;
mod slurm;

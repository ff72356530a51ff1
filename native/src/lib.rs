//! The `heterodyne` command line: simulation, fitting and the data files around them.
//! The numerics live in `heterodyne-core`; this crate does the I/O, the threads and the
//! user-facing edges.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod hw;
pub mod io;
pub mod job;
pub mod noise;
pub mod server;

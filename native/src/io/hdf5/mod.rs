//! HDF5 files: the layouts of spec data-format.md §3.

mod write;

pub use write::{write_aps_u, write_flat};

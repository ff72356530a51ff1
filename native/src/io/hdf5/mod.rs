//! HDF5 files: the layouts of spec data-format.md §3.

mod read;
mod write;

pub use read::{read_hdf5, read_hdf5_selected};
pub use write::{write_aps_u, write_flat};

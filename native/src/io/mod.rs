//! Data files: HDF5 layouts, NumPy arrays, atomic writes.

mod atomic;
mod error;
pub mod hdf5;
mod npy;
mod stack;

pub use atomic::write_atomically;
pub use error::IoError;
pub use npy::{write_npy, write_npz};
pub use stack::C2Stack;

//! NPZ and NPY parsing (`heterodyne_core::data::npz`, shared by the CLI, the node and the
//! page): arbitrary bytes give a stack or an error, never a panic, a hang or an
//! allocation the input does not pay for.
#![no_main]

use std::io::Cursor;

use heterodyne_core::data::npz::{Npz, read_npy_stack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut z) = Npz::new(Cursor::new(data)) {
        let _ = z.stack();
        let _ = z.array("weights");
    }
    let _ = read_npy_stack(Cursor::new(data));
});

//! The HDF5 layout reader over hdf5-pure (what the page runs on a dropped file): layout
//! detection, half-matrix rebuild and the selection of a prepared window.
#![no_main]

use heterodyne_core::config::Config;
use heterodyne_core::data::hdf5_bytes::read_stack_from_bytes;
use heterodyne_core::data::prepare::prepare;
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = "analyzer_parameters:\n  dt: 0.1\n  start_frame: 1\n  end_frame: 4\n  scattering:\n    wavevector_q: 0.0054\n";

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = read_stack_from_bytes(data.to_vec()) {
        if let Ok(config) = Config::parse(std::path::Path::new("fuzz.yaml"), CONFIG) {
            let _ = prepare(&raw, &config.analyzer, &config.fit, None);
        }
    }
});

//! The YAML config reader and its validator (the reference's schema with every check
//! the CLI and the node apply before a job starts).
#![no_main]

use heterodyne_core::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(std::path::Path::new("fuzz.yaml"), text) {
        // A config that parses must also say what it would run, without panicking.
        let _ = config.cmc.check();
    }
});

//! `.mo` catalogs: any bytes give entries or an error naming the file, never a panic.
#![no_main]

use std::path::Path;

use glossa::data::mo;
use glossa_fuzz::{check_error, seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::mo), |data: &[u8]| {
    match mo::parse(data, Path::new("fuzz.mo")) {
        // Each entry has a table slot of 8 bytes in the file.
        Ok(entries) => assert!(entries.len() <= data.len() / 8),
        Err(e) => check_error(&e, "fuzz.mo", data),
    }
});

//! A fortune database: any UTF-8 text splits into one-line entries without panicking, and each
//! entry is made of the input's own words.
#![no_main]

use glossa::data::fortune::parse_database;
use glossa_fuzz::{seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::fortune_db), |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for entry in parse_database(text) {
        assert!(!entry.is_empty() && !entry.contains('\n') && !entry.contains("  "));
        assert!(entry.split(' ').all(|word| text.contains(word)), "{entry:?}");
    }
});

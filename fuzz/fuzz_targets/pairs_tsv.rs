//! `en<TAB>xx` pair files: pairs or an error naming the file and line; what is read writes back
//! to the same pairs.
#![no_main]

use std::path::Path;

use glossa::data::parse_pairs;
use glossa_fuzz::{check_error, seeds, write_seeds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: write_seeds(seeds::pairs_tsv), |data: &[u8]| {
    let path = Path::new("fuzz.tsv");
    match parse_pairs(data, path) {
        Ok(pairs) => {
            assert!(!pairs.is_empty());
            let mut written = Vec::new();
            for p in &pairs {
                assert!(!p.en.is_empty() && !p.xx.is_empty());
                assert!(!(p.en.clone() + &p.xx).contains(['\t', '\n']));
                written.extend_from_slice(format!("{}\t{}\n", p.en, p.xx).as_bytes());
            }
            assert_eq!(parse_pairs(&written, path).unwrap(), pairs);
        }
        Err(e) => check_error(&e, "fuzz.tsv", data),
    }
});
